"""time-expense's consumer: every handler, ordered per worker."""

from __future__ import annotations

from typing import Any

from tandem_contracts import Envelope
from tandem_contracts.events import (
    ExpenseApproved,
    ExpenseRejected,
    TimeAdjusted,
    TimeApproved,
    TimeRejected,
    TimeSubmitted,
)
from tandem_messaging import Router
from time_expense.service_layer import exceptions, expenses, posting, reference

__all__ = ["QUEUE", "SERVICE", "router", "worker_of"]

SERVICE = "time-expense"
QUEUE = "time-expense.postings"


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
    if isinstance(payload, TimeRejected | ExpenseRejected):
        return payload.worker_id
    if isinstance(payload, TimeAdjusted) and payload.replacement is not None:
        return payload.replacement.worker_id
    if isinstance(payload, ExpenseApproved):
        return payload.expense.worker_id
    return envelope.subject.id


def router() -> Router:
    """The consumer's router, its handlers not yet bound to their dependencies."""
    return Router(service=SERVICE, lane_key=worker_of).include(
        posting.handlers, expenses.handlers, reference.handlers, exceptions.handlers
    )
