"""What becomes of a message its handler did not simply handle: retried, parked, given back.

``Settler`` holds what settling needs of one consumer; the module functions settle a single
delivery (ack it, give it back, copy it for a republish).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from tandem_contracts import CONTENT_TYPE, DecodeError, Envelope, decode
from tandem_messaging import _parking as parking
from tandem_messaging._db import DbConnection
from tandem_messaging._errors import TransientError
from tandem_messaging._headers import (
    ATTEMPT_HEADER,
    FIRST_FAILURE_HEADER,
    LAST_ERROR_HEADER,
    ROUTING_KEY_HEADER,
    attempt_in,
    clean_text,
    first_failure_at,
    routing_key_in,
)
from tandem_messaging._metrics import Metrics
from tandem_messaging._outbox import Outbox
from tandem_messaging._router import HandlerContext, Router, TransactionScope
from tandem_messaging._topology import RETRY_EXCHANGE, ConsumerTopology

__all__ = ["Fence", "Settler", "ack", "attempt_of", "give_back", "stopped_within"]

logger = logging.getLogger(__name__)

Fence = Callable[[DbConnection], Awaitable[None]]
"""Checks, in a transaction, that the partition lease a delivery came by is still held."""


@dataclass
class Settler:
    """Retries, parks and releases the messages of one consumer queue."""

    queue: str
    topology: ConsumerTopology
    pool: asyncpg.Pool
    metrics: Metrics
    stopping: asyncio.Event
    max_attempts: int
    delivery_limit: int
    router: Router
    outbox: Outbox
    publisher: AbstractChannel | None = None

    def channel(self) -> AbstractChannel:
        """The confirming channel retries and releases are published on."""
        assert self.publisher is not None  # noqa: S101 - set when the consumer starts
        return self.publisher

    async def retry_or_park(
        self,
        message: AbstractIncomingMessage,
        envelope: Envelope[Any],
        exc: Exception,
        attempt: int,
        fence: Fence | None = None,
    ) -> None:
        if attempt >= self.max_attempts:
            await self.park(
                message, envelope, exc, attempt, reason="retries_exhausted", fence=fence
            )
            return
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        level = self.topology.level_for(attempt, retry_after)
        headers = dict(message.headers or {})
        # Rewritten, never kept as found: a forged value would otherwise ride every retry.
        headers[FIRST_FAILURE_HEADER] = first_failure_at(headers, _now()).isoformat()
        headers[ROUTING_KEY_HEADER] = routing_key_in(headers, message.routing_key or "")
        headers[ATTEMPT_HEADER] = attempt + 1
        headers[LAST_ERROR_HEADER] = clean_text(f"{type(exc).__name__}: {exc}", 500)
        retry_exchange = await self.channel().get_exchange(RETRY_EXCHANGE)
        await retry_exchange.publish(
            copy_message(message, headers), routing_key=self.topology.retry_queue(level)
        )
        self.metrics.retried.labels(self.queue).inc()

    async def park(
        self,
        message: AbstractIncomingMessage,
        envelope: Envelope[Any] | None,
        exc: BaseException,
        attempt: int,
        *,
        reason: str | None = None,
        waiting_for: str | None = None,
        fence: Fence | None = None,
    ) -> None:
        headers = message.headers or {}
        if waiting_for is not None and attempt >= self.max_attempts:
            # Sent back again and again although its dependency is met: the handler and the key
            # it waits for disagree. Park it for a person instead of looping.
            waiting_for, reason = None, "dependency_unresolved"
        failure = parking.Failure(
            reason=reason or getattr(exc, "reason", None) or "unexpected",
            detail=str(exc) or type(exc).__name__,
            exception_class=f"{type(exc).__module__}.{type(exc).__qualname__}",
            attempts=attempt,
            first_failure_at=first_failure_at(headers, _now()),
            last_failure_at=_now(),
            waiting_for=waiting_for,
        )
        async with self.pool.acquire() as connection, connection.transaction():
            if fence is not None:  # the parking hook's effects count as the partition's
                await fence(connection)
            parked = await parking.park(
                connection,
                consumer=self.queue,
                queue=self.queue,
                message=message,
                event_id=envelope.event_id if envelope else None,
                event_type=envelope.event_type if envelope else None,
                failure=failure,
            )
            if parked is not None and envelope is not None:
                await self._on_parked(connection, envelope, exc, attempt)
        if parked is None:  # the dependency was met meanwhile: try again at once
            again = {**headers, ATTEMPT_HEADER: attempt + 1}
            spread = await self.channel().get_exchange(self.topology.hash_exchange, ensure=False)
            rekeyed = message.routing_key or ""
            await spread.publish(copy_message(message, again), routing_key=rekeyed)
            return
        self.metrics.parked.labels(self.queue, failure.reason).inc()
        logger.warning(
            "parked %s on %s: %s (%s)", failure.reason, self.queue, failure.detail, parked
        )

    async def _on_parked(
        self,
        connection: DbConnection,
        envelope: Envelope[Any],
        exc: BaseException,
        attempt: int,
    ) -> None:
        hook = self.router.on_parked
        if hook is None:
            return

        async def publish(event: Envelope[Any]) -> None:
            await self.outbox.add(connection, event)

        context = HandlerContext(
            envelope=envelope,
            consumer=self.queue,
            service=self.router.service,
            attempt=attempt,
            connection=connection,
            _publisher=publish,
            scope=TransactionScope(uow=self.router.unit_of_work(connection)),
        )
        await hook(envelope, exc, context)
        await context.scope.finish()

    async def park_undecodable(self, message: AbstractIncomingMessage, exc: DecodeError) -> None:
        self.metrics.failed.labels(self.queue, "undecodable", "decode").inc()
        try:
            await self.park(message, None, exc, 1)
        except Exception:
            logger.exception("could not park an undecodable message; it goes back")
            await give_back(message, self.stopping)
            return
        await ack(message)

    async def dead_letter(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope: Envelope[Any] | None = decode(message.body)
        except DecodeError:
            envelope = None
        limit = RuntimeError(f"the broker dead-lettered it after {self.delivery_limit} deliveries")
        try:
            await self.park(
                message,
                envelope,
                limit,
                self.delivery_limit,
                reason="delivery_limit_exceeded",
            )
        except Exception:
            logger.exception("could not park a dead-lettered message; it goes back")
            await give_back(message, self.stopping)
            return
        await ack(message)

    async def release(self, keys: Sequence[str]) -> None:
        released = await parking.release(self.pool, self.channel(), self.queue, keys)
        if released:
            self.metrics.released.labels(self.queue).inc(released)
            logger.info("released %d parked message(s) waiting for %s", released, list(keys))


def attempt_of(message: AbstractIncomingMessage, max_attempts: int) -> int:
    """Return the delivery's attempt number, bounded to 1..``max_attempts`` (see
    ``attempt_in``)."""
    return attempt_in(message.headers or {}, max_attempts)


def copy_message(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type or CONTENT_TYPE,
        message_id=message.message_id,
        type=message.type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


async def ack(message: AbstractIncomingMessage) -> None:
    try:
        await message.ack()
    except (aio_pika.exceptions.AMQPError, RuntimeError) as exc:
        # The channel is gone (broker restart): the broker redelivers, the inbox drops it.
        logger.warning("ack lost (%r); the redelivery will be deduplicated", exc)


async def give_back(message: AbstractIncomingMessage, stopping: asyncio.Event) -> None:
    # Pause first so that a dependency that is down (e.g. the database) is not hammered; each
    # give-back counts toward the queue's delivery limit, after which the broker dead-letters.
    if not await stopped_within(stopping, 1.0):
        with contextlib.suppress(aio_pika.exceptions.AMQPError, RuntimeError):
            await message.nack(requeue=True)


async def stopped_within(stopping: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        return False
    return True


def _now() -> datetime:
    return datetime.now(UTC)
