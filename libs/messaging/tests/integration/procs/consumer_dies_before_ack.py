"""A consumer process that dies by SIGKILL right after commit, before the ack reaches the broker."""

import asyncio
import os
import signal
import sys
from typing import Any

import aio_pika
import asyncpg

import tandem_messaging._consumer as consumer_module
from tandem_contracts import Envelope
from tandem_contracts.events import OpportunityLost
from tandem_messaging import Consumer, HandlerContext, Router


async def die_instead_of_acking(_message: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


setattr(consumer_module, "ack", die_instead_of_acking)  # noqa: B010 - patch the module seam


async def main(database_url: str, amqp_url: str, queue: str) -> None:
    router = Router(service="test")

    @router.handles(OpportunityLost)
    async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        await ctx.connection.execute(
            "INSERT INTO effects (event_id, subject, version) VALUES ($1, $2, $3)",
            envelope.event_id,
            envelope.subject.id,
            envelope.subject_version,
        )

    pool = await asyncpg.create_pool(database_url)
    connection = await aio_pika.connect_robust(amqp_url)
    async with Consumer(router, queue=queue, pool=pool, connection=connection):
        print("ready", flush=True)  # noqa: T201 - the test waits for this line
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
