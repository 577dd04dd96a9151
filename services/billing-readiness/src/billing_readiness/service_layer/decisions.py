"""The decisions on money only a person takes, each audited with who and why.

A charge held because its cap was reached, because its intercompany pair is not allowed, or
because the customer disputes the project, is released (billed) or written off (never
billed, reported as leakage) by a person with the ``billing:release`` scope. Standing holds
(credit hold, missing PO, refused time, invalid tax profile) are not released by hand: they
lift when their cause does, so an invoice never goes out past them.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from billing_readiness.domain import release
from billing_readiness.service_layer.dependencies import Dependencies
from billing_readiness.service_layer.standing import (
    announce_holds,
    in_transaction,
    restate,
)
from billing_readiness.service_layer.unit_of_work import (
    AbstractUnitOfWork,
    ChargeRecord,
    KnownProject,
)
from tandem_contracts.events import HoldReason

__all__ = ["PERSON_HOLDS", "Released", "decide_overage", "dispute", "release_charge"]

PERSON_HOLDS = frozenset({HoldReason.CAP_REACHED, HoldReason.INTERCOMPANY_NOT_ALLOWED})
"""Holds only a person lifts (a dispute is the project's: lifted with ``dispute``)."""
Decision = Literal["approve", "write_off"]


class Released(NamedTuple):
    """What a decision did to a charge."""

    charge_id: str
    released: list[HoldReason]
    written_off: bool
    holds_left: list[HoldReason]


async def release_charge(
    uow: AbstractUnitOfWork,
    deps: Dependencies,
    charge_id: str,
    decision: Decision,
    actor: str,
    reason: str,
    *,
    service: str,
) -> Released | str | None:
    """Release or write off one open charge's person holds; None: no such charge; a string:
    why it cannot be (invoiced already, or only standing holds, which lift with their
    cause)."""
    record = await uow.charges.get(charge_id)
    if record is None:
        return None
    if record.status != "open":
        return f"charge {charge_id} is invoiced already"
    known = await uow.projects.get(record.line.project_id)
    if known is None:
        return f"project {record.line.project_id} is not active"
    if decision == "approve" and not record.line.holds & PERSON_HOLDS:
        held = ", ".join(sorted(record.line.holds)) or "nothing"
        return f"charge {charge_id} holds {held}: none is a person's to release"
    return await _decide(uow, deps, known, record, decision, actor, reason, service)


async def decide_overage(
    uow: AbstractUnitOfWork,
    deps: Dependencies,
    project_id: str,
    decision: Decision,
    actor: str,
    reason: str,
    *,
    service: str,
) -> list[Released] | None:
    """Release or write off every open charge of the project held ``cap_reached``."""
    known = await uow.projects.get(project_id)
    if known is None:
        return None
    done = []
    for record in await uow.charges.open_of_project(project_id):
        if HoldReason.CAP_REACHED in record.line.holds:
            outcome = await _decide(uow, deps, known, record, decision, actor, reason, service)
            done.append(outcome)
    return done


async def dispute(
    uow: AbstractUnitOfWork,
    deps: Dependencies,
    project_id: str,
    disputed: bool,
    actor: str,
    reason: str,
    *,
    service: str,
) -> bool:
    """Put the project in dispute, or lift it; its open charges' holds restated."""
    known = await uow.projects.get(project_id)
    if known is None:
        return False
    await uow.projects.set_disputed(project_id, disputed)
    action = "dispute" if disputed else "lift_dispute"
    await uow.audit.record(actor, action, f"project:{project_id}", reason, {})
    announce = in_transaction(uow, deps.settings, known, service)
    await restate(uow, announce, project_id, deps)
    return True


async def _decide(
    uow: AbstractUnitOfWork,
    deps: Dependencies,
    known: KnownProject,
    record: ChargeRecord,
    decision: Decision,
    actor: str,
    reason: str,
    service: str,
) -> Released:
    line = record.line
    lifted = line.holds & PERSON_HOLDS
    if decision == "write_off":
        holds: frozenset[HoldReason] = frozenset()
        await uow.charges.write_off(line.id, f"written off by {actor}")
    else:
        holds = release(line.holds, frozenset(), kinds=PERSON_HOLDS)
        await uow.charges.set_holds(line.id, holds)
    await uow.audit.record(
        actor, f"charge_{decision}", f"charge:{line.id}", reason,
        {"released": sorted(lifted), "amount": str(line.amount.amount),
         "currency": line.amount.currency},
    )  # fmt: skip
    announce = in_transaction(uow, deps.settings, known, service)
    if lifted or decision == "write_off":
        await announce_holds(announce, record, holds, deps.clock(), released_by=actor,
                             written_off=decision == "write_off")  # fmt: skip
    return Released(
        charge_id=line.id, released=sorted(lifted), written_off=decision == "write_off",
        holds_left=sorted(holds),
    )  # fmt: skip
