"""The transactional outbox and its relay.

``Outbox.add`` writes an event in the caller's transaction, so it exists if and only if the
state change it announces committed. ``OutboxRelay`` publishes unpublished rows with publisher
confirms and marks them sent. Rows are spread over buckets by partition key; a relay takes a
transaction-scoped advisory lock per bucket, so several replicas never publish one key's events
concurrently and each key's events leave in commit order. A crash between publish and mark
republishes: consumers' inboxes drop the duplicate.

Producers must write their state change before adding its event, so that two transactions
touching one subject take outbox ids in commit order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from tandem_contracts import CONTENT_TYPE, EVENTS_EXCHANGE, Envelope, encode
from tandem_messaging._db import DbConnection
from tandem_messaging._metrics import Metrics, default_metrics
from tandem_messaging._topology import declare_events_exchange
from tandem_messaging._tracing import inject, publish_span

__all__ = ["Outbox", "OutboxRelay"]

logger = logging.getLogger(__name__)

CHANNEL = "tandem_outbox"
_LOCK_SPACE = 0x7A4D  # advisory-lock namespace of outbox buckets
_INSERT = """
INSERT INTO messaging.outbox
    (event_id, partition_key, bucket, exchange, routing_key, event_type, correlation_id, body,
     headers)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
"""
_NOTIFY = f"SELECT pg_notify('{CHANNEL}', '')"
_CLAIM = """
SELECT id, event_id, partition_key, exchange, routing_key, event_type, correlation_id, body,
       headers::text
FROM messaging.outbox
WHERE published_at IS NULL AND pg_try_advisory_xact_lock($2::int, bucket::int)
ORDER BY id
LIMIT $1
"""
_MARK = "UPDATE messaging.outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])"
_OLDEST = """
SELECT extract(epoch FROM clock_timestamp() - created_at)
FROM messaging.outbox WHERE published_at IS NULL ORDER BY id LIMIT 1
"""
_PURGE = "DELETE FROM messaging.outbox WHERE published_at < clock_timestamp() - $1::interval"


class Outbox:
    """Adds events to the outbox table in the caller's transaction."""

    def __init__(self, *, buckets: int = 64, exchange: str = EVENTS_EXCHANGE) -> None:
        self.buckets = buckets
        self.exchange = exchange

    async def add(self, connection: DbConnection, *envelopes: Envelope[Any]) -> None:
        """Write ``envelopes`` to the outbox; they publish only if the transaction commits."""
        headers = json.dumps(inject({}))
        await connection.executemany(
            _INSERT,
            [
                (
                    e.event_id,
                    e.subject.id,
                    zlib.crc32(e.subject.id.encode()) % self.buckets,
                    self.exchange,
                    e.routing_key,
                    e.event_type,
                    e.correlation_id,
                    encode(e),
                    headers,
                )
                for e in envelopes
            ],
        )
        await connection.execute(_NOTIFY)


class OutboxRelay:
    """Publishes outbox rows to the broker; safe to run as several replicas."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        connection: AbstractConnection,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        retention: timedelta = timedelta(hours=1),
        metrics: Metrics | None = None,
    ) -> None:
        self._pool = pool
        self._connection = connection
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retention = retention
        self._metrics = metrics or default_metrics()
        self._wake = asyncio.Event()
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}

    async def run(self, stopping: asyncio.Event) -> None:
        """Relay until ``stopping`` is set: wake on NOTIFY, poll as the fallback."""
        await self.open()
        try:
            async with self._pool.acquire() as listener:
                await listener.add_listener(CHANNEL, self._on_notify)
                try:
                    await self._loop(stopping)
                finally:
                    await listener.remove_listener(CHANNEL, self._on_notify)
        finally:
            await self.close()

    async def drain(self) -> int:
        """Publish every unpublished row now, then return how many were published."""
        await self.open()
        total = 0
        while published := await self.relay_once():
            total += published
        return total

    async def open(self) -> None:
        """Open the relay's confirming channel (``run`` and ``drain`` do it themselves)."""
        if self._channel is None or self._channel.is_closed:
            self._channel = await self._connection.channel(publisher_confirms=True)
            self._exchanges = {EVENTS_EXCHANGE: await declare_events_exchange(self._channel)}

    async def close(self) -> None:
        """Close the relay's channel."""
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()
        self._channel = None

    async def _loop(self, stopping: asyncio.Event) -> None:
        idle_rounds = 0
        while not stopping.is_set():
            try:
                published = await self.relay_once()
            except (aio_pika.exceptions.AMQPError, OSError, asyncpg.PostgresError) as exc:
                logger.warning("outbox relay failed, retrying: %r", exc)
                published = 0
                await _wait(stopping, self._poll_interval)
            if published >= self._batch_size:
                continue
            idle_rounds += 1
            if idle_rounds % 60 == 1:
                await self._housekeeping()
            self._wake.clear()
            await _wait_any(stopping, self._wake, self._poll_interval)

    async def relay_once(self) -> int:
        """Publish one batch of unpublished rows and mark them sent; return how many."""
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(_CLAIM, self._batch_size, _LOCK_SPACE)
            if not rows:
                return 0
            by_key: dict[str, list[asyncpg.Record]] = {}
            for row in rows:
                by_key.setdefault(row["partition_key"], []).append(row)
            await asyncio.gather(
                *(self._publish_in_order(key_rows) for key_rows in by_key.values())
            )
            await connection.execute(_MARK, [row["id"] for row in rows])
        return len(rows)

    async def _publish_in_order(self, rows: Sequence[asyncpg.Record]) -> None:
        for row in rows:
            exchange = await self._exchange(row["exchange"])
            envelope_id = str(row["event_id"])
            with publish_span(
                routing_key=row["routing_key"],
                event_type=row["event_type"],
                message_id=envelope_id,
                correlation_id=row["correlation_id"],
                destination=row["exchange"],
                parent=json.loads(row["headers"]),
            ):
                headers = inject({})
                await exchange.publish(
                    aio_pika.Message(
                        bytes(row["body"]),
                        headers=headers,
                        content_type=CONTENT_TYPE,
                        message_id=envelope_id,
                        type=row["event_type"],
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=row["routing_key"],
                )
            self._metrics.published.labels(row["event_type"]).inc()

    async def _exchange(self, name: str) -> AbstractExchange:
        if name not in self._exchanges:
            assert self._channel is not None  # noqa: S101 - set in open()
            self._exchanges[name] = await self._channel.get_exchange(name)
        return self._exchanges[name]

    async def _housekeeping(self) -> None:
        async with self._pool.acquire() as connection:
            lag = await connection.fetchval(_OLDEST)
            self._metrics.outbox_lag.set(float(lag or 0))
            await connection.execute(_PURGE, self._retention)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        pass


async def _wait_any(stopping: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stopping.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
