"""The partitions one consumer holds: leases kept, partition queues consumed, drained on handover.

Two loops. The keeper renews every heartbeat what the member holds, on the member's own
database connection, so neither handler traffic nor a takeover waiting for a lock delays it. A
lease that did not renew was taken over, and a lease the keeper could not renew for
``FENCE_AFTER`` of the TTL is about to be: either way that partition is *lost*, at once.
The beat takes the free partitions assigned to the member and drains the ones no longer
assigned: basic.cancel, wait until every delivery taken from the partition is settled, close
its channel, then release the lease.

Each held partition is consumed on a channel of its own (prefetch applies per partition). A
lost partition's channel is closed, not merely cancelled: the broker then puts every delivery
it still has out back in the queue, in order, before the single-active-consumer queue hands the
partition to the next owner's consumer; later events of a key never overtake earlier ones.
Deliveries of that channel still in a lane are dropped unsettled (``holds`` is False; the fence
rolls back a transaction that relies on them). Each partition's deliveries are counted from
arrival until settled (acked, retried, parked or given back), which is what a drain waits for.

While ``tandem partitions resize`` runs (ADR 0009) the member follows the group's phase: holding
or draining, it keeps a partition only while messages are in it or in hand, and takes one only
when messages wait in it; catching up, it holds no partition, and the first live member takes
the catch-up lease and consumes ``Q.resize`` through the same lanes until it is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
)

from tandem_messaging._leases import CATCH_UP, GroupState, Lease, LeaseStore, assign
from tandem_messaging._metrics import Metrics
from tandem_messaging._topology import (
    ConsumerTopology,
    delete_queue,
    queue_counts,
    resize_queue,
)

__all__ = ["FENCE_AFTER", "Partitions"]

logger = logging.getLogger(__name__)

OnMessage = Callable[[Lease, AbstractIncomingMessage], Awaitable[None]]

FENCE_AFTER = 2 / 3
"""The share of the lease TTL after which a member that could not renew a lease stops its
partition itself, while the lease is still its own: its deliveries are back in the queue
before anyone else may take the partition."""


@dataclass
class _Held:
    lease: Lease
    renewed_at: float
    """``time.monotonic()`` when the statement that last extended the lease was sent."""
    tag: str | None = None
    draining: bool = False
    releasing: bool = False
    queue: AbstractQueue | None = None
    channel: AbstractChannel | None = None


@dataclass
class Partitions:
    """Leases, consumption and drains of one member of consumer group ``store.group``."""

    store: LeaseStore
    on_message: OnMessage
    metrics: Metrics
    stopping: asyncio.Event
    heartbeat_s: float
    depth_every_s: float = 5.0
    prefetch: int = 256
    """Unacked deliveries at most, per partition consumed."""
    connection: AbstractConnection | None = None
    """The broker connection the partitions' channels are opened on."""
    channel: AbstractChannel | None = None
    """The consumer's channel: queues are probed on side channels of it (set when the
    topology is declared)."""
    held: dict[int, _Held] = field(default_factory=dict)
    _in_flight: dict[Lease, int] = field(default_factory=dict)
    _idle: dict[Lease, asyncio.Event] = field(default_factory=dict)
    _drains: set[asyncio.Task[None]] = field(default_factory=set)
    _chores: set[asyncio.Task[None]] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None
    _keeper: asyncio.Task[None] | None = None
    _leaving: asyncio.Event = field(default_factory=asyncio.Event)
    _paused: bool = False
    _depth_at: float = 0.0
    _gate: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Taken by every basic.consume and basic.cancel (see ``_consume``)."""

    @property
    def group(self) -> str:
        """The consumer group (the queue name the partitions are named after)."""
        return self.store.group

    async def start(self) -> None:
        """Register the group's partitions, take this member's share now, keep it up after."""
        await self.store.register()
        await self.keep()
        await self.beat()
        self._keeper = asyncio.create_task(self._keep_up())
        self._task = asyncio.create_task(self._run())

    @property
    def alive(self) -> bool:
        """True while the heartbeat loop and the keeper run."""
        loops = (self._task, self._keeper)
        return all(task is not None and not task.done() for task in loops)

    def holds(self, lease: Lease) -> bool:
        """True while ``lease`` is still this member's (draining or not)."""
        held = self.held.get(lease.partition)
        return held is not None and held.lease == lease

    def taken(self, lease: Lease) -> None:
        """A delivery of ``lease`` arrived: a drain waits for it."""
        self._in_flight[lease] = self._in_flight.get(lease, 0) + 1
        self._idle.setdefault(lease, asyncio.Event()).clear()

    def settled(self, lease: Lease) -> None:
        """A delivery of ``lease`` is settled."""
        self.metrics.partition_progress.labels(self.group, str(lease.partition)).set(time.time())
        left = self._in_flight.get(lease, 0) - 1
        if left > 0:
            self._in_flight[lease] = left
            return
        self._in_flight.pop(lease, None)
        if (idle := self._idle.get(lease)) is not None:
            idle.set()
        if not self.holds(lease):
            self._idle.pop(lease, None)

    async def keep(self) -> None:
        """One renewal of every lease held. A lease whose renewal has not come back when
        ``FENCE_AFTER`` of its TTL has gone by since the last one is given up meanwhile, and
        one the database did not renew was lost."""
        snapshot = list(self.held.values())
        sent = time.monotonic()
        renewal = asyncio.ensure_future(self.store.keep([held.lease for held in snapshot]))
        first = min((self._fence_at(held) for held in snapshot), default=sent + self._fence_s)
        done, _ = await asyncio.wait({renewal}, timeout=max(first - sent, 0.0))
        if not done:
            await self._fence_overdue()
            done, _ = await asyncio.wait({renewal}, timeout=self._fence_s)
        if not done:  # the connection is dropped with it, and the next round takes another
            renewal.cancel()
        await asyncio.gather(renewal, return_exceptions=True)
        if renewal.cancelled() or renewal.exception() is not None:
            problem = "timed out" if renewal.cancelled() else repr(renewal.exception())
            logger.warning("%s could not renew its leases: %s", self.group, problem)
        else:
            renewed = renewal.result()
            current = [held for held in snapshot if self.held.get(held.lease.partition) is held]
            for held in current:
                if held.lease.partition in renewed:
                    held.renewed_at = sent
            for held in current:
                if held.lease.partition not in renewed and not held.releasing:
                    await self.lose(held.lease, "lost")
        await self._fence_overdue()

    async def _fence_overdue(self) -> None:
        now = time.monotonic()
        for held in list(self.held.values()):
            if now >= self._fence_at(held) and not held.releasing:
                await self.lose(held.lease, "fenced")

    async def beat(self) -> None:
        """One heartbeat: take the assigned free partitions, drain the others."""
        members = await self.store.live()
        state = await self.store.state()
        wanted = assign(members, self.store.member, self.store.partitions)
        if state.phase != "running":
            wanted = await self._wanted_while_resizing(members, state, wanted)
        for partition in sorted(wanted - self.held.keys()):
            if self.stopping.is_set():
                return
            sent = time.monotonic()
            if (acquired := await self.store.acquire(partition)) is not None:
                lease, how = acquired
                self.held[partition] = _Held(lease, renewed_at=sent)
                self.metrics.rebalances.labels(self.group, how).inc()
                logger.info("%s holds partition %d (epoch %d)", self.group, *_pair(lease))
                await self._consume(self.held[partition])
        for partition in self.held.keys() - wanted:
            if not self.held[partition].draining:
                self._drain_later(self.held[partition])
        self._gauge_owned()

    async def lose(self, lease: Lease, reason: str = "lost") -> None:
        """``lease`` was taken over (``lost``), or could not be renewed in time (``fenced``):
        close its partition's channel at once, which puts back every delivery of it still in
        hand before another member's consumer gets any; those still in a lane are dropped
        (see ``holds``)."""
        held = self.held.get(lease.partition)
        if held is None or held.lease != lease:
            return
        del self.held[lease.partition]
        await self._close(held)
        self.metrics.rebalances.labels(self.group, reason).inc()
        self.metrics.lease_losses.labels(self.group).inc()
        logger.warning("%s %s partition %d (epoch %d)", self.group, reason, *_pair(lease))
        # In the background: the keeper must not wait for the pool before its next renewal.
        self._later(self._mark_lost(lease))
        self._gauge_owned()

    async def _mark_lost(self, lease: Lease) -> None:
        with contextlib.suppress(Exception):  # the log only; the lease is gone either way
            await self.store.mark_lost(lease)

    async def pause(self) -> None:
        """Stop taking deliveries from every held partition (a downstream is down)."""
        self._paused = True
        for held in list(self.held.values()):
            await self._cancel(held)

    async def resume(self) -> None:
        """Take deliveries again from every held partition not being drained."""
        self._paused = False
        for held in list(self.held.values()):
            await self._consume(held)

    async def stop_intake(self) -> None:
        """Stop the heartbeat loop and every basic.consume (graceful stop, first step; the
        caller has set ``stopping``, which ends the loop after its current beat). The keeper
        goes on renewing until ``release_all``."""
        if self._task is not None:
            _, pending = await asyncio.wait([self._task], timeout=5 * self.heartbeat_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for task in list(self._drains):
            task.cancel()
        await asyncio.gather(*self._drains, return_exceptions=True)
        for held in list(self.held.values()):
            await self._cancel(held)

    async def release_all(self) -> None:
        """Close every partition's channel (whatever was not settled goes back to its queue),
        then hand every lease back and leave the group (graceful stop, last step)."""
        self._leaving.set()
        if self._keeper is not None:
            await asyncio.gather(self._keeper, return_exceptions=True)
        for held in list(self.held.values()):
            await self._close(held)
        try:
            for held in list(self.held.values()):
                await self.store.release(held.lease)
                self.metrics.rebalances.labels(self.group, "released").inc()
            await self.store.leave()
        except Exception as exc:  # the leases then expire after their TTL
            logger.warning("%s could not release its leases: %r", self.group, exc)
        self.held.clear()
        self._gauge_owned()
        await asyncio.gather(*self._chores, return_exceptions=True)
        await self.store.close()

    @property
    def _fence_s(self) -> float:
        return FENCE_AFTER * self.store.ttl

    def _fence_at(self, held: _Held) -> float:
        return held.renewed_at + self._fence_s

    async def _keep_up(self) -> None:
        while not self._leaving.is_set():
            started = time.monotonic()
            try:
                await self.keep()
            except Exception as exc:  # lose() talks to the broker; the next round retries
                logger.warning("%s lease keeper failed: %r", self.group, exc)
            pause = self.heartbeat_s - (time.monotonic() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._leaving.wait(), max(pause, 0.0))

    def _later(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _run(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.heartbeat_s)
            if self.stopping.is_set():
                return
            try:
                await self.beat()
                if time.monotonic() - self._depth_at >= self.depth_every_s:
                    await self._measure_depth()
            except Exception as exc:  # the database or broker is down: the next beat retries
                logger.warning("%s heartbeat failed: %r", self.group, exc)

    async def _wanted_while_resizing(
        self, members: Sequence[str], state: GroupState, assigned: frozenset[int]
    ) -> frozenset[int]:
        """What to hold while the partition count changes (ADR 0009)."""
        if state.phase == "catching_up":
            if CATCH_UP in self.held:
                return frozenset() if await self._caught_up(state) else frozenset({CATCH_UP})
            first = list(members[:1]) == [self.store.member]
            return frozenset({CATCH_UP}) if first else frozenset()
        keep = set()
        for partition in assigned:
            counts = await queue_counts(self._channel(), self._queue_name(partition))
            waiting = counts is not None and counts[0] > 0
            held = self.held.get(partition)
            if waiting or (held is not None and self._in_flight.get(held.lease)):
                keep.add(partition)
        return frozenset(keep)

    async def _caught_up(self, state: GroupState) -> bool:
        """Once Q.resize is sealed, empty and settled: delete it, let the group run again,
        hand the catch-up lease back. False while anything of it is left."""
        held = self.held[CATCH_UP]
        name = resize_queue(self.group)
        if not state.sealed or self._in_flight.get(held.lease):
            return False
        counts = await queue_counts(self._channel(), name)
        if counts is not None and counts[0] > 0:
            return False
        await self._cancel(held)
        # A delivery dispatched before the cancel took effect is handled first.
        if self._in_flight.get(held.lease):
            await self._consume(held)
            return False
        await self._close(held)
        if lost := await delete_queue(self._channel(), name):
            # Sealed, Q.resize gets only what a member that started during the resize bound
            # to it; the procedure bound the same patterns to Q.hash, so these are copies.
            logger.warning("%s: %d copies arrived in %s as it was deleted", self.group, lost, name)
        await self.store.caught_up()
        await self.store.release(held.lease)
        del self.held[CATCH_UP]
        self.metrics.rebalances.labels(self.group, "released").inc()
        logger.info("%s caught up: %s handled and deleted", self.group, name)
        return True

    def _channel(self) -> AbstractChannel:
        if self.channel is None:
            raise RuntimeError("the partitions' channel is set when the topology is declared")
        return self.channel

    def _queue_name(self, partition: int) -> str:
        if partition == CATCH_UP:
            return resize_queue(self.group)
        return ConsumerTopology(queue=self.group, bindings=()).partition_queue(partition)

    async def _queue(self, channel: AbstractChannel, partition: int) -> AbstractQueue:
        """Partition ``partition``'s queue, to consume on ``channel`` (declared already).
        Declared passively: a robust channel then consumes it again after a reconnection."""
        return await channel.declare_queue(self._queue_name(partition), passive=True)

    async def _consume(self, held: _Held) -> None:
        # Consumes, cancels and closes take turns, and each decides once it is its turn: a
        # pause, resume, loss or takeover that lands while another awaits the broker then acts
        # on what that one did, so a partition ends with one basic.consume, or none, either way.
        async with self._gate:
            if held.tag is None and self._consumable(held):
                if held.channel is None or held.channel.is_closed:
                    held.channel = await self._open_channel()
                held.queue = await self._queue(held.channel, held.lease.partition)
                held.tag = await held.queue.consume(partial(self.on_message, held.lease))

    async def _open_channel(self) -> AbstractChannel:
        if self.connection is None:
            raise RuntimeError("the partitions' connection is set when the topology is declared")
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        return channel

    def _consumable(self, held: _Held) -> bool:
        current = self.held.get(held.lease.partition) is held
        return current and not held.draining and not self._paused and not self.stopping.is_set()

    async def _cancel(self, held: _Held) -> None:
        async with self._gate:
            tag, held.tag = held.tag, None
            if tag is not None and held.queue is not None:
                with contextlib.suppress(aio_pika.exceptions.AMQPError, RuntimeError):
                    await held.queue.cancel(tag)

    async def _close(self, held: _Held) -> None:
        """Close the partition's channel: the broker takes back what it had delivered on it."""
        async with self._gate:
            held.tag = None
            channel, held.channel = held.channel, None
            if channel is not None and not channel.is_closed:
                with contextlib.suppress(aio_pika.exceptions.AMQPError, RuntimeError):
                    await channel.close()

    def _drain_later(self, held: _Held) -> None:
        held.draining = True
        task = asyncio.create_task(self._drain(held))
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    async def _drain(self, held: _Held) -> None:
        """Cancel the partition's consumption, wait for its deliveries to settle, release."""
        lease = held.lease
        await self._cancel(held)
        if self._in_flight.get(lease):
            await self._idle.setdefault(lease, asyncio.Event()).wait()
        if not self.holds(lease):
            return  # lost meanwhile
        await self._close(held)
        held.releasing = True
        try:
            await self.store.release(lease)
        except Exception as exc:  # kept, and renewed, until a later beat drains it again
            logger.warning(
                "%s could not release partition %d: %r", self.group, lease.partition, exc
            )
            held.draining = held.releasing = False
            await self._consume(held)
            return
        del self.held[lease.partition]
        self.metrics.rebalances.labels(self.group, "released").inc()
        logger.info("%s released partition %d (epoch %d)", self.group, *_pair(lease))
        self._gauge_owned()

    async def _measure_depth(self) -> None:
        self._depth_at = time.monotonic()
        if self.channel is None:
            return
        for partition in sorted(self.held):
            counts = await queue_counts(self.channel, self._queue_name(partition))
            count = counts[0] if counts is not None else 0
            self.metrics.partition_depth.labels(self.group, str(partition)).set(count)

    def _gauge_owned(self) -> None:
        self.metrics.partitions_owned.labels(self.group, self.store.member).set(len(self.held))


def _pair(lease: Lease) -> tuple[int, int]:
    return lease.partition, lease.epoch
