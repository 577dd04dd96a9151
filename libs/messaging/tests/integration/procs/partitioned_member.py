"""One member of a partitioned consumer group, in a process of its own (a test SIGKILLs it).

Its handler records each event's per-key sequence number under a row lock on the key, with
the number it found there before: the rows then prove the commit order of each key.
"""

import asyncio
import random
import signal
import sys
from typing import Any

import aio_pika
import asyncpg

from tandem_contracts import Envelope
from tandem_contracts.events import OpportunityLost
from tandem_messaging import Consumer, ConsumerSettings, HandlerContext, Router

LOCK_KEY = "SELECT last_seq FROM key_state WHERE key = $1 FOR UPDATE"
MOVE_KEY = "UPDATE key_state SET last_seq = $2 WHERE key = $1"
RECORD = "INSERT INTO handled (key, seq, prev_seq, member, event_id) VALUES ($1, $2, $3, $4, $5)"


async def main(database_url: str, amqp_url: str, queue: str, member: str, partitions: str) -> None:
    router = Router(service="test")

    @router.handles(OpportunityLost)
    async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        # A little jitter, so that lanes and members interleave as they would under load.
        await asyncio.sleep(random.uniform(0, 0.002))
        key, seq = envelope.subject.id, envelope.subject_version
        before = await ctx.connection.fetchval(LOCK_KEY, key)
        await ctx.connection.execute(MOVE_KEY, key, seq)
        await ctx.connection.execute(RECORD, key, seq, before, member, envelope.event_id)

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    settings = ConsumerSettings(partitions=int(partitions), concurrency=4, batch_size=8)
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=8)
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        async with Consumer(
            router, queue=queue, pool=pool, connection=connection, settings=settings, member=member
        ):
            print("ready", flush=True)  # noqa: T201 - the test waits for this line
            await stopping.wait()
    finally:
        await connection.close()
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
