"""A pool whose connection is never given back still closes, in bounded time."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from tandem_service_kit._resources import close_pool


async def test_a_connection_never_given_back_does_not_keep_the_pool_open(
    database_url: str,
) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    held = asyncio.Event()

    async def stuck() -> None:  # a task that holds a connection and waits for ever
        async with pool.acquire():
            held.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(stuck())
    await held.wait()
    started = time.monotonic()
    await close_pool(pool, within=0.5)
    assert time.monotonic() - started < 5
    assert pool.is_closing()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
