"""Work deferred to the end of a lane's transaction is done once for the whole batch."""

from __future__ import annotations

import dataclasses
from typing import Any

from tandem_contracts import Envelope
from tandem_contracts.events import OpportunityLost
from tandem_messaging import Consumer, HandlerContext, Router
from tandem_messaging.testing import InMemoryBroker, Outcome

EFFECT = "INSERT INTO effects (event_id, subject, version) VALUES ($1, $2, $3)"


def batching_router(flushes: list[int], *, fail_on: str | None = None) -> Router:
    """Each handler defers its effect; one flush writes all of a transaction's effects."""
    router = Router(service="test", lane_key=lambda envelope: "one-lane")

    async def flush(items: list[Any]) -> None:  # one callable: every deferred item in one call
        flushes.append(len(items))
        if fail_on is not None and any(e.subject.id == fail_on for e, _ in items):
            raise RuntimeError(f"the downstream refused {fail_on}")
        for event, connection in items:
            if connection is not None:
                await connection.execute(
                    EFFECT, event.event_id, event.subject.id, event.subject_version
                )

    @router.handles(OpportunityLost)
    async def defer(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        ctx.scope.defer(flush, (envelope, ctx.connection))

    return router


async def test_in_memory_a_deferred_flush_runs_after_the_handler(lost_event) -> None:
    flushes: list[int] = []
    broker = InMemoryBroker(batching_router(flushes))
    assert await broker.deliver(lost_event("opp-1")) is Outcome.HANDLED
    assert flushes == [1]


async def test_a_lane_batch_flushes_once_with_every_deferred_item(
    pool, amqp, publish, lost_event, fast_settings, eventually
) -> None:
    flushes: list[int] = []
    settings = dataclasses.replace(fast_settings, concurrency=1, batch_size=32, prefetch=256)
    events = [lost_event(f"opp-{n:03d}") for n in range(200)]
    async with Consumer(
        batching_router(flushes), queue="t.defer", pool=pool, connection=amqp, settings=settings
    ):
        await publish(amqp, *events)
        await eventually(lambda: _effects(pool, 200), what="200 effects")
    assert sum(flushes) == 200
    assert max(flushes) > 1, "deliveries waiting in the lane are flushed together"
    assert int(await pool.fetchval("SELECT count(DISTINCT event_id) FROM effects")) == 200


async def test_a_failing_flush_rolls_the_batch_back_and_each_is_redone_alone(
    pool, amqp, publish, lost_event, fast_settings, eventually
) -> None:
    flushes: list[int] = []
    settings = dataclasses.replace(fast_settings, concurrency=1, batch_size=32, prefetch=256)
    events = [lost_event(f"opp-{n:03d}") for n in range(40)]
    router = batching_router(flushes, fail_on="opp-007")
    async with Consumer(
        router, queue="t.defer-fail", pool=pool, connection=amqp, settings=settings
    ):
        await publish(amqp, *events)
        await eventually(lambda: _effects(pool, 39), what="39 effects")
        await eventually(lambda: _parked(pool, 1), within=30, what="the refused one parked")
    subjects = {r["subject"] for r in await pool.fetch("SELECT subject FROM effects")}
    assert subjects == {f"opp-{n:03d}" for n in range(40)} - {"opp-007"}
    assert int(await pool.fetchval("SELECT count(*) FROM effects")) == 39  # nothing twice


async def _effects(pool, n: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM effects")) >= n


async def _parked(pool, n: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM messaging.parked")) >= n
