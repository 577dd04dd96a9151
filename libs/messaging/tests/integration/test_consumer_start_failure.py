"""A consumer whose start fails half-way stops what it started: no lane or heartbeat outlives
it holding a pooled connection, so its pool closes (before, the close waited forever)."""

from __future__ import annotations

import asyncio

import aio_pika
import asyncpg
import pytest

from tandem_messaging import Consumer, ConsumerSettings, Router


async def test_a_failed_start_leaves_nothing_running(
    database_url: str, amqp: aio_pika.abc.AbstractRobustConnection, fast_settings: ConsumerSettings
) -> None:
    # The runtime's schema is missing: the consumer declares its queues and starts its lanes,
    # then joining the group fails.
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    consumer = Consumer(Router(service="t"), queue="t.unstarted", pool=pool, connection=amqp,
                        settings=fast_settings)  # fmt: skip
    with pytest.raises(asyncpg.UndefinedTableError):
        async with consumer:
            pytest.fail("the consumer cannot start without its tables")
    assert consumer._workers  # it got as far as its lanes
    assert all(task.done() for task in consumer._workers)
    assert not consumer.running
    await asyncio.wait_for(pool.close(), 10)
