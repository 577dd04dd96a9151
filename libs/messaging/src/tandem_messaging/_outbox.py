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
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy
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
_MAX_BACKOFF_S = 5.0  # the longest wait between two failed rounds (unless polling is slower)
_LET_GO_S = 5.0  # how long shutdown waits for the listening connection to UNLISTEN


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
        self._listener: _Listener | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        """Relay until ``stopping`` is set: wake on NOTIFY, poll as the fallback. The
        listening connection is taken again after the database comes back."""
        await self.open()
        try:
            await self._loop(stopping)
        finally:
            await self._unlisten()
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
        idle_rounds = failures = 0
        while not stopping.is_set():
            # Cleared before relaying: a NOTIFY that lands during the batch wakes the next round.
            self._wake.clear()
            try:
                await self._listen()
                published = await self.relay_once()
                if published < self._batch_size and idle_rounds % 60 == 0:
                    await self._housekeeping()
            except Exception as exc:  # the relay outlives broker and database outages
                failures += 1
                logger.warning("outbox relay failed, retrying: %r", exc)
                await _wait(stopping, self._backoff(failures))
                await self._reopen()
                continue
            failures = 0
            if published >= self._batch_size:
                continue
            idle_rounds += 1
            await _wait_any(stopping, self._wake, self._poll_interval)

    def _backoff(self, failures: int) -> float:
        longest = max(_MAX_BACKOFF_S, self._poll_interval)
        return min(self._poll_interval * 2.0 ** min(failures - 1, 16), longest)

    async def _listen(self) -> None:
        """LISTEN on a connection of the relay's own, again if the last one was lost (a round
        follows at once, so what was notified meanwhile is relayed)."""
        if self._listener is not None and not self._listener.lost:
            return
        await self._unlisten()
        self._listener = _Listener(await self._pool.acquire(), self._wake)
        try:
            await self._listener.connection.add_listener(CHANNEL, self._on_notify)
        except BaseException:
            await self._unlisten()
            raise

    async def _unlisten(self) -> None:
        """Give the listening connection back, whatever state it is in (gone, released by the
        pool when it was lost, or fine)."""
        listener, self._listener = self._listener, None
        if listener is None or listener.lost:
            return  # the pool took a lost connection back when it closed
        connection = listener.connection
        try:
            connection.remove_termination_listener(listener.on_lost)
            async with asyncio.timeout(_LET_GO_S):
                await connection.remove_listener(CHANNEL, self._on_notify)
                await self._pool.release(connection)
        except Exception as exc:  # lost or hung: close it, the pool makes another
            logger.info("outbox relay drops its listening connection: %r", exc)
            with contextlib.suppress(Exception):
                connection.terminate()

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


class _Listener:
    """The relay's LISTEN connection; ``lost`` once it closed (the relay then takes another)."""

    def __init__(self, connection: PoolConnectionProxy[Record], wake: asyncio.Event) -> None:
        self.connection = connection
        self.lost = False
        self._wake = wake
        connection.add_termination_listener(self.on_lost)

    def on_lost(self, *_: object) -> None:
        self.lost = True
        self._wake.set()  # the next round listens again at once


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
