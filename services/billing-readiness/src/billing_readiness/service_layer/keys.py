"""Dependency keys: what a waiting message is released by."""

from __future__ import annotations

from tandem_messaging import DependencyMissing

__all__ = ["contract_key", "project_key", "waiting_for_contract", "waiting_for_project"]


def project_key(project_id: str) -> str:
    """Released when the project is activated: its charges can then be priced by its terms."""
    return f"project-active:{project_id}"


def contract_key(contract_id: str) -> str:
    """Released when the contract is kept: a project naming it is priced by its terms (a cap,
    a fee, a PO), never without them."""
    return f"contract-known:{contract_id}"


def waiting_for_contract(project_id: str, contract_id: str) -> DependencyMissing:
    """The error a charge raises while its project's contract is not known yet."""
    return DependencyMissing(
        contract_key(contract_id),
        f"project {project_id} names contract {contract_id}, not known to billing-readiness yet",
    )


def waiting_for_project(project_id: str) -> DependencyMissing:
    """The error a message raises to wait for its project's activation."""
    return DependencyMissing(
        project_key(project_id), f"project {project_id} is not active in billing-readiness yet"
    )
