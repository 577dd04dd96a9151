"""The two connections every process holds, a PostgreSQL pool and a robust broker connection,
waited for at start.

A process starting while PostgreSQL or the broker is away keeps trying each, with a backoff
capped at ``probe_max_s`` and every failed attempt logged, instead of exiting: aio-pika's robust
connection reconnects only after a first success, so a worker that gave up at once would
crash-loop for as long as a broker restart lasts. Once both have answered, a later outage is
the robust connection's and the pool's business, and readiness reports it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import aio_pika
import asyncpg
from aio_pika.abc import AbstractRobustConnection
from aio_pika.connection import make_url

from tandem_service_kit._settings import ServiceSettings, redact_url

__all__ = ["Connections", "open_connections", "open_resources"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_FIRST_DELAY_S = 0.5
# One attempt against a host that drops packets must not hold the start (or a stop) for long.
_ATTEMPT_S = 10.0


@dataclass(eq=False)
class Connections:
    """What a process has reached: its pool at once (it connects on first use) and its broker
    connection once the broker accepted one (``None`` until then)."""

    pool: asyncpg.Pool
    broker: AbstractRobustConnection | None = None
    database_answered: bool = False
    delayed: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    """Set once every dependency was tried and one is still missing: the process now waits."""
    _untried: set[str] = field(default_factory=lambda: {"database", "broker"}, init=False)

    @property
    def waiting_for(self) -> list[str]:
        """Name the dependencies not reached yet."""
        missing = {"database": not self.database_answered, "broker": self.broker is None}
        return [name for name, away in missing.items() if away]

    async def wait(self, settings: ServiceSettings) -> AbstractRobustConnection:
        """Wait until PostgreSQL answers and the broker accepts a connection; return that."""
        await asyncio.gather(self._reach_database(settings), self._connect_broker(settings))
        assert self.broker is not None  # noqa: S101 - _connect_broker returned
        return self.broker

    async def _reach_database(self, settings: ServiceSettings) -> None:
        async def select_one() -> object:
            async with asyncio.timeout(_ATTEMPT_S):
                return await self.pool.fetchval("SELECT 1")

        await self._retry("database", settings.database_url, settings, select_one)
        self.database_answered = True
        self._tried("database")

    async def _connect_broker(self, settings: ServiceSettings) -> None:
        async def connect() -> AbstractRobustConnection:
            return await _connect_broker(settings)

        self.broker = await self._retry("broker", settings.amqp_url, settings, connect)
        logger.info("connected to broker %s", redact_url(settings.amqp_url))
        self._tried("broker")

    async def _retry(
        self, name: str, url: str, settings: ServiceSettings, attempt: Callable[[], Awaitable[T]]
    ) -> T:
        delay = _FIRST_DELAY_S
        while True:
            try:
                return await attempt()
            except Exception as exc:  # whatever keeps a dependency away, wait for it
                logger.warning(
                    "%s at %s unavailable (%s: %s); trying again in %.1f s",
                    name, redact_url(url), type(exc).__name__, exc, delay,
                )  # fmt: skip
            self._tried(name)
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.probe_max_s)

    def _tried(self, name: str) -> None:
        self._untried.discard(name)
        if not self._untried and self.waiting_for:
            self.delayed.set()


async def _connect_broker(settings: ServiceSettings) -> AbstractRobustConnection:
    connection = aio_pika.RobustConnection(
        make_url(settings.amqp_url),
        client_properties={"connection_name": settings.service_name},
    )
    try:
        await connection.connect(timeout=_ATTEMPT_S)
    except BaseException:
        # Also ends its reconnection task, which a cancelled first connect would leave running.
        await connection.close()
        raise
    return connection


@asynccontextmanager
async def open_connections(settings: ServiceSettings) -> AsyncIterator[Connections]:
    """Create the pool, not waiting for anything; close it and any broker connection on exit."""
    # min_size=0 connects on first use: creating the pool never waits for PostgreSQL.
    pool = await asyncpg.create_pool(settings.database_url, min_size=0)
    connections = Connections(pool)
    try:
        yield connections
    finally:
        try:
            if connections.broker is not None:
                await connections.broker.close()
        finally:
            await pool.close()


@asynccontextmanager
async def open_resources(
    settings: ServiceSettings,
) -> AsyncIterator[tuple[asyncpg.Pool, AbstractRobustConnection]]:
    """Open the pool and the broker connection, waiting for both; close both on the way out."""
    async with open_connections(settings) as connections:
        yield connections.pool, await connections.wait(settings)
