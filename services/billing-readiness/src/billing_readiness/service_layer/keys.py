"""Dependency keys: what a waiting message is released by."""

from __future__ import annotations

from tandem_messaging import DependencyMissing

__all__ = ["project_key", "waiting_for_project"]


def project_key(project_id: str) -> str:
    """Released when the project is activated: its charges can then be priced by its terms."""
    return f"project-active:{project_id}"


def waiting_for_project(project_id: str) -> DependencyMissing:
    """The error a message raises to wait for its project's activation."""
    return DependencyMissing(
        project_key(project_id), f"project {project_id} is not active in billing-readiness yet"
    )
