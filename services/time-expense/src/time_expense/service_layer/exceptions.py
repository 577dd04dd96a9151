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
from tandem_messaging import DependencyMissing, HandlerContext
from time_expense.adapters.ledger import BusinessException, Ledgers
from time_expense.adapters.reference import ReferenceData
from time_expense.service_layer.context import Services
from time_expense.service_layer.failures import posting_reason
from time_expense.service_layer.posting import event_version

__all__ = ["record_parked"]

_FAILED = 2


async def record_parked(
    envelope: Envelope[Any], error: BaseException, ctx: HandlerContext[Any], services: Services
) -> None:
    """Open the subject's business exception; announce a time entry's as ``TimePostingFailed``."""
    about = _subject(envelope.payload)
    if about is None:
        return  # reference data parked: the parking lot and its alerts are enough
    subject_type, subject_id, project_id, worker_id, legal_entity_id = about
    reason = posting_reason(error)
    waiting_for = error.key if isinstance(error, DependencyMissing) else None
    project = await ReferenceData(ctx.connection).project(project_id)
    await Ledgers(ctx.connection).open_exception(
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
    if subject_type == "time_entry":
        failed = TimePostingFailed(
            time_entry_id=subject_id,
            project_id=project_id,
            worker_id=worker_id,
            reason=reason,
            message=str(error)[:2000],
            retryable=waiting_for is not None,
            failed_at=services.clock(),
        )
        version = event_version(envelope.subject_version, _FAILED)
        await ctx.publish(failed, subject_version=version)


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
