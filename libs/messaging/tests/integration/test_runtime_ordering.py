"""Per-key ordering under concurrency, topology checks, and dependency release."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

import pytest

from tandem_contracts import Envelope
from tandem_contracts.events import OpportunityLost, ProjectClosedForTime
from tandem_messaging import (
    Consumer,
    DependencyMissing,
    HandlerContext,
    Outbox,
    OutboxRelay,
    Router,
    TopologyMismatchError,
    list_parked,
)

EFFECT = "INSERT INTO effects (event_id, subject, version) VALUES ($1, $2, $3)"


async def test_2000_events_over_50_keys_are_handled_in_order_per_key_with_two_relays(
    pool, amqp, lost_event, fast_settings, eventually
) -> None:
    router = Router(service="test")

    @router.handles(OpportunityLost)
    async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        # A little jitter so lanes really interleave.
        await asyncio.sleep(random.random() / 1000)
        await ctx.connection.execute(
            EFFECT, envelope.event_id, envelope.subject.id, envelope.subject_version
        )

    # 2,000 events over 50 keys, interleaved at random, each key's versions ascending.
    keys = [f"opp-{k:02d}" for k in range(50)]
    sequence = [key for key in keys for _ in range(40)]
    random.shuffle(sequence)
    versions = dict.fromkeys(keys, 0)
    events = []
    for key in sequence:
        versions[key] += 1
        events.append(lost_event(key, versions[key]))
    async with pool.acquire() as db, db.transaction():
        await Outbox().add(db, *events)

    settings = dataclasses.replace(fast_settings, concurrency=16, prefetch=128)
    stopping = asyncio.Event()
    async with Consumer(router, queue="t.order", pool=pool, connection=amqp, settings=settings):
        # Two relay replicas share the outbox: bucket locks keep each key's events in order.
        relays = [
            asyncio.create_task(OutboxRelay(pool, amqp, batch_size=100).run(stopping))
            for _ in range(2)
        ]
        await eventually(lambda: _effects(pool, 2000), within=90, what="2,000 effects")
        stopping.set()
        await asyncio.gather(*relays)

    rows = await pool.fetch("SELECT subject, version FROM effects ORDER BY serial")
    handled: dict[str, list[int]] = {}
    for row in rows:
        handled.setdefault(row["subject"], []).append(row["version"])
    assert len(rows) == 2000
    assert handled == {key: list(range(1, 41)) for key in keys}


async def test_a_lane_key_orders_different_subjects_of_one_group_in_arrival_order(
    pool, amqp, publish, lost_event, fast_settings, eventually
) -> None:
    # 300 subjects in 6 groups (think: entries of 6 workers); each group's events must be
    # handled in the order they arrived, although their subjects differ.
    router = Router(service="test", lane_key=lambda envelope: envelope.payload.reason)

    @router.handles(OpportunityLost)
    async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        await asyncio.sleep(random.random() / 500)
        await ctx.connection.execute(
            EFFECT, envelope.event_id, envelope.subject.id, envelope.subject_version
        )

    groups = [f"worker-{g}" for g in range(6)]
    events = [lost_event(f"entry-{n:03d}", reason=random.choice(groups)) for n in range(300)]
    settings = dataclasses.replace(fast_settings, concurrency=8, batch_size=1)
    async with Consumer(router, queue="t.lanes", pool=pool, connection=amqp, settings=settings):
        await publish(amqp, *events)
        await eventually(lambda: _effects(pool, 300), within=60, what="300 effects")

    handled = [
        row["subject"] for row in await pool.fetch("SELECT subject FROM effects ORDER BY serial")
    ]
    for group in groups:
        sent = [e.subject.id for e in events if e.payload.reason == group]
        assert [s for s in handled if s in set(sent)] == sent


async def test_a_queue_declared_differently_fails_start_up_with_a_clear_message(
    pool, amqp, fast_settings
) -> None:
    router = Router(service="test")
    router.handles(OpportunityLost)(_noop)
    async with Consumer(
        router, queue="t.topology", pool=pool, connection=amqp, settings=fast_settings
    ):
        pass
    changed = dataclasses.replace(fast_settings, delivery_limit=3)
    consumer = Consumer(router, queue="t.topology", pool=pool, connection=amqp, settings=changed)
    with pytest.raises(TopologyMismatchError, match=r"'t\.topology\.p0'.*x-delivery-limit"):
        await consumer.start()
    await consumer.stop()


async def test_a_message_waiting_for_a_dependency_is_released_when_it_arrives(
    pool, amqp, publish, lost_event, fast_settings, eventually
) -> None:
    router = Router(service="test")
    closed: set[str] = set()

    @router.handles(OpportunityLost)
    async def needs_project_closed(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        key = f"project-closed:{envelope.payload.opportunity_id}"
        if key not in closed:
            raise DependencyMissing(key, "its project is not closed for time yet")
        await ctx.connection.execute(
            EFFECT, envelope.event_id, envelope.subject.id, envelope.subject_version
        )

    @router.handles(ProjectClosedForTime)
    async def close(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        closed.add(f"project-closed:{envelope.payload.project_id}")
        ctx.satisfy(f"project-closed:{envelope.payload.project_id}")

    async with Consumer(
        router, queue="t.depends", pool=pool, connection=amqp, settings=fast_settings
    ):
        # The dependent event comes first: parked, waiting for its dependency.
        await publish(amqp, lost_event("prj-7"))
        await eventually(lambda: _parked(pool, 1), what="a waiting message")
        [waiting] = await list_parked(pool, consumer="t.depends")
        assert (waiting.reason, waiting.waiting_for) == (
            "dependency_missing",
            "project-closed:prj-7",
        )

        # The dependency arrives: the waiting message is released and handled.
        envelope = lost_event("prj-7")
        closing = ProjectClosedForTime(
            project_id="prj-7",
            closed_from=envelope.occurred_at.date(),
            closed_at=envelope.occurred_at,
        )
        await publish(amqp, envelope.caused(closing, producer=envelope.producer, subject_version=1))
        await eventually(lambda: _effects(pool, 1), what="the released message's effect")
    assert [p.waiting_for for p in await list_parked(pool, status="released")] == [
        "project-closed:prj-7"
    ]


async def _noop(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
    return None


async def _effects(pool, n: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM effects")) >= n


async def _parked(pool, n: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM messaging.parked")) >= n


async def test_a_message_still_waiting_once_its_dependency_is_met_is_parked_not_looped(
    pool, amqp, publish, lost_event, fast_settings, eventually
) -> None:
    router = Router(service="test")
    calls: list[int] = []

    @router.handles(OpportunityLost)
    async def always_waits(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        # A check stricter than the key it waits for: the key is met, the check still fails.
        calls.append(1)
        raise DependencyMissing("project-closed:prj-9", "its project is not closed for time yet")

    @router.handles(ProjectClosedForTime)
    async def close(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        ctx.satisfy("project-closed:prj-9")

    async with Consumer(router, queue="t.loop", pool=pool, connection=amqp, settings=fast_settings):
        envelope = lost_event("prj-9")
        closing = ProjectClosedForTime(
            project_id="prj-9", closed_from=envelope.occurred_at.date(),
            closed_at=envelope.occurred_at,
        )  # fmt: skip
        await publish(amqp, envelope.caused(closing, producer=envelope.producer, subject_version=1))
        await eventually(
            lambda: _satisfied(pool, "project-closed:prj-9"), what="the dependency to be met"
        )
        await publish(amqp, envelope)
        await eventually(lambda: _parked(pool, 1), what="the looping message to be parked")
    [parked] = await list_parked(pool, consumer="t.loop")
    assert parked.reason == "dependency_unresolved"
    assert parked.waiting_for is None
    assert len(calls) == fast_settings.max_attempts


async def _satisfied(pool, key: str) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT count(*) FROM messaging.satisfied_dependencies WHERE key = $1", key
        )
    )
