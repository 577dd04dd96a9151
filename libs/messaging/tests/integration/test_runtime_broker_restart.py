"""A broker restart mid-stream: nothing lost, nothing doubled, consumers resume by themselves.

The broker restarted is a node of the test's own (``private_rabbit``): the machine's broker
carries every other test's vhosts and is never stopped by a test.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika

from tandem_contracts import Envelope
from tandem_contracts.events import OpportunityLost
from tandem_messaging import Consumer, HandlerContext, Outbox, OutboxRelay, Router
from tandem_testing import RabbitCluster

EFFECT = "INSERT INTO effects (event_id, subject, version) VALUES ($1, $2, $3)"


async def test_a_broker_restart_mid_stream_loses_nothing(
    private_rabbit: RabbitCluster, pool, lost_event, fast_settings, eventually
) -> None:
    broker = private_rabbit.nodes[0]
    router = Router(service="test")

    @router.handles(OpportunityLost)
    async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        await ctx.connection.execute(
            EFFECT, envelope.event_id, envelope.subject.id, envelope.subject_version
        )

    events = [lost_event(f"opp-{i % 25}", i // 25 + 1) for i in range(600)]
    stopping = asyncio.Event()
    amqp = await aio_pika.connect_robust(broker.url)
    async with (
        amqp,
        Consumer(router, queue="t.restart", pool=pool, connection=amqp, settings=fast_settings),
    ):
        relay = asyncio.create_task(OutboxRelay(pool, amqp, batch_size=20).run(stopping))
        # The first 300 events flow; the broker stops while they are being handled.
        async with pool.acquire() as db, db.transaction():
            await Outbox().add(db, *events[:300])
        await eventually(lambda: _effects(pool, 50), what="the stream to start")
        await asyncio.to_thread(private_rabbit.ctl, "stop_app")
        # While it is down, 300 more events are committed: they wait in the outbox.
        async with pool.acquire() as db, db.transaction():
            await Outbox().add(db, *events[300:])
        await asyncio.to_thread(private_rabbit.ctl, "start_app")
        await asyncio.to_thread(private_rabbit.ctl, "await_startup")
        # Connections, channels and consumers come back by themselves and drain everything.
        await eventually(lambda: _effects(pool, 600), within=120, what="all 600 effects")
        stopping.set()
        await relay

    assert await pool.fetchval("SELECT count(DISTINCT event_id) FROM effects") == 600
    assert await pool.fetchval("SELECT count(*) FROM effects") == 600
    rows = await pool.fetch("SELECT subject, version FROM effects ORDER BY serial")
    seen: dict[str, list[int]] = {}
    for row in rows:
        seen.setdefault(row["subject"], []).append(row["version"])
    assert all(versions == sorted(versions) for versions in seen.values())


async def _effects(pool, n: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM effects")) >= n
