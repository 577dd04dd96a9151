"""Testing aid: drive a router's handlers with typed events, no broker and no database.

    broker = InMemoryBroker(router)
    outcome = await broker.deliver(envelope)
    assert outcome is Outcome.HANDLED
    assert broker.published_of(TimePosted)

It applies the runtime's semantics: duplicates (same event id or idempotency key) and stale
subject versions are dropped, failures are classified by the consumer's own ``classify``, the
router's unit of work is made per delivery (from ``connection``) and flushed after the deferred
work, and a message parked for a missing dependency is redelivered once a handler satisfies it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

import aio_pika
import asyncpg
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)
from prometheus_client import CollectorRegistry

from tandem_contracts import Envelope, Event, decode, encode
from tandem_messaging._consumer import Consumer, ConsumerSettings
from tandem_messaging._errors import DependencyMissing, PermanentError, Verdict, classify
from tandem_messaging._metrics import Metrics
from tandem_messaging._outbox import OutboxRelay
from tandem_messaging._router import HandlerContext, Router, TransactionScope
from tandem_messaging._topology import declare_events_exchange

__all__ = ["InMemoryBroker", "Outcome", "RabbitBroker"]

E = TypeVar("E", bound=Event)


class Outcome(Enum):
    """What the runtime would do with a delivered message."""

    HANDLED = "handled"
    DUPLICATE = "duplicate"
    STALE = "stale"
    RETRY = "retry"
    PARKED = "parked"
    WAITING = "waiting"  # parked until a dependency is satisfied
    HELD = "held"  # a downstream is down: kept and retried, never parked


@dataclass
class InMemoryBroker:
    """Runs ``router``'s handlers in memory; ``connection`` is handed to handlers as is."""

    router: Router
    connection: Any = None
    consumer: str = "in-memory"
    published: list[Envelope[Any]] = field(default_factory=list)
    parked: list[tuple[Envelope[Any], Exception]] = field(default_factory=list)
    waiting: dict[str, list[Envelope[Any]]] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)
    _versions: dict[tuple[str, str], int] = field(default_factory=dict)

    async def deliver(self, envelope: Envelope[Any], *, attempt: int = 1) -> Outcome:
        """Hand ``envelope`` to its handler; return what the runtime would do next."""
        if str(envelope.event_id) in self._seen or envelope.idempotency_key in self._seen:
            return Outcome.DUPLICATE
        subject = (envelope.subject.type, envelope.subject.id)
        stale = self._versions.get(subject, 0) >= envelope.subject_version
        if stale and not self.router.accept_stale:
            self._remember(envelope, subject)
            return Outcome.STALE
        staged: list[Envelope[Any]] = []

        async def stage(event: Envelope[Any]) -> None:
            staged.append(event)

        context = HandlerContext(
            envelope=envelope,
            consumer=self.consumer,
            service=self.router.service,
            attempt=attempt,
            connection=self.connection,
            _publisher=stage,
            scope=TransactionScope(uow=self.router.unit_of_work(self.connection)),
        )
        handler = self.router.handlers.get(envelope.event_type)
        try:
            if handler is None:
                raise PermanentError("no_handler", f"no handler for {envelope.event_type}")
            await handler(envelope, context)
            await context.scope.finish()
        except Exception as exc:
            return await self._failed(envelope, exc, attempt)
        self._remember(envelope, subject)
        self.published.extend(staged)
        for key in context.satisfied:
            for waiting in self.waiting.pop(key, []):
                await self.deliver(waiting)
        return Outcome.HANDLED

    def published_of(self, model: type[E]) -> list[Envelope[E]]:
        """Return the published envelopes whose payload is a ``model``."""
        return [e for e in self.published if isinstance(e.payload, model)]

    async def _failed(self, envelope: Envelope[Any], exc: Exception, attempt: int) -> Outcome:
        verdict = classify(exc)
        if verdict is Verdict.HOLD:
            return Outcome.HELD
        if verdict in (Verdict.RETRY, Verdict.RETRY_UNFORESEEN):
            return Outcome.RETRY
        if isinstance(exc, DependencyMissing):
            self.waiting.setdefault(exc.key, []).append(envelope)
            await self._parked_hook(envelope, exc, attempt)
            return Outcome.WAITING
        self.parked.append((envelope, exc))
        await self._parked_hook(envelope, exc, attempt)
        return Outcome.PARKED

    async def _parked_hook(self, envelope: Envelope[Any], exc: Exception, attempt: int) -> None:
        if self.router.on_parked is None:
            return

        async def publish(event: Envelope[Any]) -> None:
            self.published.append(event)

        context = HandlerContext(
            envelope=envelope,
            consumer=self.consumer,
            service=self.router.service,
            attempt=attempt,
            connection=self.connection,
            _publisher=publish,
            scope=TransactionScope(uow=self.router.unit_of_work(self.connection)),
        )
        await self.router.on_parked(envelope, exc, context)
        await context.scope.finish()

    def _remember(self, envelope: Envelope[Any], subject: tuple[str, str]) -> None:
        self._seen.update((str(envelope.event_id), envelope.idempotency_key))
        self._versions[subject] = max(self._versions.get(subject, 0), envelope.subject_version)


