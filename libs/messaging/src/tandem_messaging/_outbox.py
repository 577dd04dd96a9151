"""The transactional outbox and its relay.

``Outbox.add`` writes an event in the caller's transaction, so it exists if and only if the
state change it announces committed. ``OutboxRelay`` publishes unpublished rows with publisher
confirms and marks them sent. Rows are spread over buckets by partition key; a relay takes a
transaction-scoped advisory lock per bucket, so several replicas never publish one key's events
concurrently and each key's events leave in commit order (a batch is pipelined on one channel,
which keeps that order, and its confirms are awaited together). A crash between publish and
mark republishes: consumers' inboxes drop the duplicate. Each message carries its partition key
in ``x-tandem-partition-key``, so consumer groups keep one key on one partition. A batch with
a refused (nacked) publish is republished whole, so a key's later event may then arrive
before the refused one: the inbox's subject versions keep an older version of one subject
from overriding a newer.

Producers must write their state change before adding its event, so that two transactions
touching one subject take outbox ids in commit order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import zlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import aiormq.abc
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractConnection
from pamqp.commands import Basic

from tandem_contracts import CONTENT_TYPE, EVENTS_EXCHANGE, Envelope, encode, message_type
from tandem_messaging._db import DbConnection
from tandem_messaging._errors import PublishNotConfirmedError
from tandem_messaging._metrics import Metrics, default_metrics
from tandem_messaging._topology import declare_events_exchange, partition_header
from tandem_messaging._tracing import enabled as tracing_enabled
from tandem_messaging._tracing import inject, publish_span

__all__ = ["Outbox", "OutboxRelay"]

logger = logging.getLogger(__name__)

CHANNEL = "tandem_outbox"
_LOCK_SPACE = 0x7A4D  # advisory-lock namespace of outbox buckets
_INSERT = """
INSERT INTO messaging.outbox
    (event_id, partition_key, bucket, exchange, routing_key, event_type, message_type,
     correlation_id, body, headers)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)
"""
_NOTIFY = f"SELECT pg_notify('{CHANNEL}', '')"
_CLAIM = """
SELECT id, event_id, partition_key, exchange, routing_key, event_type, message_type,
       correlation_id, body, headers::text
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

    def __init__(
        self,
        *,
        buckets: int = 64,
        exchange: str = EVENTS_EXCHANGE,
        partition: Callable[[Envelope[Any]], str] | None = None,
    ) -> None:
        self.buckets = buckets
        self.exchange = exchange
        self.partition = partition
        """What keeps events in order across relay replicas (default: the subject id); e.g.
        the worker, so that one worker's entries leave in commit order."""

    async def add(self, connection: DbConnection, *envelopes: Envelope[Any]) -> None:
        """Write ``envelopes`` to the outbox; they publish only if the transaction commits."""
        headers = json.dumps(inject({}))
        key = self.partition or _subject
        await connection.executemany(
            _INSERT,
            [
                (
                    e.event_id,
                    key(e),
                    zlib.crc32(key(e).encode()) % self.buckets,
                    self.exchange,
                    e.routing_key,
                    e.event_type,
                    message_type(e),
                    e.correlation_id,
                    encode(e),
                    headers,
                )
                for e in envelopes
            ],
        )
        await connection.execute(_NOTIFY)


def _subject(envelope: Envelope[Any]) -> str:
    return envelope.subject.id


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
            await declare_events_exchange(self._channel)

    async def close(self) -> None:
        """Close the relay's channel."""
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await channel.close()

    async def _loop(self, stopping: asyncio.Event) -> None:
        idle_rounds = 0
        while not stopping.is_set():
            # Cleared before relaying: a NOTIFY that lands during the batch wakes the next round.
            self._wake.clear()
            try:
                published = await self.relay_once()
                if published < self._batch_size and idle_rounds % 60 == 0:
                    await self._housekeeping()
            except Exception as exc:  # the relay outlives broker and database outages
                logger.warning("outbox relay failed, retrying: %r", exc)
                await _wait(stopping, self._poll_interval)
                await self._reopen()
                continue
            if published >= self._batch_size:
                continue
            idle_rounds += 1
            await _wait_any(stopping, self._wake, self._poll_interval)

    async def _reopen(self) -> None:
        try:
            await self.close()
            await self.open()
        except Exception as exc:  # still down: the next round tries again
            logger.info("outbox relay cannot reopen its channel yet: %r", exc)

    async def relay_once(self) -> int:
        """Publish one batch of unpublished rows and mark them sent; return how many."""
        await self.open()
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(_CLAIM, self._batch_size, _LOCK_SPACE)
            if not rows:
                return 0
            await self._publish(rows)
            await connection.execute(_MARK, [row["id"] for row in rows])
        return len(rows)

    async def _publish(self, rows: Sequence[asyncpg.Record]) -> None:
        """Publish ``rows`` on one channel in their order, then wait for every confirm.

        The publishes are pipelined: each starts, in row order, before the previous one is
        confirmed. One channel delivers its frames in order, so each key's events still reach
        the broker in commit order without a confirm round trip per event.
        """
        assert self._channel is not None  # noqa: S101 - set in open()
        # The underlying aiormq channel: aio-pika's Message wrapper costs more CPU than the
        # publish itself, and the relay publishes every event the service emits.
        channel = await self._channel.get_underlay_channel()
        # Tasks start in creation order and take the channel's (FIFO) lock in that order.
        await asyncio.gather(*(self._publish_one(channel, row) for row in rows))

    async def _publish_one(self, channel: aiormq.abc.AbstractChannel, row: asyncpg.Record) -> None:
        envelope_id = str(row["event_id"])
        with publish_span(
            routing_key=row["routing_key"],
            event_type=row["event_type"],
            message_id=envelope_id,
            correlation_id=row["correlation_id"],
            destination=row["exchange"],
            parent=json.loads(row["headers"]) if tracing_enabled() else None,
        ):
            confirmation = await channel.basic_publish(
                bytes(row["body"]),
                exchange=row["exchange"],
                routing_key=row["routing_key"],
                properties=Basic.Properties(
                    content_type=CONTENT_TYPE,
                    delivery_mode=2,
                    message_id=envelope_id,
                    message_type=row["message_type"],
                    # The consumer groups' hash exchanges put one key's events on one partition.
                    headers=inject(partition_header(row["partition_key"])),
                ),
            )
        if not isinstance(confirmation, Basic.Ack):
            raise PublishNotConfirmedError(f"the broker did not confirm {envelope_id}")
        self._metrics.published.labels(row["event_type"]).inc()

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
