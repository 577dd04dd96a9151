"""The gates a statement of work passes before its project is activated."""

from __future__ import annotations

from dataclasses import dataclass

from project_sync.domain.problems import Problem, ProblemCode
from tandem_contracts.entities import BillingModel, ContractStatus

__all__ = ["Sow", "check_sow"]

_APPROVED = frozenset({ContractStatus.APPROVED, ContractStatus.ACTIVE, ContractStatus.AMENDED})


@dataclass(frozen=True)
class Sow:
    """What the saga needs of an approved contract; ``version`` orders repeated approvals."""

    contract_id: str
    version: int
    status: ContractStatus
    billing_model: BillingModel | None
    po_required: bool = False
    po_number: str | None = None


def check_sow(sow: Sow) -> tuple[Problem, ...]:
    """Every gate ``sow`` fails: contract approved, a PO when it needs one, a billing model."""
    problems = []
    if sow.status not in _APPROVED:
        problems.append(
            Problem(
                ProblemCode.CONTRACT_NOT_APPROVED,
                "contract.status",
                f"contract {sow.contract_id} is {sow.status}",
            )
        )
    if sow.po_required and not (sow.po_number or "").strip():
        problems.append(
            Problem(
                ProblemCode.PO_MISSING,
                "contract.po_number",
                f"contract {sow.contract_id} needs a purchase order number",
            )
        )
    if sow.billing_model is None:
        problems.append(
            Problem(
                ProblemCode.BILLING_MODEL_UNKNOWN,
                "contract.billing_model",
                f"contract {sow.contract_id} has no billing model",
            )
        )
    return tuple(problems)
