"""The consumer: every event on the bus becomes one timeline step, in the lane's transaction.

Observability binds its own queue to every event type of the catalogue. A step is written
with the inbox row of its event, so a redelivery, a replay or a killed worker never records it
twice; a lane's batch is written with two statements (``adapters.steps``). Older subject
versions are recorded too (``accept_stale``): a timeline shows what happened, in the order it
happened, not only what won.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

from observability.domain.facts import facts_of
from observability.domain.steps import step_of
from observability.service_layer.unit_of_work import AbstractUnitOfWork
from tandem_contracts import Envelope, Event, events
from tandem_messaging import HandlerContext, Router

__all__ = ["EVERY_EVENT", "QUEUE", "lane_of", "record", "router"]

QUEUE = "observability.timelines"

EVERY_EVENT: tuple[type[Event], ...] = tuple(
    model
    for name in events.__all__
    if isinstance(model := getattr(events, name), type)
    and issubclass(model, Event)
    and isinstance(getattr(model, "event_type", None), str)
)
"""Every event type of the catalogue: observability's queue is bound to all of them."""


def lane_of(envelope: Envelope[Any]) -> str:
    """One flow's steps are recorded in arrival order: the lane is the correlation id."""
    return str(envelope.correlation_id)


def current_trace_id() -> str | None:
    """The trace the consumer's span continues (the producer's), as 32 hex digits."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


handlers = Router()


@handlers.handles(*EVERY_EVENT)
async def record(
    envelope: Envelope[Any], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Keep ``envelope`` as a step of its timeline (written with the batch, before commit)."""
    uow.steps.add(step_of(envelope, current_trace_id(), facts_of(envelope)))


def router() -> Router:
    """The consumer's router: one handler for every event."""
    return Router(service="observability", accept_stale=True, lane_key=lane_of).include(handlers)
