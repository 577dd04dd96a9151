"""The consumer: inbox-deduplicated, per-key ordered, classified failures, graceful stop.

Messages are decoded on arrival and queued to one of ``concurrency`` lanes by the hash of
their subject id, so one subject's events are handled in order while different subjects run
in parallel. Each message is handled in one database transaction with its inbox row and the
events it publishes; it is acked only after that commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from tandem_contracts import CONTENT_TYPE, DEFAULT_MAX_BYTES, DecodeError, Envelope, decode
from tandem_messaging import _parking as parking
from tandem_messaging._context import correlation_id
from tandem_messaging._db import DbConnection
from tandem_messaging._errors import (
    DependencyMissing,
    DownstreamUnavailable,
    PermanentError,
    TransientError,
)
from tandem_messaging._flow import Breakers
from tandem_messaging._inbox import Claim, claim
from tandem_messaging._metrics import Metrics, default_metrics
from tandem_messaging._outbox import Outbox
from tandem_messaging._router import HandlerContext, Router
from tandem_messaging._topology import ConsumerTopology, DeclaredTopology, declare_consumer
from tandem_messaging._tracing import consume_span

__all__ = ["Consumer", "ConsumerSettings"]

logger = logging.getLogger(__name__)

_Delivery = tuple[AbstractIncomingMessage, Envelope[Any]]


@dataclass(frozen=True)
class ConsumerSettings:
    """How a consumer takes and retries work.

    ``concurrency`` lanes each commit up to ``batch_size`` consecutive deliveries in one
    transaction. The defaults suit handlers that mostly talk to their own database (measured
    by ``make bench-runtime``: fewer lanes make bigger batches); raise ``concurrency`` for
    handlers that wait on slow downstream calls, and lower ``batch_size`` to 1 for handlers
    whose external calls are expensive to repeat when a batch is redone one by one.
    """

    prefetch: int = 256
    concurrency: int = 4
    batch_size: int = 32
    retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    max_attempts: int = 5
    delivery_limit: int = 10
    breaker_threshold: int = 3
    probe_backoff: tuple[float, float] = (0.5, 30.0)
    shutdown_grace: float = 30.0
    max_body_bytes: int = DEFAULT_MAX_BYTES
    regions: tuple[str, ...] = ("*",)


class Consumer:
    """Consumes one queue with the handlers of ``router``."""

    def __init__(
        self,
        router: Router,
        *,
        queue: str,
        pool: asyncpg.Pool,
        connection: AbstractConnection,
        settings: ConsumerSettings | None = None,
        outbox: Outbox | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.router = router
        self.queue_name = queue
        self.settings = settings or ConsumerSettings()
        self.topology = ConsumerTopology(
            queue=queue,
            bindings=router.bindings(self.settings.regions),
            retry_delays=self.settings.retry_delays,
            delivery_limit=self.settings.delivery_limit,
        )
        self._pool = pool
        self._connection = connection
        self._outbox = outbox or Outbox()
        self._metrics = metrics or default_metrics()
        self._breakers = Breakers(
            self.settings.breaker_threshold, *self.settings.probe_backoff, self._pause, self._resume
        )
        self._stopping = asyncio.Event()
        self._lanes: list[asyncio.Queue[_Delivery | None]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._channel: AbstractChannel | None = None
        self._publisher: AbstractChannel | None = None
        self._declared: DeclaredTopology | None = None
        self._tag: str | None = None
        self._dead_letter_tag: str | None = None
        self._paused_by: set[str] = set()
        self._children: dict[str, tuple[Any, Any]] = {}

    async def start(self) -> None:
        """Declare the topology and start consuming."""
        self._channel = await self._connection.channel()
        await self._channel.set_qos(prefetch_count=self.settings.prefetch)
        self._publisher = await self._connection.channel(publisher_confirms=True)
        self._declared = await declare_consumer(self._channel, self.topology)
        self._lanes = [asyncio.Queue() for _ in range(self.settings.concurrency)]
        self._workers = [asyncio.create_task(self._work(lane)) for lane in self._lanes]
        self._tag = await self._declared.queue.consume(self._on_message)
        self._dead_letter_tag = await self._declared.dead_letter_queue.consume(self._on_dead_letter)

    async def stop(self) -> None:
        """Stop taking messages, finish the ones in hand, ack nothing uncommitted, close."""
        self._stopping.set()
        if self._declared is not None:
            with contextlib.suppress(aio_pika.exceptions.AMQPError, RuntimeError):
                if self._tag is not None:
                    await self._declared.queue.cancel(self._tag)
                if self._dead_letter_tag is not None:
                    await self._declared.dead_letter_queue.cancel(self._dead_letter_tag)
        for lane in self._lanes:
            lane.put_nowait(None)
        if self._workers:
            _, pending = await asyncio.wait(self._workers, timeout=self.settings.shutdown_grace)
            for task in pending:
                task.cancel()
        for channel in (self._channel, self._publisher):
            if channel is not None and not channel.is_closed:
                with contextlib.suppress(aio_pika.exceptions.AMQPError, RuntimeError):
                    await channel.close()

    async def __aenter__(self) -> Consumer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @property
    def paused(self) -> bool:
        """True while intake is paused because a downstream is down."""
        return bool(self._paused_by)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # No await before the lane is chosen: deliveries reach lanes in broker order.
        try:
            envelope = decode(
                message.body, max_bytes=self.settings.max_body_bytes, type_hint=message.type
            )
        except DecodeError as exc:
            await self._park_undecodable(message, exc)
            return
        key = zlib.crc32(envelope.subject.id.encode()) % len(self._lanes)
        self._lanes[key].put_nowait((message, envelope))

    async def _work(self, lane: asyncio.Queue[_Delivery | None]) -> None:
        stop = False
        while not stop and (first := await lane.get()) is not None:
            batch = [first]
            while len(batch) < self.settings.batch_size and not lane.empty():
                item = lane.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            if self._stopping.is_set():
                continue  # leave them unacked: the broker hands them out again
            if len(batch) > 1 and await self._handle_batch(batch):
                continue
            for message, envelope in batch:
                await self._handle_one(message, envelope)

    async def _handle_batch(self, batch: list[_Delivery]) -> bool:
        """Handle consecutive deliveries of a lane in one transaction; False if any failed.

        A failure rolls the whole batch back and the caller handles each message alone, so
        a handler's external calls may repeat (they are at-least-once in any case).
        """
        started = time.perf_counter()
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                results = []
                for message, envelope in batch:
                    with _handling(envelope, message, self.queue_name):
                        results.append(await self._apply(connection, envelope, _attempt(message)))
        except Exception:
            return False
        elapsed = (time.perf_counter() - started) / len(batch)
        released: list[str] = []
        for (message, envelope), (outcome, satisfied) in zip(batch, results, strict=True):
            self._record_success(envelope, outcome, elapsed)
            await _ack(message)
            released += satisfied
        if released:
            await self._release(released)
        return True

    async def _handle_one(self, message: AbstractIncomingMessage, envelope: Envelope[Any]) -> None:
        with _handling(envelope, message, self.queue_name):
            try:
                await self._handle(message, envelope)
            except Exception:
                logger.exception("runtime error on %s; the message goes back", self.queue_name)
                await _give_back(message, self._stopping)

    async def _handle(self, message: AbstractIncomingMessage, envelope: Envelope[Any]) -> None:
        attempt = _attempt(message)
        held_for: str | None = None
        while True:
            started = time.perf_counter()
            try:
                async with self._pool.acquire() as connection, connection.transaction():
                    outcome, satisfied = await self._apply(connection, envelope, attempt)
            except DownstreamUnavailable as exc:
                self._count_failure(envelope, "downstream")
                held_for = exc.downstream
                await self._breakers.failed(exc.downstream)
                delay = self._breakers.backoff(exc.downstream, exc.retry_after)
                if await _stopped_within(self._stopping, delay):
                    return  # unacked: redelivered after restart, nothing parked
                continue
            except DependencyMissing as exc:
                self._count_failure(envelope, "dependency_missing")
                await self._park(message, envelope, exc, attempt, waiting_for=exc.key)
            except PermanentError as exc:
                self._count_failure(envelope, "permanent")
                await self._park(message, envelope, exc, attempt)
            except Exception as exc:  # transient or unforeseen: retry, then park
                transient = isinstance(exc, TransientError)
                self._count_failure(envelope, "transient" if transient else "unexpected")
                if not transient:
                    logger.warning("handler of %s raised %r", envelope.event_type, exc)
                await self._retry_or_park(message, envelope, exc, attempt)
            else:
                self._record_success(envelope, outcome, time.perf_counter() - started)
                if held_for is not None:
                    await self._breakers.recovered(held_for)
                await _ack(message)
                if satisfied:
                    await self._release(satisfied)
                return
            await _ack(message)
            return

    async def _apply(
        self, connection: DbConnection, envelope: Envelope[Any], attempt: int
    ) -> tuple[Claim, list[str]]:
        """Claim ``envelope`` in the inbox and run its handler, in the caller's transaction."""
        handler = self.router.handlers.get(envelope.event_type)
        if handler is None:
            raise PermanentError("no_handler", f"{self.queue_name} has no handler for it")
        outcome = await claim(connection, self.queue_name, envelope)
        if outcome is Claim.STALE and self.router.accept_stale:
            outcome = Claim.NEW
        if outcome is not Claim.NEW:
            return outcome, []

        async def publish(event: Envelope[Any]) -> None:
            await self._outbox.add(connection, event)

        context = HandlerContext(
            envelope=envelope,
            consumer=self.queue_name,
            service=self.router.service,
            attempt=attempt,
            connection=connection,
            _publisher=publish,
        )
        await handler(envelope, context)
        if context.satisfied:
            await parking.record_satisfied(connection, self.queue_name, context.satisfied)
        return outcome, context.satisfied

    def _record_success(self, envelope: Envelope[Any], outcome: Claim, seconds: float) -> None:
        if outcome is Claim.NEW:
            handled, latency = self._per_type(envelope.event_type)
            handled.inc()
            latency.observe(seconds)
        else:
            self._count_outcome(envelope, outcome)

    def _per_type(self, event_type: str) -> tuple[Any, Any]:
        # Label lookups cost as much as the increments: keep each event type's children.
        children = self._children.get(event_type)
        if children is None:
            children = (
                self._metrics.handled.labels(self.queue_name, event_type),
                self._metrics.handler_seconds.labels(self.queue_name, event_type),
            )
            self._children[event_type] = children
        return children

    async def _retry_or_park(
        self,
        message: AbstractIncomingMessage,
        envelope: Envelope[Any],
        exc: Exception,
        attempt: int,
    ) -> None:
        if attempt >= self.settings.max_attempts:
            await self._park(message, envelope, exc, attempt, reason="retries_exhausted")
            return
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        level = self.topology.level_for(attempt, retry_after)
        headers = dict(message.headers or {})
        headers.setdefault(parking.FIRST_FAILURE_HEADER, _now().isoformat())
        headers.setdefault(parking.ROUTING_KEY_HEADER, message.routing_key or "")
        headers[parking.ATTEMPT_HEADER] = attempt + 1
        headers["x-tandem-last-error"] = f"{type(exc).__name__}: {exc}"[:500]
        assert self._declared is not None  # noqa: S101 - set in start()
        retry_exchange = await self._publishing().get_exchange(self._declared.retry.name)
        await retry_exchange.publish(
            _copy(message, headers), routing_key=self.topology.retry_queue(level)
        )
        self._metrics.retried.labels(self.queue_name).inc()

    async def _park(
        self,
        message: AbstractIncomingMessage,
        envelope: Envelope[Any] | None,
        exc: BaseException,
        attempt: int,
        *,
        reason: str | None = None,
        waiting_for: str | None = None,
    ) -> None:
        headers = message.headers or {}
        first = headers.get(parking.FIRST_FAILURE_HEADER)
        failure = parking.Failure(
            reason=reason or getattr(exc, "reason", None) or "unexpected",
            detail=str(exc) or type(exc).__name__,
            exception_class=f"{type(exc).__module__}.{type(exc).__qualname__}",
            attempts=attempt,
            first_failure_at=datetime.fromisoformat(str(first)) if first else _now(),
            last_failure_at=_now(),
            waiting_for=waiting_for,
        )
        async with self._pool.acquire() as connection, connection.transaction():
            parked = await parking.park(
                connection,
                consumer=self.queue_name,
                queue=self.queue_name,
                message=message,
                event_id=envelope.event_id if envelope else None,
                event_type=envelope.event_type if envelope else None,
                failure=failure,
            )
        if parked is None:  # the dependency was met meanwhile: try again at once
            await self._publishing().default_exchange.publish(
                _copy(message, dict(headers)), routing_key=self.queue_name
            )
            return
        self._metrics.parked.labels(self.queue_name, failure.reason).inc()
        logger.warning(
            "parked %s on %s: %s (%s)", failure.reason, self.queue_name, failure.detail, parked
        )

    async def _park_undecodable(self, message: AbstractIncomingMessage, exc: DecodeError) -> None:
        self._metrics.failed.labels(self.queue_name, "undecodable", "decode").inc()
        try:
            await self._park(message, None, exc, 1)
        except Exception:
            logger.exception("could not park an undecodable message; it goes back")
            await _give_back(message, self._stopping)
            return
        await _ack(message)

    async def _on_dead_letter(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope: Envelope[Any] | None = decode(message.body)
        except DecodeError:
            envelope = None
        limit = RuntimeError(
            f"the broker dead-lettered it after {self.settings.delivery_limit} deliveries"
        )
        try:
            await self._park(
                message,
                envelope,
                limit,
                self.settings.delivery_limit,
                reason="delivery_limit_exceeded",
            )
        except Exception:
            logger.exception("could not park a dead-lettered message; it goes back")
            await _give_back(message, self._stopping)
            return
        await _ack(message)

    async def _release(self, keys: Sequence[str]) -> None:
        released = await parking.release(self._pool, self._publishing(), self.queue_name, keys)
        if released:
            self._metrics.released.labels(self.queue_name).inc(released)
            logger.info("released %d parked message(s) waiting for %s", released, list(keys))

    async def _pause(self, downstream: str) -> None:
        self._metrics.paused.labels(self.queue_name, downstream).set(1)
        first = not self._paused_by
        self._paused_by.add(downstream)
        if first and self._tag is not None and self._declared is not None:
            await self._declared.queue.cancel(self._tag)
            self._tag = None

    async def _resume(self, downstream: str) -> None:
        self._metrics.paused.labels(self.queue_name, downstream).set(0)
        self._paused_by.discard(downstream)
        if not self._paused_by and self._tag is None and self._declared is not None:
            if not self._stopping.is_set():
                self._tag = await self._declared.queue.consume(self._on_message)

    def _publishing(self) -> AbstractChannel:
        assert self._publisher is not None  # noqa: S101 - set in start()
        return self._publisher

    def _count_failure(self, envelope: Envelope[Any], failure: str) -> None:
        self._metrics.failed.labels(self.queue_name, envelope.event_type, failure).inc()

    def _count_outcome(self, envelope: Envelope[Any], outcome: Claim) -> None:
        if outcome is Claim.DUPLICATE:
            self._metrics.duplicates.labels(self.queue_name).inc()
        elif outcome is Claim.STALE:
            self._metrics.stale.labels(self.queue_name).inc()
        else:
            self._metrics.handled.labels(self.queue_name, envelope.event_type).inc()


@contextlib.contextmanager
def _handling(
    envelope: Envelope[Any], message: AbstractIncomingMessage, consumer: str
) -> Iterator[None]:
    token = correlation_id.set(envelope.correlation_id)
    try:
        with consume_span(envelope, message.headers or {}, consumer):
            yield
    finally:
        correlation_id.reset(token)


def _attempt(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(parking.ATTEMPT_HEADER, 1)
    return value if isinstance(value, int) else int(str(value))


def _copy(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type or CONTENT_TYPE,
        message_id=message.message_id,
        type=message.type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


async def _ack(message: AbstractIncomingMessage) -> None:
    try:
        await message.ack()
    except (aio_pika.exceptions.AMQPError, RuntimeError) as exc:
        # The channel is gone (broker restart): the broker redelivers, the inbox drops it.
        logger.warning("ack lost (%r); the redelivery will be deduplicated", exc)


async def _give_back(message: AbstractIncomingMessage, stopping: asyncio.Event) -> None:
    # Pause first so that a dependency that is down (e.g. the database) is not hammered; each
    # give-back counts toward the queue's delivery limit, after which the broker dead-letters.
    if not await _stopped_within(stopping, 1.0):
        with contextlib.suppress(aio_pika.exceptions.AMQPError, RuntimeError):
            await message.nack(requeue=True)


async def _stopped_within(stopping: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        return False
    return True


def _now() -> datetime:
    return datetime.now(UTC)
