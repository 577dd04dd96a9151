"""An outbox relay process that dies by SIGKILL after publishing N rows, before marking them."""

import asyncio
import os
import signal
import sys
from typing import Any

import aio_pika
import asyncpg

from tandem_messaging import OutboxRelay

published = 0


class DyingRelay(OutboxRelay):
    die_after = 0

    async def _publish_one(self, channel: Any, row: Any) -> None:
        global published
        await super()._publish_one(channel, row)
        published += 1
        if published >= self.die_after:  # confirmed by the broker, never marked published
            os.kill(os.getpid(), signal.SIGKILL)


async def main(database_url: str, amqp_url: str, die_after: str) -> None:
    pool = await asyncpg.create_pool(database_url)
    connection = await aio_pika.connect_robust(amqp_url)
    DyingRelay.die_after = int(die_after)
    await DyingRelay(pool, connection, batch_size=50).run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
