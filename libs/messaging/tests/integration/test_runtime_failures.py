"""Failure classes against real RabbitMQ and PostgreSQL: retry, park, replay, pause, poison."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import aio_pika
from prometheus_client import CollectorRegistry

from tandem_contracts import Envelope, encode
from tandem_contracts.events import OpportunityLost
from tandem_messaging import (
    Consumer,
    DownstreamUnavailable,
    HandlerContext,
    Metrics,
    PermanentError,
    ReplaySelection,
    Router,
    TransientError,
    list_parked,
    replay,
)

EFFECT = "INSERT INTO effects (event_id, subject, version) VALUES ($1, $2, $3)"


async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
    await ctx.connection.execute(
        EFFECT, envelope.event_id, envelope.subject.id, envelope.subject_version
    )


async def test_transient_failures_retry_with_growing_delays_then_succeed_once(
    pool, amqp, publish, lost_event, fast_settings, eventually, count
) -> None:
    router = Router(service="test")
    attempts: list[float] = []

    @router.handles(OpportunityLost)
    async def flaky(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        attempts.append(time.monotonic())
        await record(envelope, ctx)  # rolled back with the failure, committed on success
        if len(attempts) <= 2:
            raise TransientError("ERP timed out")

    async with Consumer(
        router, queue="t.flaky", pool=pool, connection=amqp, settings=fast_settings
    ):
        # One event; the handler fails twice, transiently.
        await publish(amqp, lost_event("opp-1"))
        await eventually(lambda: count(pool, "SELECT count(*) FROM effects"), what="an effect")

    # Three attempts, the gaps growing with each retry level; exactly one committed effect.
    assert len(attempts) == 3
    first_gap, second_gap = attempts[1] - attempts[0], attempts[2] - attempts[1]
    assert first_gap >= 0.2
    assert second_gap >= 0.6 > first_gap
    assert await count(pool, "SELECT count(*) FROM effects") == 1
    assert await count(pool, "SELECT count(*) FROM messaging.parked") == 0


async def test_a_permanent_failure_is_parked_at_once_and_replays_after_the_fix(
    pool, amqp, publish, lost_event, fast_settings, eventually, count
) -> None:
    router = Router(service="test")
    broken = {"customer-unknown": True}
    calls = []

    @router.handles(OpportunityLost)
    async def strict(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        calls.append(envelope.event_id)
        if broken["customer-unknown"]:
            raise PermanentError("customer_unknown", "no ERP customer for cus-9")
        await record(envelope, ctx)

    async with Consumer(
        router, queue="t.strict", pool=pool, connection=amqp, settings=fast_settings
    ):
        # The handler refuses it: parked at once, with its reason, no retries.
        event = lost_event("opp-2")
        await publish(amqp, event)
        await eventually(
            lambda: count(pool, "SELECT count(*) FROM messaging.parked"), what="a parked message"
        )
        [parked] = await list_parked(pool, consumer="t.strict")
        assert (parked.reason, parked.attempts, parked.event_id) == (
            "customer_unknown",
            1,
            event.event_id,
        )
        assert parked.detail == "no ERP customer for cus-9"
        assert parked.exception_class == "tandem_messaging._errors.PermanentError"
        assert parked.routing_key == event.routing_key
        assert len(calls) == 1

        # The cause is fixed; an operator replays it: handled once, audited.
        broken["customer-unknown"] = False
        result = await replay(
            pool,
            amqp,
            ReplaySelection(consumer="t.strict"),
            actor="ops@acme",
            why="customer created in ERP",
        )
        assert result.replayed == 1
        await eventually(lambda: count(pool, "SELECT count(*) FROM effects"), what="the effect")

        # Replaying an already handled message is a no-op thanks to the inbox.
        await replay(pool, amqp, ReplaySelection(ids=result.message_ids), actor="ops", why="x")
        async with pool.acquire() as db:
            await db.execute("UPDATE messaging.parked SET status = 'parked'")
        again = await replay(
            pool, amqp, ReplaySelection(everything=True), actor="ops", why="replay twice by mistake"
        )
        assert again.replayed == 1
        await eventually(
            lambda: count(pool, "SELECT count(*) FROM messaging.inbox WHERE consumer='t.strict'"),
        )
        await eventually(lambda: _all_acked(amqp, "t.strict"), what="the queue to drain")

    assert await count(pool, "SELECT count(*) FROM effects") == 1
    audit = await pool.fetch(
        "SELECT actor, reason, message_ids FROM messaging.replay_audit ORDER BY replayed_at"
    )
    assert audit[0]["actor"] == "ops@acme"
    assert audit[0]["reason"] == "customer created in ERP"
    assert list(audit[0]["message_ids"]) == [parked.id]
    assert [p.status for p in await list_parked(pool, status="replayed")] == ["replayed"]


async def test_a_downstream_outage_pauses_intake_parks_nothing_and_resumes(
    pool, amqp, publish, lost_event, fast_settings, eventually, count
) -> None:
    router = Router(service="test")
    erp = {"up": False}

    @router.handles(OpportunityLost)
    async def post_to_erp(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        if not erp["up"]:
            raise DownstreamUnavailable("erp", "connection refused", retry_after=0.1)
        await record(envelope, ctx)

    settings = dataclasses.replace(fast_settings, prefetch=8)
    consumer = Consumer(router, queue="t.erp", pool=pool, connection=amqp, settings=settings)
    async with consumer:
        # The ERP is down while 40 events arrive: intake pauses, nothing is parked.
        await publish(amqp, *(lost_event(f"opp-{i}") for i in range(40)))
        await eventually(lambda: _true(consumer.paused), what="the consumer to pause")
        # Only the prefetched few are in hand; the rest wait on the broker, undelivered.
        assert await _depth(amqp, "t.erp") >= 40 - settings.prefetch
        assert await count(pool, "SELECT count(*) FROM messaging.parked") == 0
        assert await count(pool, "SELECT count(*) FROM effects") == 0

        # The ERP comes back: the consumer resumes by itself and drains everything.
        erp["up"] = True
        await eventually(lambda: count_is(pool, 40), what="all 40 effects")
        assert not consumer.paused
    assert await count(pool, "SELECT count(*) FROM messaging.parked") == 0


async def test_a_batch_held_by_an_outage_is_retried_whole_and_drains_as_one_batch(
    pool, amqp, publish, lost_event, fast_settings, eventually, count
) -> None:
    router = Router(service="test", lane_key=lambda envelope: "one-lane")
    erp = {"up": False}
    gate = asyncio.Event()
    attempts: list[int] = []
    written: list[int] = []

    async def write(items: list[Any]) -> None:  # one flush for the whole batch
        attempts.append(len(items))
        if not erp["up"]:
            raise DownstreamUnavailable("erp", "connection refused", retry_after=0.05)
        written.append(len(items))
        for held, ctx in items:
            await record(held, ctx)

    @router.handles(OpportunityLost)
    async def post_to_erp(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        if envelope.subject.id == "opp-00":  # keeps the lane busy until the rest are in hand
            await gate.wait()
            return

        ctx.scope.defer(write, (envelope, ctx))

    settings = dataclasses.replace(fast_settings, concurrency=1, batch_size=16, prefetch=16)
    consumer = Consumer(router, queue="t.held", pool=pool, connection=amqp, settings=settings)
    async with consumer:
        await publish(amqp, *(lost_event(f"opp-{i:02d}") for i in range(16)))
        await eventually(lambda: _depth_is(amqp, "t.held", 0), what="all 16 delivered")
        gate.set()  # the other 15 now make one batch, which the ERP refuses while down
        await eventually(lambda: _true(consumer.paused), what="the consumer to pause")
        assert set(attempts) == {15}, "the held batch is retried whole, never split"
        erp["up"] = True
        await eventually(lambda: count_is(pool, 15), what="the 15 effects")
    assert written == [15]
    assert await count(pool, "SELECT count(*) FROM messaging.parked") == 0


async def _depth_is(amqp, queue: str, n: int) -> bool:
    return await _depth(amqp, queue) == n


async def test_poison_is_parked_with_a_clear_reason_while_valid_traffic_flows(
    pool, amqp, publish, lost_event, fast_settings, eventually, count
) -> None:
    router = Router(service="test")
    router.handles(OpportunityLost)(record)
    async with Consumer(
        router, queue="t.poison", pool=pool, connection=amqp, settings=fast_settings
    ):
        channel = await amqp.channel()
        exchange = await channel.get_exchange("tandem.events")
        valid = lost_event("opp-ok")
        unknown = encode(valid).replace(b'"OpportunityLost"', b'"OpportunityWon"', 1)
        invalid = encode(lost_event("opp-bad")).replace(b'"Closed Lost"', b'""')
        for body in (b"\x00\xffgarbage", unknown, invalid):
            await exchange.publish(aio_pika.Message(body), routing_key=valid.routing_key)
        await publish(amqp, valid)
        await eventually(lambda: count_is(pool, 1), what="the valid event's effect")
        await eventually(lambda: _parked(pool, 3), what="three parked messages")
    reasons = {p.reason: p.detail for p in await list_parked(pool, consumer="t.poison")}
    assert set(reasons) == {"bad_encoding", "unknown_event_type", "schema_invalid"}
    assert "payload.stage" in reasons["schema_invalid"]
    assert "OpportunityWon" in reasons["unknown_event_type"]


async def _parked(pool, n: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM messaging.parked")) == n


async def count_is(pool, n: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM effects")) == n


async def _true(value: bool) -> bool:
    return value


async def _depth(amqp, queue: str) -> int:
    channel = await amqp.channel()
    try:
        declared = await channel.declare_queue(f"{queue}.p0", passive=True)  # one partition
        return int(declared.declaration_result.message_count or 0)
    finally:
        await channel.close()


async def _all_acked(amqp, queue: str) -> bool:
    return await _depth(amqp, queue) == 0


async def test_losing_the_database_holds_messages_instead_of_burning_retries(
    pool, amqp, publish, lost_event, fast_settings, eventually, count
) -> None:
    router = Router(service="test")
    outages = {"left": 6}

    @router.handles(OpportunityLost)
    async def write(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        if outages["left"] > 0:
            outages["left"] -= 1
            raise ConnectionRefusedError("connection to the database refused")
        await record(envelope, ctx)

    registry = CollectorRegistry()
    async with Consumer(
        router,
        queue="t.db",
        pool=pool,
        connection=amqp,
        settings=fast_settings,
        metrics=Metrics(registry),
    ):
        await publish(amqp, lost_event("opp-db"))
        await eventually(lambda: count_is(pool, 1), what="the effect once the database is back")

    # Six failed probes, no retry-queue round trips, nothing parked, one effect.
    assert (
        registry.get_sample_value(
            "tandem_messages_failed_total",
            {"consumer": "t.db", "event_type": "OpportunityLost", "failure": "downstream"},
        )
        == 6
    )
    assert registry.get_sample_value("tandem_messages_retried_total", {"consumer": "t.db"}) is None
    assert await count(pool, "SELECT count(*) FROM messaging.parked") == 0
