"""The service's own PostgreSQL crashes mid-stream (``pg_ctl stop -m immediate``) and comes back
a few seconds later: intake pauses and resumes by itself, with no process restart, and every
event still takes effect exactly once."""

from __future__ import annotations

import asyncio
import logging
import time

import aio_pika

from tandem_contracts import encode
from tandem_messaging import Consumer, OutboxRelay, declare_events_exchange, partition_header
from tandem_service_kit import ServiceSettings, open_resources
from tandem_testing import PrivatePostgres, eventually

from .support import (
    FAST,
    Clock,
    Stream,
    assert_exactly_once,
    at_least,
    drained,
    effects,
    lost_event,
    new_metrics,
    prepare_database,
    recording_router,
)

logger = logging.getLogger(__name__)
OUTAGE_S = 3.0


async def publish_upstream(amqp_url: str, n: int) -> set[object]:
    """Publish ``n`` events straight to the broker (another service's relay), confirmed."""
    events = [lost_event(f"upstream-{i % 5}", i // 5 + 1) for i in range(n)]
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_events_exchange(channel)
        for envelope in events:
            await exchange.publish(
                aio_pika.Message(
                    encode(envelope),
                    message_id=str(envelope.event_id),
                    headers=partition_header(envelope.subject.id),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=envelope.routing_key,
            )
    return {envelope.event_id for envelope in events}


async def test_a_database_crash_mid_stream_pauses_intake_and_loses_nothing(
    private_postgres: PrivatePostgres, amqp_url: str
) -> None:
    clock = Clock()
    await prepare_database(private_postgres.url)
    settings = ServiceSettings(
        service_name="faults", database_url=private_postgres.url, amqp_url=amqp_url
    )
    _, metrics = new_metrics()
    stopping = asyncio.Event()
    down = False
    async with open_resources(settings) as (pool, broker):
        stream = Stream(pool, total=2000)
        consumer = Consumer(
            recording_router(),
            queue="faults.database",
            pool=pool,
            connection=broker,
            settings=FAST,
            metrics=metrics,
        )
        async with consumer:
            relay = asyncio.create_task(
                OutboxRelay(pool, broker, batch_size=50, metrics=metrics).run(stopping)
            )
            producing = asyncio.create_task(stream.run())
            try:
                # The stream flows through the outbox, the relay and the consumer.
                await eventually(at_least(pool, 300), within=60, what="the stream to flow")
                # The database crashes.
                await asyncio.to_thread(private_postgres.stop, "immediate")
                down = True
                logger.info("database crashed at %.2f s", clock())
                # Another service keeps publishing: the consumer meets the missing database
                # and pauses its intake instead of parking or dropping anything.
                upstream = await publish_upstream(amqp_url, 200)
                await eventually(lambda: consumer.paused, within=30, what="intake to pause")
                assert consumer.running
                await asyncio.sleep(OUTAGE_S)  # how long the outage lasts, not a wait
                assert consumer.paused
                # The database comes back; nothing is restarted.
                await asyncio.to_thread(private_postgres.start)
                down = False
                back_at = time.monotonic()
                before = await effects(pool)
                await eventually(at_least(pool, before + 1), within=60, what="a new effect")
                first_effect = time.monotonic() - back_at
                await eventually(lambda: not consumer.paused, within=30, what="intake to resume")
                await producing
                await drained(pool, stream.total + len(upstream), within=60)
            finally:
                stopping.set()
                producing.cancel()
                if down:
                    await asyncio.to_thread(private_postgres.start)
                await relay
        logger.info(
            "database restart: first effect %.2f s after it was back, done at %.2f s; "
            "%d commits of the stream failed",
            first_effect, clock(), stream.failures,
        )  # fmt: skip
        assert stream.failures > 0, "the stream never met the outage"
        stream.committed |= upstream
        stream.total += len(upstream)
        await assert_exactly_once(pool, stream)
