"""The consumer's router: which event each use case handles, ordered per worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tandem_contracts import Envelope, Event
from tandem_contracts.events import (
    AssignmentCancelled,
    AssignmentConfirmed,
    ConsultantOnboarded,
    CostRateChanged,
    ExpenseApproved,
    PeriodClosed,
    ProjectActivated,
    ProjectClosedForTime,
    RateCardPublished,
    TimeAdjusted,
    TimeApproved,
    TimeRejected,
    TimeSubmitted,
)
from tandem_messaging import HandlerContext, Router
from time_expense.service_layer import expenses, posting, reference
from time_expense.service_layer.context import Services
from time_expense.service_layer.exceptions import record_parked

__all__ = ["QUEUE", "SERVICE", "build_router", "worker_of"]

SERVICE = "time-expense"
QUEUE = "time-expense.postings"

UseCase = Callable[[Envelope[Any], HandlerContext[Any], Services], Awaitable[None]]
_USE_CASES: tuple[tuple[type[Event], UseCase], ...] = (
    (TimeApproved, posting.on_time_approved),
    (TimeRejected, posting.on_time_rejected),
    (TimeAdjusted, posting.on_time_adjusted),
    (ExpenseApproved, expenses.on_expense_approved),
    (ProjectActivated, reference.on_project_activated),
    (ProjectClosedForTime, reference.on_project_closed_for_time),
    (AssignmentConfirmed, reference.on_assignment_confirmed),
    (AssignmentCancelled, reference.on_assignment_cancelled),
    (RateCardPublished, reference.on_rate_card_published),
    (CostRateChanged, reference.on_cost_rate_changed),
    (ConsultantOnboarded, reference.on_consultant_onboarded),
    (PeriodClosed, reference.on_period_closed),
)


_POSTINGS = (TimeApproved, TimeRejected, TimeAdjusted, ExpenseApproved)


def worker_of(envelope: Envelope[Any]) -> str:
    """Order a worker's time and expenses in arrival order (other events by their subject).

    ``TimeSubmitted`` is published, not handled here (it is not bound to ``QUEUE``), but it
    leaves the outbox in its worker's partition, so a submission precedes its decisions.
    """
    payload = envelope.payload
    if isinstance(payload, TimeSubmitted):
        return payload.timesheet.worker_id
    if isinstance(payload, TimeApproved):
        return payload.entry.worker_id
    if isinstance(payload, TimeRejected):
        return payload.worker_id
    if isinstance(payload, TimeAdjusted) and payload.replacement is not None:
        return payload.replacement.worker_id
    if isinstance(payload, ExpenseApproved):
        return payload.expense.worker_id
    return envelope.subject.id


def build_router(services: Services) -> Router:
    """The router of time-expense's consumer, its use cases bound to ``services``."""
    router = Router(service=SERVICE, lane_key=worker_of)
    for model, use_case in _USE_CASES:
        router.handles(model)(_bound(use_case, services, writes_reference=model not in _POSTINGS))

    async def parked(
        envelope: Envelope[Any], error: BaseException, ctx: HandlerContext[Any]
    ) -> None:
        await record_parked(envelope, error, ctx, services)

    router.when_parked(parked)
    return router


def _bound(
    use_case: UseCase, services: Services, *, writes_reference: bool
) -> Callable[..., Awaitable[None]]:
    async def handle(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        await use_case(envelope, ctx, services)
        if writes_reference:  # what later entries of this transaction read has changed
            ctx.scope.memo.clear()

    handle.__name__ = use_case.__name__
    return handle
