"""Graceful shutdown: the message in hand is finished and acked; nothing uncommitted is acked."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from tandem_contracts import Envelope
from tandem_contracts.events import OpportunityLost
from tandem_messaging import Consumer, HandlerContext, Router

EFFECT = "INSERT INTO effects (event_id, subject, version) VALUES ($1, $2, $3)"


async def test_stop_finishes_the_message_in_hand_and_leaves_the_rest_queued(
    pool, amqp, publish, lost_event, fast_settings, eventually
) -> None:
    router = Router(service="test")
    started = asyncio.Event()
    release = asyncio.Event()

    @router.handles(OpportunityLost)
    async def slow(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        started.set()
        await release.wait()
        await ctx.connection.execute(
            EFFECT, envelope.event_id, envelope.subject.id, envelope.subject_version
        )

    # One lane, one message at a time: the first is in hand, four more are prefetched.
    settings = dataclasses.replace(fast_settings, concurrency=1, batch_size=1, prefetch=5)
    consumer = Consumer(router, queue="t.stop", pool=pool, connection=amqp, settings=settings)
    await consumer.start()
    await publish(amqp, *(lost_event(f"opp-{i}") for i in range(5)))
    async with asyncio.timeout(15):
        await started.wait()

    # Stop while the first handler runs; let it finish while stop() waits for it.
    stopping = asyncio.create_task(consumer.stop())
    await asyncio.sleep(0)
    release.set()
    async with asyncio.timeout(15):
        await stopping

    # The finished message was committed and acked; the four not started went back, unacked.
    assert await pool.fetchval("SELECT count(*) FROM effects") == 1
    channel = await amqp.channel()
    declared = await channel.declare_queue("t.stop.p0", passive=True)
    assert declared.declaration_result.message_count == 4
    await channel.close()
