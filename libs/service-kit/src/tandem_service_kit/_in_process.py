"""A service's api and worker in the calling process, as the kit runs them in two.

For integration tests, benchmarks and tools that drive a service end to end on real
PostgreSQL and RabbitMQ without starting processes: the api (``service_app``) served by
uvicorn on ``settings.http_port`` and the worker (``service_worker``) on one pool and one
broker connection, stopped together on leaving.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
import asyncpg
import uvicorn

from tandem_service_kit._resources import close_pool
from tandem_service_kit._runner import service_worker
from tandem_service_kit._service import S, ServiceDefinition
from tandem_service_kit._service_main import service_app
from tandem_service_kit._worker import WorkerResources

__all__ = ["serve_in_process"]


@asynccontextmanager
async def serve_in_process(
    definition: ServiceDefinition[S],
    settings: S,
    *,
    pool_size: int = 4,
    started_within_s: float = 30.0,
) -> AsyncIterator[asyncpg.Pool]:
    """Serve ``definition``'s api and run its worker here; answer a pool on its database.

    Entered once the api serves (``TimeoutError`` after ``started_within_s``); on leaving,
    the worker is asked to stop and the api to exit, and both are awaited (30 s at most)."""
    server = uvicorn.Server(
        uvicorn.Config(service_app(definition, settings), port=settings.http_port,
                       log_config=None, lifespan="on")
    )  # fmt: skip
    stopping = asyncio.Event()
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=pool_size)
    async with contextlib.AsyncExitStack() as closing:
        closing.push_async_callback(close_pool, pool)
        connection = await closing.enter_async_context(
            await aio_pika.connect_robust(settings.amqp_url)
        )
        worker = service_worker(definition)(WorkerResources(settings, pool, connection, stopping))
        tasks = [asyncio.create_task(server.serve()), asyncio.ensure_future(worker)]
        try:
            async with asyncio.timeout(started_within_s):
                while not server.started:
                    if tasks[0].done():  # the api could not start: its error, not a timeout
                        await tasks[0]
                    await asyncio.sleep(0.01)
            yield pool
        finally:
            stopping.set()
            server.should_exit = True
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
