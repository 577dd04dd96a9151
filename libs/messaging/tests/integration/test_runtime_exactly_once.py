"""Exactly-once effects: duplicates, a consumer killed before its ack, a relay killed mid-batch."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

import aio_pika
from prometheus_client import CollectorRegistry

from tandem_contracts import Envelope
from tandem_contracts.events import OpportunityLost
from tandem_messaging import Consumer, HandlerContext, Metrics, Outbox, OutboxRelay, Router

PROCS = Path(__file__).parent / "procs"
EFFECT = "INSERT INTO effects (event_id, subject, version) VALUES ($1, $2, $3)"


def recording_router() -> Router:
    router = Router(service="test")

    @router.handles(OpportunityLost)
    async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        await ctx.connection.execute(
            EFFECT, envelope.event_id, envelope.subject.id, envelope.subject_version
        )

    return router


async def test_the_same_event_delivered_twice_has_one_effect(
    pool, amqp, publish, lost_event, fast_settings, eventually, count
) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    event = lost_event("opp-dup")
    same_fact_new_id = event.model_copy(update={"event_id": lost_event("opp-dup").event_id})
    async with Consumer(
        recording_router(),
        queue="t.dup",
        pool=pool,
        connection=amqp,
        settings=fast_settings,
        metrics=metrics,
    ):
        # The broker hands the same event over twice, and the producer resends it with a new id.
        await publish(amqp, event, event, same_fact_new_id)
        await eventually(lambda: _duplicates(registry, "t.dup", 2), what="two duplicates")
    assert await count(pool, "SELECT count(*) FROM effects") == 1
    # The partition's progress is visible: its last settle is recent (lag = now - this).
    settled_at = registry.get_sample_value(
        "tandem_partition_last_progress_timestamp_seconds", {"consumer": "t.dup", "partition": "0"}
    )
    assert settled_at is not None
    assert 0 <= time.time() - settled_at < 60


async def test_a_consumer_killed_between_commit_and_ack_causes_one_effect(
    pool, amqp, amqp_url, database_url, publish, lost_event, fast_settings, eventually, count
) -> None:
    # A consumer process commits the effect, then dies by SIGKILL before acking.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROCS / "consumer_dies_before_ack.py"),
        database_url,
        amqp_url,
        "t.killed",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    async with asyncio.timeout(20):
        assert (await process.stdout.readline()).strip() == b"ready"
    await publish(amqp, lost_event("opp-killed"))
    async with asyncio.timeout(20):
        assert await process.wait() == -9
    assert await count(pool, "SELECT count(*) FROM effects") == 1

    # The broker redelivers the unacked message to the next consumer: dropped by the inbox.
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    async with Consumer(
        recording_router(),
        queue="t.killed",
        pool=pool,
        connection=amqp,
        metrics=metrics,
    ):
        await eventually(lambda: _duplicates(registry, "t.killed", 1), what="the redelivery")
        await eventually(lambda: _drained(amqp, "t.killed"), what="the ack")
    assert await count(pool, "SELECT count(*) FROM effects") == 1


async def test_outbox_rows_survive_a_relay_killed_mid_batch(
    pool, amqp, amqp_url, database_url, lost_event, fast_settings, eventually, count
) -> None:
    # 1,000 events over 20 subjects are committed to the outbox before any relay runs.
    keys = [f"opp-{k}" for k in range(20)]
    versions = dict.fromkeys(keys, 0)
    events = []
    for _ in range(1000):
        key = random.choice(keys)
        versions[key] += 1
        events.append(lost_event(key, versions[key]))
    async with pool.acquire() as db, db.transaction():
        await Outbox().add(db, *events)

    async with Consumer(
        recording_router(), queue="t.relay", pool=pool, connection=amqp, settings=fast_settings
    ):
        # A relay process publishes 120 rows (two batches of 50 marked, 20 unmarked), then dies.
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(PROCS / "relay_dies_mid_batch.py"), database_url, amqp_url, "120"
        )
        async with asyncio.timeout(30):
            assert await process.wait() == -9
        assert (
            await count(
                pool, "SELECT count(*) FROM messaging.outbox WHERE published_at IS NOT NULL"
            )
            == 100
        )

        # A new relay takes over: every row is published and every event has one effect.
        stopping = asyncio.Event()
        relay = asyncio.create_task(OutboxRelay(pool, amqp, batch_size=50).run(stopping))
        await eventually(lambda: _effects(pool, 1000), within=60, what="1,000 effects")
        stopping.set()
        await relay

    assert await count(pool, "SELECT count(DISTINCT event_id) FROM effects") == 1000
    assert (
        await count(pool, "SELECT count(*) FROM messaging.outbox WHERE published_at IS NULL") == 0
    )
    # Each subject's events took effect in version order, the crash notwithstanding.
    rows = await pool.fetch("SELECT subject, version FROM effects ORDER BY serial")
    seen: dict[str, list[int]] = {}
    for row in rows:
        seen.setdefault(row["subject"], []).append(row["version"])
    assert all(v == list(range(1, len(v) + 1)) for v in seen.values())


async def _effects(pool, n: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM effects")) >= n


async def _duplicates(registry: CollectorRegistry, queue: str, n: int) -> bool:
    value = registry.get_sample_value("tandem_messages_duplicates_total", {"consumer": queue})
    return (value or 0) >= n


async def _drained(amqp: aio_pika.abc.AbstractConnection, queue: str) -> bool:
    channel = await amqp.channel()
    try:
        declared = await channel.declare_queue(f"{queue}.p0", passive=True)  # one partition
        return declared.declaration_result.message_count == 0
    finally:
        await channel.close()
