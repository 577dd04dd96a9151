"""Pure logic of the runtime: retry levels, breakers, routing, and the in-memory broker."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tandem_contracts import Envelope
from tandem_contracts.events import OpportunityLost, ProjectActivated, TimeApproved
from tandem_messaging import (
    ConsumerTopology,
    DependencyMissing,
    DownstreamUnavailable,
    HandlerContext,
    ReplaySelection,
    Router,
    TransientError,
    binding_for,
)
from tandem_messaging._flow import Breakers
from tandem_messaging.testing import InMemoryBroker, Outcome

TOPOLOGY = ConsumerTopology(queue="q", bindings=(), retry_delays=(1.0, 5.0, 30.0, 120.0))


@pytest.mark.parametrize(
    ("attempt", "retry_after", "level"),
    [(1, None, 0), (2, None, 1), (4, None, 3), (9, None, 3), (1, 4.0, 1), (1, 60.0, 3)],
)
def test_retry_levels_grow_with_attempts_and_honour_retry_after(
    attempt: int, retry_after: float | None, level: int
) -> None:
    assert TOPOLOGY.level_for(attempt, retry_after) == level


def test_bindings_cover_every_version_and_can_pin_a_region() -> None:
    assert binding_for(TimeApproved) == "time.TimeApproved.*.*.*"
    assert binding_for(TimeApproved, region="eu") == "time.TimeApproved.*.eu.*"
    router = Router(service="s")
    router.handles(TimeApproved, OpportunityLost)(_noop)
    assert router.bindings(("eu", "uk")) == [
        "time.TimeApproved.*.eu.*",
        "time.TimeApproved.*.uk.*",
        "crm.OpportunityLost.*.eu.*",
        "crm.OpportunityLost.*.uk.*",
    ]


def test_one_handler_per_event_type() -> None:
    router = Router(service="s")
    router.handles(TimeApproved)(_noop)
    with pytest.raises(ValueError, match="already has a handler"):
        router.handles(TimeApproved)(_noop)


def test_a_replay_must_say_what_it_replays() -> None:
    with pytest.raises(ValueError, match="everything=True"):
        ReplaySelection()
    assert ReplaySelection(everything=True).everything


async def test_breaker_opens_at_the_threshold_and_closes_on_recovery() -> None:
    events: list[str] = []

    async def opened(name: str) -> None:
        events.append(f"open:{name}")

    async def closed(name: str) -> None:
        events.append(f"close:{name}")

    breakers = Breakers(3, 0.5, 8.0, opened, closed)
    for _ in range(2):
        await breakers.failed("erp")
    assert not breakers.is_open("erp")
    await breakers.failed("erp")
    await breakers.failed("erp")
    assert breakers.is_open("erp")
    assert events == ["open:erp"]
    # Backoff grows with consecutive failures, is capped, and never undercuts Retry-After.
    assert 0.5 * 2**3 * 0.8 <= breakers.backoff("erp", None) <= 8.0 * 1.2
    assert breakers.backoff("erp", 20.0) == 20.0
    await breakers.recovered("erp")
    assert not breakers.is_open("erp")
    assert events == ["open:erp", "close:erp"]
    assert breakers.backoff("erp", None) <= 0.5 * 1.2


async def test_the_breaker_says_why_it_paused_intake(caplog: pytest.LogCaptureFixture) -> None:
    async def ignore(name: str) -> None:
        return None

    breakers = Breakers(2, 0.5, 8.0, ignore, ignore)
    refused = DownstreamUnavailable("erp:tryton-us", "401 Unauthorized: the ERP refused the key")
    with caplog.at_level(logging.WARNING, logger="tandem_messaging"):
        await breakers.failed("erp:tryton-us", refused)
        assert caplog.records == []  # below the threshold: no pause, nothing said
        await breakers.failed("erp:tryton-us", refused)

    [record] = caplog.records
    assert "erp:tryton-us is down" in record.getMessage()
    assert "401 Unauthorized: the ERP refused the key" in record.getMessage()
    assert "DownstreamUnavailable" in record.getMessage()


async def test_in_memory_broker_classifies_failures_like_the_runtime(lost_event) -> None:
    router = Router(service="s")
    mode = {"lost": "transient"}

    @router.handles(OpportunityLost)
    async def handle(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        if mode["lost"] == "transient":
            raise TransientError("timeout")
        if mode["lost"] == "down":
            raise DownstreamUnavailable("erp", "503")
        if mode["lost"] == "bug":
            raise KeyError("oops")

    broker = InMemoryBroker(router)
    assert await broker.deliver(lost_event("a")) is Outcome.RETRY
    mode["lost"] = "down"
    assert await broker.deliver(lost_event("a")) is Outcome.HELD
    mode["lost"] = "bug"
    assert await broker.deliver(lost_event("a")) is Outcome.RETRY
    assert broker.published == []


async def test_in_memory_broker_releases_waiting_messages(lost_event) -> None:
    router = Router(service="s")
    active: set[str] = set()
    handled: list[str] = []

    @router.handles(OpportunityLost)
    async def needs_project(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        key = f"project-active:{envelope.payload.opportunity_id}"
        if key not in active:
            raise DependencyMissing(key, "project not active")
        handled.append(envelope.payload.opportunity_id)

    @router.handles(ProjectActivated)
    async def activate(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        active.add(f"project-active:{envelope.payload.project.id}")
        ctx.satisfy(f"project-active:{envelope.payload.project.id}")

    broker = InMemoryBroker(router)
    assert await broker.deliver(lost_event("p1")) is Outcome.WAITING
    assert handled == []
    assert await broker.deliver(_activation("p1", lost_event("p1"))) is Outcome.HANDLED
    assert handled == ["p1"]
    assert broker.waiting == {}


def _activation(project_id: str, cause: Envelope[Any]) -> Envelope[ProjectActivated]:
    from tandem_contracts.entities import BillingModel, Project, ProjectStatus

    project = Project(
        id=project_id,
        name="Project",
        customer_id="cus-1",
        legal_entity_id="le-de",
        currency="EUR",
        billing_model=BillingModel.TIME_AND_MATERIALS,
        status=ProjectStatus.ACTIVE,
    )
    payload = ProjectActivated(project=project, activated_at=cause.occurred_at)
    return cause.caused(payload, producer=cause.producer, subject_version=1)


async def _noop(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
    return None
