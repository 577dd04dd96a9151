"""Business exceptions: recorded and announced in the transaction that parks the message."""

from __future__ import annotations

from typing import Any

from tandem_contracts import Envelope
from tandem_contracts.events import (
    ExpenseApproved,
    TimeAdjusted,
    TimeApproved,
    TimePostingFailed,
    TimeRejected,
)
from tandem_messaging import DependencyMissing, HandlerContext, Router
from time_expense.domain import EntryLedger, Stage
from time_expense.service_layer.failures import posting_reason
from time_expense.service_layer.policies import Clock
from time_expense.service_layer.posting import event_version
from time_expense.service_layer.unit_of_work import AbstractUnitOfWork, BusinessException

__all__ = ["handlers"]

handlers = Router()
_FAILED = 2


@handlers.when_parked
async def record_parked(
    envelope: Envelope[Any],
    error: BaseException,
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    clock: Clock,
) -> None:
    """Open the subject's business exception; announce a time entry's as ``TimePostingFailed``."""
    about = _subject(envelope.payload)
    if about is None:
        return  # reference data parked: the parking lot and its alerts are enough
    subject_type, subject_id, project_id, worker_id, legal_entity_id = about
    reason = posting_reason(error)
    waiting_for = error.key if isinstance(error, DependencyMissing) else None
    project = await uow.reference.project(project_id)
    await uow.ledgers.open_exception(
        BusinessException(
            subject_type=subject_type,
            subject_id=subject_id,
            event_id=str(envelope.event_id),
            reason=reason.value,
            detail=str(error),
            retryable=waiting_for is not None,
            waiting_for=waiting_for,
            project_id=project_id,
            worker_id=worker_id,
            legal_entity_id=legal_entity_id,
            region=envelope.data_residency_region,
            org_unit_ids=project.org_unit_ids if project else (),
        )
    )
    await _keep_held_entry(envelope, uow)
    if subject_type == "time_entry":
        failed = TimePostingFailed(
            time_entry_id=subject_id, project_id=project_id, worker_id=worker_id,
            reason=reason, message=str(error)[:2000], retryable=waiting_for is not None,
            failed_at=clock(),
        )  # fmt: skip
        await ctx.publish(failed, subject_version=event_version(envelope.subject_version, _FAILED))


async def _keep_held_entry(envelope: Envelope[Any], uow: AbstractUnitOfWork) -> None:
    """Keep a held entry never seen before as approved but undecided (version 0), so that its
    status shows and a later rejection finds it; its release still decides it."""
    payload = envelope.payload
    entry = payload.entry if isinstance(payload, TimeApproved) else None
    if isinstance(payload, TimeAdjusted):
        entry = payload.replacement
    if entry is not None and await uow.ledgers.entry(entry.id) is None:
        held = EntryLedger(entry.id, 0, Stage.APPROVED, entry)
        uow.ledgers.keep(held, entry, envelope.data_residency_region)


def _subject(payload: Any) -> tuple[str, str, str, str, str] | None:
    """(type, id, project, worker, legal entity) of what a parked message was about."""
    if isinstance(payload, TimeApproved):
        e = payload.entry
        return "time_entry", e.id, e.project_id, e.worker_id, e.project_legal_entity_id
    if isinstance(payload, TimeAdjusted) and payload.replacement is not None:
        e = payload.replacement
        return "time_entry", e.id, e.project_id, e.worker_id, e.project_legal_entity_id
    if isinstance(payload, TimeRejected):
        return "time_entry", payload.time_entry_id, payload.project_id, payload.worker_id, ""
    if isinstance(payload, ExpenseApproved):
        x = payload.expense
        return "expense", x.id, x.project_id, x.worker_id, x.project_legal_entity_id
    return None
