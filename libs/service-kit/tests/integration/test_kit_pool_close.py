"""A pool whose connection is never given back still closes, in bounded time."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from tandem_service_kit import ServiceSettings
from tandem_service_kit._resources import close_pool, open_connections


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


async def test_a_process_holds_at_most_its_pool_size(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANDEM_DB_POOL_SIZE", "3")
    settings = ServiceSettings(service_name="pool-size", database_url=database_url)
    async with open_connections(settings) as opened:
        assert opened.pool.get_max_size() == 3
        held = [await opened.pool.acquire() for _ in range(3)]
        with pytest.raises(TimeoutError):
            await opened.pool.acquire(timeout=0.3)  # a fourth waits: none is opened
        for connection in held:
            await opened.pool.release(connection)
