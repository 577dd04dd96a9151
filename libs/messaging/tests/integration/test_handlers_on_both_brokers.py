"""The same handler tests, in memory and against the real RabbitMQ + PostgreSQL runtime."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tandem_contracts import Envelope
from tandem_contracts.events import MessageParked, OpportunityLost, ProjectClosedForTime
from tandem_messaging import HandlerContext, PermanentError, Router
from tandem_messaging.testing import InMemoryBroker, Outcome, RabbitBroker


def close_project_router() -> Router:
    """A handler under test: a lost opportunity closes its project shell for time."""
    router = Router(service="project-sync")

    @router.handles(OpportunityLost)
    async def close_shell(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        lost = envelope.payload
        if lost.stage == "Closed Duplicate":
            raise PermanentError("duplicate_opportunity", f"{lost.opportunity_id} is a duplicate")
        closing = ProjectClosedForTime(
            project_id=f"prj-{lost.opportunity_id}",
            closed_from=lost.lost_at.date(),
            reason="opportunity lost",
            closed_at=lost.lost_at,
        )
        await ctx.publish(closing, subject_version=1)

    @router.when_parked
    async def announce(
        envelope: Envelope[Any], exc: BaseException, ctx: HandlerContext[Any]
    ) -> None:
        now = datetime.now(UTC)
        parked = MessageParked(
            consumer=ctx.consumer,
            parked_id=f"p-{envelope.event_id}",
            original_event_id=str(envelope.event_id),
            original_event_type=envelope.event_type,
            routing_key=envelope.routing_key,
            reason=getattr(exc, "reason", "unexpected"),
            detail=str(exc),
            attempts=ctx.attempt,
            first_failure_at=now,
            last_failure_at=now,
        )
        await ctx.publish(parked, subject_version=1)

    return router


async def closes_its_project_once(broker: Any, lost_event: Any) -> None:
    lost = lost_event("opp-1", 2)
    assert await broker.deliver(lost) is Outcome.HANDLED
    [closing] = broker.published_of(ProjectClosedForTime)
    assert closing.payload.project_id == "prj-opp-1"
    assert closing.correlation_id == lost.correlation_id
    assert closing.causation_id == str(lost.event_id)

    # Delivered again (broker redelivery): nothing new happens.
    assert await broker.deliver(lost) is Outcome.DUPLICATE
    # An older version of the same subject arrives late: recognised as stale.
    assert await broker.deliver(lost_event("opp-1", 1)) is Outcome.STALE
    assert len(broker.published_of(ProjectClosedForTime)) == 1
    assert broker.published_of(MessageParked) == []


async def parks_a_business_rule_violation(broker: Any, lost_event: Any) -> None:
    duplicate = lost_event("opp-2").payload.model_copy(update={"stage": "Closed Duplicate"})
    envelope = lost_event("opp-2").model_copy(update={"payload": duplicate})
    assert await broker.deliver(envelope) is Outcome.PARKED
    assert broker.published_of(ProjectClosedForTime) == []
    # The parking itself is announced, from the parking transaction, with its reason.
    [announced] = broker.published_of(MessageParked)
    assert announced.payload.reason == "duplicate_opportunity"
    assert announced.payload.original_event_id == str(envelope.event_id)
    assert announced.causation_id == str(envelope.event_id)


SCENARIOS = [closes_its_project_once, parks_a_business_rule_violation]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
async def test_in_memory(scenario: Any, lost_event: Any) -> None:
    await scenario(InMemoryBroker(close_project_router()), lost_event)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
async def test_on_rabbitmq_and_postgres(
    scenario: Any, pool: Any, amqp: Any, fast_settings: Any, lost_event: Any
) -> None:
    async with RabbitBroker(
        close_project_router(),
        pool=pool,
        connection=amqp,
        queue="t.harness",
        settings=fast_settings,
    ) as broker:
        await scenario(broker, lost_event)
