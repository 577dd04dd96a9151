"""The two connections every process holds, a PostgreSQL pool and a robust broker connection,
waited for at start.

A process starting while PostgreSQL or the broker is away keeps trying each, with a backoff
capped at ``probe_max_s`` and every failed attempt logged, instead of exiting: aio-pika's robust
connection reconnects only after a first success, so a worker that gave up at once would
crash-loop for as long as a broker restart lasts. Once both have answered, a later outage is
the robust connection's and the pool's business, and readiness reports it.

Several broker nodes (``TANDEM_AMQP_URL`` a comma-separated list, one URL per node of a
cluster): a process tries them in an order of its own (rotated by its pid, so processes spread
over the nodes) and keeps the first that answers; whenever that connection is lost, or an
attempt to reconnect fails, the robust connection moves on to the next node.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aio_pika
import asyncpg
from aio_pika.abc import AbstractRobustConnection
from aio_pika.connection import make_url
from yarl import URL

from tandem_service_kit._settings import ServiceSettings, redact_url

__all__ = [
    "ClusterConnection",
    "Connections",
    "broker_urls",
    "close_pool",
    "open_connections",
    "open_resources",
]

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
        logger.info("connected to broker %s", self.broker)  # its str hides the password
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
                    name, _redact_all(url), type(exc).__name__, exc, delay,
                )  # fmt: skip
            self._tried(name)
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.probe_max_s)

    def _tried(self, name: str) -> None:
        self._untried.discard(name)
        if not self._untried and self.waiting_for:
            self.delayed.set()


def broker_urls(amqp_url: str) -> list[str]:
    """Split a broker setting into its URLs: one, or one per node, separated by commas."""
    return [url.strip() for url in amqp_url.split(",") if url.strip()]


def _redact_all(amqp_url: str) -> str:
    return ",".join(redact_url(url) for url in broker_urls(amqp_url))


class ClusterConnection(aio_pika.RobustConnection):
    """A robust connection to one of several broker nodes: each time the connection closes
    (lost, or an attempt failed) it moves on to the next node, so it comes back on any node
    that answers. With one URL it is aio-pika's ``RobustConnection``. Connection options
    (query parameters) are read from the first URL."""

    def __init__(self, urls: Sequence[URL], **kwargs: Any) -> None:
        if not urls:
            raise ValueError("a broker connection needs at least one URL")
        super().__init__(urls[0], **kwargs)
        self.urls = tuple(urls)
        self._current = 0

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        # aio-pika calls this for a lost connection and for every failed attempt, and reads
        # ``url`` afresh on each attempt: pointing it at the next node is all it takes.
        if len(self.urls) > 1 and not self.close_called:
            self._current = (self._current + 1) % len(self.urls)
            self.url = self.urls[self._current]
        await super()._on_connection_close(closing)


async def _connect_broker(settings: ServiceSettings) -> AbstractRobustConnection:
    urls = [make_url(url) for url in broker_urls(settings.amqp_url)]
    # Rotated by pid: the processes of a deployment spread over the nodes.
    start = os.getpid() % len(urls)
    failure: BaseException | None = None
    for shift in range(len(urls)):
        first = (start + shift) % len(urls)
        try:
            return await _connect_to(urls[first:] + urls[:first], settings)
        except Exception as exc:  # this node is away: try the next before waiting
            if len(urls) > 1:
                logger.info("broker node %s unavailable (%s)", redact_url(str(urls[first])), exc)
            failure = exc
    assert failure is not None  # noqa: S101 - at least one URL was tried
    raise failure


async def _connect_to(urls: Sequence[URL], settings: ServiceSettings) -> ClusterConnection:
    # Named by service and host (the pod), so the broker tells which replica holds a queue.
    name = f"{settings.service_name}@{socket.gethostname()}"
    connection = ClusterConnection(urls, client_properties={"connection_name": name})
    try:
        await connection.connect(timeout=_ATTEMPT_S)
    except BaseException:
        # Also ends its reconnection task, which a cancelled first connect would leave running.
        await connection.close()
        raise
    return connection


_POOL_CLOSE_S = 15.0


async def close_pool(pool: asyncpg.Pool, within: float = _POOL_CLOSE_S) -> None:
    """Close ``pool``, waiting at most ``within`` seconds for its connections to come back;
    then terminate it. asyncpg's ``close`` waits for every connection without end: a task
    that never gives one back (stuck on a dead broker) would keep the process from exiting."""
    try:
        await asyncio.wait_for(pool.close(), within)
    except TimeoutError:
        logger.warning("database connections still in use after %.0f s: terminated", within)
        pool.terminate()


@asynccontextmanager
async def open_connections(settings: ServiceSettings) -> AsyncIterator[Connections]:
    """Create the pool, not waiting for anything; close it and any broker connection on exit."""
    # min_size=0 connects on first use: creating the pool never waits for PostgreSQL.
    pool = await asyncpg.create_pool(
        settings.database_url, min_size=0, max_size=settings.db_pool_size
    )
    connections = Connections(pool)
    try:
        yield connections
    finally:
        try:
            if connections.broker is not None:
                await connections.broker.close()
        finally:
            await close_pool(pool)


@asynccontextmanager
async def open_resources(
    settings: ServiceSettings,
) -> AsyncIterator[tuple[asyncpg.Pool, AbstractRobustConnection]]:
    """Open the pool and the broker connection, waiting for both; close both on the way out."""
    async with open_connections(settings) as connections:
        yield connections.pool, await connections.wait(settings)
