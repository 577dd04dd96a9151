"""The consumer: inbox-deduplicated, per-key ordered, classified failures, graceful stop.

A consumer is one member of its queue's consumer group: it consumes the partitions whose
leases it holds (``_partitions``), each on a channel of its own. Messages are decoded
on arrival and queued to one of ``concurrency`` lanes by the hash of their subject id (or of
the router's ``lane_key``), so one key's events are handled in order while different keys run
in parallel. Each message is handled in one database transaction with its inbox row and the
events it publishes, fenced by the leases of the partitions it came from; it is acked only
after that commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import AsyncIterator, Collection, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from tandem_contracts import DEFAULT_MAX_BYTES, DecodeError, Envelope, decode
from tandem_messaging import _parking as parking
from tandem_messaging._context import correlation_id
from tandem_messaging._db import DbConnection
from tandem_messaging._errors import (
    DependencyMissing,
    DownstreamUnavailable,
    LeaseLostError,
    PermanentError,
    Verdict,
    classify,
)
from tandem_messaging._flow import Breakers
from tandem_messaging._inbox import Claim, claim, claim_many
from tandem_messaging._leases import Lease, LeaseStore, member_id
from tandem_messaging._metrics import Metrics, default_metrics
from tandem_messaging._outbox import Outbox
from tandem_messaging._partitions import Partitions
from tandem_messaging._router import HandlerContext, Router, TransactionScope
from tandem_messaging._settle import (
    Settler,
    ack,
    attempt_of,
    give_back,
    stopped_within,
)
from tandem_messaging._topology import ConsumerTopology, DeclaredTopology, declare_consumer
from tandem_messaging._tracing import consume_span

__all__ = ["Consumer", "ConsumerSettings"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Delivery:
    message: AbstractIncomingMessage
    envelope: Envelope[Any]
    lease: Lease


_DATABASE_DOWN = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
)


@dataclass(frozen=True)
class ConsumerSettings:
    """How a consumer takes and retries work.

    ``concurrency`` lanes each commit up to ``batch_size`` consecutive deliveries in one
    transaction. The defaults suit handlers that mostly talk to their own database (measured
    by ``make bench-runtime``: fewer lanes make bigger batches); raise ``concurrency`` for
    handlers that wait on slow downstream calls, and lower ``batch_size`` to 1 for handlers
    whose external calls are expensive to repeat when a batch is redone one by one.

    ``partitions`` is how many partition queues the consumer group has (every member must
    agree; it may grow, never shrink). Members heartbeat every ``heartbeat_s``; a lease not
    renewed within ``lease_ttl_s`` may be taken over. ``prefetch`` applies per partition
    consumed (quorum queues have no channel-wide limit).
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
    partitions: int = 1
    heartbeat_s: float = 1.0
    lease_ttl_s: float = 5.0
    depth_every_s: float = 5.0

    def __post_init__(self) -> None:
        if not 1 <= self.partitions <= 256:
            raise ValueError("partitions must be between 1 and 256")
        if not 0 < self.heartbeat_s < self.lease_ttl_s:
            raise ValueError("heartbeat_s must be positive and shorter than lease_ttl_s")


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
        member: str | None = None,
    ) -> None:
        if not router.service:
            raise ValueError("a consumer's router names its service: Router(service=...)")
        self.router = router
        self.queue_name = queue
        self.settings = settings or ConsumerSettings()
        self.topology = ConsumerTopology(
            queue=queue,
            bindings=router.bindings(self.settings.regions),
            retry_delays=self.settings.retry_delays,
            delivery_limit=self.settings.delivery_limit,
            partitions=self.settings.partitions,
        )
        self._pool = pool
        self._connection = connection
        self._outbox = outbox or Outbox()
        self._metrics = metrics or default_metrics()
        self._breakers = Breakers(
            self.settings.breaker_threshold, *self.settings.probe_backoff, self._pause, self._resume
        )
        self._stopping = asyncio.Event()
        self._leases = LeaseStore(
            pool, queue, member or member_id(), self.settings.partitions, self.settings.lease_ttl_s
        )
        self._partitions = Partitions(
            self._leases,
            self._on_message,
            self._metrics,
            self._stopping,
            self.settings.heartbeat_s,
            self.settings.depth_every_s,
            self.settings.prefetch,
        )
        self._lanes: list[asyncio.Queue[_Delivery | None]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._channel: AbstractChannel | None = None
        self._publisher: AbstractChannel | None = None
        self._declared: DeclaredTopology | None = None
        self._dead_letter_tag: str | None = None
        self._paused_by: set[str] = set()
        self._children: dict[str, tuple[Any, Any]] = {}
        self._settle = Settler(
            queue=queue,
            topology=self.topology,
            pool=pool,
            metrics=self._metrics,
            stopping=self._stopping,
            max_attempts=self.settings.max_attempts,
            delivery_limit=self.settings.delivery_limit,
            router=router,
            outbox=self._outbox,
        )

    async def start(self) -> None:
        """Declare the topology, join the consumer group, consume this member's partitions
        (those it can lease at once; the rest as the group rebalances)."""
        self._channel = await self._connection.channel()
        await self._channel.set_qos(prefetch_count=self.settings.prefetch)  # the dead letters
        self._publisher = await self._connection.channel(publisher_confirms=True)
        self._settle.publisher = self._publisher
        self._declared = await declare_consumer(self._channel, self.topology)
        self._lanes = [asyncio.Queue() for _ in range(self.settings.concurrency)]
        self._workers = [asyncio.create_task(self._work(lane)) for lane in self._lanes]
        self._dead_letter_tag = await self._declared.dead_letter_queue.consume(
            self._settle.dead_letter
        )
        self._partitions.connection = self._connection
        self._partitions.channel = self._channel
        await self._partitions.start()

    async def stop(self) -> None:
        """Stop taking messages, finish the ones in hand, ack nothing uncommitted, close the
        channels (the rest goes back to the queues), then hand the leases back (the leases
        are renewed until then)."""
        self._stopping.set()
        await self._partitions.stop_intake()
        if self._declared is not None:
            with contextlib.suppress(aio_pika.exceptions.AMQPError, RuntimeError):
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
        await self._partitions.release_all()

    async def __aenter__(self) -> Consumer:
        try:
            await self.start()
        except BaseException:
            # A start that failed half-way (the broker gone, a declaration refused) has lanes
            # and heartbeats running, some holding pooled connections: stop what it started,
            # or they outlive it and the pool's close waits for them forever.
            with contextlib.suppress(Exception):
                await self.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """True from ``start`` until ``stop``, with every lane and the heartbeat alive (paused
        or not, holding partitions or standing by with none)."""
        return (
            bool(self._workers)
            and not self._stopping.is_set()
            and not any(task.done() for task in self._workers)
            and self._partitions.alive
        )

    @property
    def member(self) -> str:
        """This consumer's member id in its group."""
        return self._leases.member

    @property
    def partitions(self) -> frozenset[int]:
        """The partitions this member holds a lease on right now."""
        return frozenset(self._partitions.held)

    @property
    def paused(self) -> bool:
        """True while intake is paused because a downstream is down."""
        return bool(self._paused_by)

    async def _on_message(self, lease: Lease, message: AbstractIncomingMessage) -> None:
        # No await before the lane is chosen: deliveries reach lanes in broker order.
        self._partitions.taken(lease)
        try:
            envelope = decode(
                message.body, max_bytes=self.settings.max_body_bytes, type_hint=message.type
            )
        except DecodeError as exc:
            try:
                await self._settle.park_undecodable(message, exc)
            finally:
                self._partitions.settled(lease)
            return
        ordering = self.router.lane_key(envelope) if self.router.lane_key else envelope.subject.id
        key = zlib.crc32(ordering.encode()) % len(self._lanes)
        self._lanes[key].put_nowait(_Delivery(message, envelope, lease))

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
            try:
                if not self._stopping.is_set():  # else unacked: the broker hands them out again
                    await self._run(batch)
            finally:
                for delivery in batch:
                    self._partitions.settled(delivery.lease)

    async def _run(self, batch: list[_Delivery]) -> None:
        batch = await self._without(batch, {d.lease for d in batch if not self._holds(d)})
        for run in self._runs(batch):
            if self._stopping.is_set():  # unacked: the broker hands them out again
                return
            if len(run) > 1 and await self._handle_batch(run):
                continue
            for delivery in run:
                if self._holds(delivery):  # else its partition's channel closed, took it back
                    await self._handle_one(delivery)

    def _runs(self, batch: list[_Delivery]) -> list[list[_Delivery]]:
        """``batch`` in order, cut around each delivery of a type handled alone."""
        runs: list[list[_Delivery]] = []
        together: list[_Delivery] = []
        for delivery in batch:
            if delivery.envelope.event_type not in self.router.alone:
                together.append(delivery)
                continue
            if together:
                runs.append(together)
                together = []
            runs.append([delivery])
        if together:
            runs.append(together)
        return runs

    def _holds(self, delivery: _Delivery) -> bool:
        return self._partitions.holds(delivery.lease)

    async def _without(self, batch: list[_Delivery], lost: Collection[Lease]) -> list[_Delivery]:
        """Stop the partitions of ``lost`` leases and answer the rest of ``batch``. Their
        deliveries are dropped unsettled: closing a lost partition's channel gave every one
        of them back to the broker at once, in order, before the partition's next owner could
        take any (a nack one by one would let that owner overtake them)."""
        if not lost:
            return batch
        for lease in lost:
            await self._partitions.lose(lease)
        return [delivery for delivery in batch if delivery.lease not in lost]

    async def _handle_batch(self, batch: list[_Delivery]) -> bool:
        """Handle consecutive deliveries of a lane in one transaction; False if any failed.

        A downstream that is unavailable holds the whole batch, which is retried as one probe
        (as a single message would be), so it drains as a batch when the downstream is back.
        Any other failure rolls the batch back and the caller handles each message alone, so
        a handler's external calls may repeat (they are at-least-once in any case).
        """
        held_for: str | None = None
        while True:
            started = time.perf_counter()
            try:
                results = await self._apply_batch(batch)
            except LeaseLostError as exc:
                batch = await self._without(batch, exc.lost)
                if not batch:
                    await self._probe_given_back(held_for)
                    return True
                continue
            except DownstreamUnavailable as exc:
                held_for = exc.downstream
                if await self._hold(exc, [delivery.envelope for delivery in batch]):
                    return True  # unacked: redelivered after restart, nothing parked
                continue
            except Exception as exc:
                logger.info(
                    "a batch of %d on %s is redone one by one: %r",
                    len(batch), self.queue_name, exc,
                )  # fmt: skip
                return False
            break
        if held_for is not None:
            await self._breakers.recovered(held_for)
        elapsed = (time.perf_counter() - started) / len(batch)
        released: list[str] = []
        for delivery, (outcome, satisfied) in zip(batch, results, strict=True):
            self._record_success(delivery.envelope, outcome, elapsed)
            await ack(delivery.message)
            released += satisfied
        if released:
            await self._settle.release(released)
        return True

    async def _probe_given_back(self, downstream: str | None) -> None:
        """A probe's messages went back with their lost lease (a partition taken over during
        an outage): close the breaker, so that fresh deliveries probe ``downstream`` again
        (it opens again if the downstream is still down). Else it stays open with nothing
        left to probe it, and intake never resumes."""
        if downstream is not None:
            await self._breakers.recovered(downstream)

    @contextlib.asynccontextmanager
    async def _transaction(self, leases: Collection[Lease]) -> AsyncIterator[DbConnection]:
        """A pooled connection in a transaction fenced by ``leases`` (``LeaseLostError`` when
        one is no longer held); losing the database is a downstream outage."""
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                await self._leases.fence(connection, leases)
                yield connection
        except _DATABASE_DOWN as exc:
            # The service's own database is a downstream too: hold, pause, probe.
            raise DownstreamUnavailable("database", repr(exc)) from exc
        except asyncpg.InterfaceError as exc:
            # The rollback after a lost connection fails too, hiding why: look beneath it.
            if not isinstance(exc.__context__, _DATABASE_DOWN):
                raise
            raise DownstreamUnavailable("database", repr(exc.__context__)) from exc

    async def _hold(self, exc: DownstreamUnavailable, envelopes: list[Envelope[Any]]) -> bool:
        """Count the failure, trip the downstream's breaker and wait before the next probe;
        True if the consumer is stopping meanwhile."""
        for envelope in envelopes:
            self._count_failure(envelope, "downstream")
        await self._breakers.failed(exc.downstream, exc)
        delay = self._breakers.backoff(exc.downstream, exc.retry_after)
        return await stopped_within(self._stopping, delay)

    async def _apply_batch(self, batch: list[_Delivery]) -> list[tuple[Claim, list[str]]]:
        """Claim and handle every delivery of ``batch`` in one transaction."""
        async with self._transaction({d.lease for d in batch}) as connection:
            results = []
            scope, published = self._scope(connection), list[Envelope[Any]]()
            claims = await claim_many(
                connection, self.queue_name, [d.envelope for d in batch], [d.lease for d in batch]
            )
            limit = self.settings.max_attempts
            for index, delivery in enumerate(batch):
                message, envelope = delivery.message, delivery.envelope
                with _handling(envelope, message, self.queue_name):
                    results.append(
                        await self._apply(
                            connection, envelope, attempt_of(message, limit), scope, published,
                            delivery.lease, claims[index] if claims is not None else None,
                        )
                    )  # fmt: skip
            await self._finish(connection, scope, published)
        return results

    async def _handle_one(self, delivery: _Delivery) -> None:
        message, envelope = delivery.message, delivery.envelope
        with _handling(envelope, message, self.queue_name):
            try:
                await self._handle(delivery)
            except LeaseLostError as exc:
                await self._without([delivery], exc.lost)
            except Exception:
                logger.exception("runtime error on %s; the message goes back", self.queue_name)
                await give_back(message, self._stopping)

    async def _handle(self, delivery: _Delivery) -> None:
        message, envelope, lease = delivery.message, delivery.envelope, delivery.lease
        attempt = attempt_of(message, self.settings.max_attempts)
        held_for: str | None = None
        while True:
            started = time.perf_counter()
            try:
                async with self._transaction([lease]) as connection:
                    scope, published = self._scope(connection), list[Envelope[Any]]()
                    outcome, satisfied = await self._apply(
                        connection, envelope, attempt, scope, published, lease
                    )
                    await self._finish(connection, scope, published)
            except LeaseLostError:
                await self._probe_given_back(held_for)
                raise
            except DownstreamUnavailable as exc:
                held_for = exc.downstream
                if await self._hold(exc, [envelope]):
                    return  # unacked: redelivered after restart, nothing parked
                continue
            except Exception as exc:
                await self._fail(delivery, exc, attempt)
            else:
                self._record_success(envelope, outcome, time.perf_counter() - started)
                if held_for is not None:
                    await self._breakers.recovered(held_for)
                await ack(message)
                if satisfied:
                    await self._settle.release(satisfied)
                return
            await ack(message)
            return

    async def _fail(self, delivery: _Delivery, exc: Exception, attempt: int) -> None:
        """Park or send to a retry queue, as the failure's verdict (``classify``) says."""
        message, envelope = delivery.message, delivery.envelope
        verdict = classify(exc)
        self._count_failure(envelope, verdict.value)
        fence = partial(self._leases.fence, leases=[delivery.lease])
        if isinstance(exc, DependencyMissing):
            await self._settle.park(
                message, envelope, exc, attempt, waiting_for=exc.key, fence=fence
            )
        elif verdict is Verdict.PARK:
            await self._settle.park(message, envelope, exc, attempt, fence=fence)
        else:
            if verdict is Verdict.RETRY_UNFORESEEN:
                logger.warning("handler of %s raised %r", envelope.event_type, exc)
            await self._settle.retry_or_park(message, envelope, exc, attempt, fence=fence)

    def _scope(self, connection: DbConnection) -> TransactionScope[Any]:
        """The scope of a new transaction, with the router's unit of work on ``connection``."""
        return TransactionScope(uow=self.router.unit_of_work(connection))

    async def _apply(
        self,
        connection: DbConnection,
        envelope: Envelope[Any],
        attempt: int,
        scope: TransactionScope[Any],
        published: list[Envelope[Any]],
        lease: Lease,
        claimed: Claim | None = None,
    ) -> tuple[Claim, list[str]]:
        """Claim ``envelope`` in the inbox (unless the batch ``claimed`` it already) and run
        its handler, in the caller's transaction; the events it publishes are collected in
        ``published`` for ``_finish``."""
        handler = self.router.handlers.get(envelope.event_type)
        if handler is None:
            raise PermanentError("no_handler", f"{self.queue_name} has no handler for it")
        outcome = claimed or await claim(connection, self.queue_name, envelope, lease)
        if outcome is Claim.STALE and self.router.accept_stale:
            outcome = Claim.NEW
        if outcome is not Claim.NEW:
            return outcome, []

        async def publish(event: Envelope[Any]) -> None:
            published.append(event)

        context = HandlerContext(
            envelope=envelope,
            consumer=self.queue_name,
            service=self.router.service,
            attempt=attempt,
            connection=connection,
            _publisher=publish,
            scope=scope,
        )
        await handler(envelope, context)
        if context.satisfied:
            await parking.record_satisfied(connection, self.queue_name, context.satisfied)
        return outcome, context.satisfied

    async def _finish(
        self, connection: DbConnection, scope: TransactionScope[Any], published: list[Envelope[Any]]
    ) -> None:
        """Before the commit: the deferred work and the unit of work's writes, then every event
        published in the transaction, in publication order, with one outbox write."""
        await scope.finish()
        if published:
            await self._outbox.add(connection, *published)

    def _record_success(self, envelope: Envelope[Any], outcome: Claim, seconds: float) -> None:
        if outcome is Claim.DUPLICATE:
            self._metrics.duplicates.labels(self.queue_name).inc()
        elif outcome is Claim.STALE:
            self._metrics.stale.labels(self.queue_name).inc()
        else:
            handled, latency = self._per_type(envelope.event_type)
            handled.inc()
            latency.observe(seconds)

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

    async def _pause(self, downstream: str) -> None:
        self._metrics.paused.labels(self.queue_name, downstream).set(1)
        first = not self._paused_by
        self._paused_by.add(downstream)
        if first:
            await self._partitions.pause()

    async def _resume(self, downstream: str) -> None:
        self._metrics.paused.labels(self.queue_name, downstream).set(0)
        self._paused_by.discard(downstream)
        if not self._paused_by and not self._stopping.is_set():
            await self._partitions.resume()

    def _count_failure(self, envelope: Envelope[Any], failure: str) -> None:
        self._metrics.failed.labels(self.queue_name, envelope.event_type, failure).inc()


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