class RabbitBroker:
    """The driving API of ``InMemoryBroker``, over the real runtime: the same handler tests
    run against RabbitMQ and PostgreSQL.

    Runs ``router`` in a real ``Consumer`` with an ``OutboxRelay``; a spy queue bound to every
    routing key records what the handlers publish. ``deliver`` publishes an envelope and waits
    until the consumer settled it (handled, dropped or parked) and its events were relayed.
    """

    def __init__(
        self,
        router: Router,
        *,
        pool: asyncpg.Pool,
        connection: AbstractConnection,
        queue: str = "harness",
        settings: ConsumerSettings | None = None,
        within: float = 20.0,
    ) -> None:
        self.router = router
        self.published: list[Envelope[Any]] = []
        self._pool = pool
        self._connection = connection
        self._within = within
        self._registry = CollectorRegistry()
        self._consumer = Consumer(
            router,
            queue=queue,
            pool=pool,
            connection=connection,
            settings=settings,
            metrics=Metrics(self._registry),
        )
        self._queue = queue
        self._stopping = asyncio.Event()
        self._relay: asyncio.Task[None] | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def __aenter__(self) -> RabbitBroker:
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await declare_events_exchange(self._channel)
        spy = await self._channel.declare_queue(exclusive=True)
        await spy.bind(self._exchange, routing_key="#")
        await spy.consume(self._spy, no_ack=True)
        await self._consumer.start()
        relay = OutboxRelay(self._pool, self._connection, poll_interval=0.1)
        self._relay = asyncio.create_task(relay.run(self._stopping))
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stopping.set()
        if self._relay is not None:
            await self._relay
        await self._consumer.stop()
        if self._channel is not None:
            await self._channel.close()

    async def deliver(self, envelope: Envelope[Any], *, attempt: int = 1) -> Outcome:
        """Publish ``envelope``; wait until it is settled and its effects relayed."""
        assert self._exchange is not None  # noqa: S101 - set on entry
        before = self._settled()
        await self._exchange.publish(
            aio_pika.Message(
                encode(envelope),
                headers={"x-tandem-attempt": attempt},
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=envelope.routing_key,
        )
        deadline = time.monotonic() + self._within
        while (after := self._settled()) == before:
            await _tick(deadline, f"{envelope.event_type} to be settled")
        while not await self._relayed():
            await _tick(deadline, "the handler's events to be relayed")
        [outcome] = [kind for kind, n in after.items() if n > before.get(kind, 0)]
        return outcome

    def published_of(self, model: type[E]) -> list[Envelope[E]]:
        """Return the published envelopes whose payload is a ``model``."""
        return [e for e in self.published if isinstance(e.payload, model)]

    async def _spy(self, message: AbstractIncomingMessage) -> None:
        if message.headers and "x-tandem-attempt" in message.headers:
            return  # delivered by the test itself, not published by a handler
        self.published.append(decode(message.body))

    async def _relayed(self) -> bool:
        row = await self._pool.fetchrow(
            "SELECT count(*) FILTER (WHERE published_at IS NULL) AS waiting,"
            " count(*) FILTER (WHERE published_at IS NOT NULL) AS sent FROM messaging.outbox"
        )
        assert row is not None  # noqa: S101 - an aggregate always returns a row
        return bool(row["waiting"] == 0 and len(self.published) >= row["sent"])

    def _settled(self) -> dict[Outcome, float]:
        def sample(name: str, **labels: str) -> float:
            total = 0.0
            for metric in self._registry.collect():
                for s in metric.samples:
                    if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                        total += s.value
            return total

        queue = self._queue
        return {
            Outcome.HANDLED: sample("tandem_messages_handled_total", consumer=queue),
            Outcome.DUPLICATE: sample("tandem_messages_duplicates_total", consumer=queue),
            Outcome.STALE: sample("tandem_messages_stale_total", consumer=queue),
            Outcome.WAITING: sample(
                "tandem_messages_parked_total", consumer=queue, reason="dependency_missing"
            ),
            Outcome.PARKED: sample("tandem_messages_parked_total", consumer=queue)
            - sample("tandem_messages_parked_total", consumer=queue, reason="dependency_missing"),
        }


async def _tick(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError(f"timed out waiting for {what}")
    await asyncio.sleep(0.02)
