"""The same handler tests, in memory and against the real RabbitMQ + PostgreSQL runtime."""

from __future__ import annotations

from typing import Any

import pytest

from tandem_contracts import Envelope
from tandem_contracts.events import OpportunityLost, ProjectClosedForTime
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


async def parks_a_business_rule_violation(broker: Any, lost_event: Any) -> None:
    duplicate = lost_event("opp-2").payload.model_copy(update={"stage": "Closed Duplicate"})
    envelope = lost_event("opp-2").model_copy(update={"payload": duplicate})
    assert await broker.deliver(envelope) is Outcome.PARKED
    assert broker.published_of(ProjectClosedForTime) == []


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
