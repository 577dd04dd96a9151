"""The partitions one consumer holds: leases kept, partition queues consumed, drained on handover.

Every heartbeat the member renews what it holds (a lease that did not renew was taken over:
that partition stops at once), takes the free partitions assigned to it, and drains the ones
no longer assigned: basic.cancel, wait until every delivery taken from the partition is
settled, then release the lease. Each held partition has one basic.consume on the consumer's
channel; its deliveries are counted from arrival until settled (acked, retried, parked or given
back), which is what a drain waits for.

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
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from tandem_messaging._leases import CATCH_UP, GroupState, Lease, LeaseStore, assign
from tandem_messaging._metrics import Metrics
from tandem_messaging._topology import (
    ConsumerTopology,
    delete_queue,
    queue_counts,
    resize_queue,
)

__all__ = ["Partitions"]

logger = logging.getLogger(__name__)

OnMessage = Callable[[Lease, AbstractIncomingMessage], Awaitable[None]]


@dataclass
class _Held:
    lease: Lease
    tag: str | None = None
    draining: bool = False
    queue: AbstractQueue | None = None


@dataclass
class Partitions:
    """Leases, consumption and drains of one member of consumer group ``store.group``."""

    store: LeaseStore
    on_message: OnMessage
    metrics: Metrics
    stopping: asyncio.Event
    heartbeat_s: float
    depth_every_s: float = 5.0
    queues: Sequence[AbstractQueue] = ()
    """The partition queues, in partition order (set when the topology is declared)."""
    channel: AbstractChannel | None = None
    """The channel the partitions are consumed on (set with ``queues``)."""
    held: dict[int, _Held] = field(default_factory=dict)
    _in_flight: dict[Lease, int] = field(default_factory=dict)
    _idle: dict[Lease, asyncio.Event] = field(default_factory=dict)
    _drains: set[asyncio.Task[None]] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None
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
        await self.beat()
        self._task = asyncio.create_task(self._run())

    @property
    def alive(self) -> bool:
        """True while the heartbeat loop runs."""
        return self._task is not None and not self._task.done()

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
        left = self._in_flight.get(lease, 0) - 1
        if left > 0:
            self._in_flight[lease] = left
            return
        self._in_flight.pop(lease, None)
        if (idle := self._idle.get(lease)) is not None:
            idle.set()
        if not self.holds(lease):
            self._idle.pop(lease, None)

    async def beat(self) -> None:
        """One heartbeat: renew, take the assigned free partitions, drain the others."""
        members = await self.store.heartbeat()
        state = await self.store.state()
        renewed = await self.store.renew([held.lease for held in self.held.values()])
        for held in list(self.held.values()):
            if held.lease.partition not in renewed:
                await self.lose(held.lease)
        wanted = assign(members, self.store.member, self.store.partitions)
        if state.phase != "running":
            wanted = await self._wanted_while_resizing(members, state, wanted)
        for partition in sorted(wanted - self.held.keys()):
            if self.stopping.is_set():
                return
            if (acquired := await self.store.acquire(partition)) is not None:
                lease, how = acquired
                self.held[partition] = _Held(lease)
                self.metrics.rebalances.labels(self.group, how).inc()
                logger.info("%s holds partition %d (epoch %d)", self.group, *_pair(lease))
                await self._consume(self.held[partition])
        for partition in self.held.keys() - wanted:
            if not self.held[partition].draining:
                self._drain_later(self.held[partition])
        self._gauge_owned()

    async def lose(self, lease: Lease) -> None:
        """``lease`` was taken over: stop consuming its partition at once; its deliveries
        still in hand are given back as they come up (see ``holds``)."""
        held = self.held.get(lease.partition)
        if held is None or held.lease != lease:
            return
        del self.held[lease.partition]
        await self._cancel(held)
        self.metrics.rebalances.labels(self.group, "lost").inc()
        self.metrics.lease_losses.labels(self.group).inc()
        logger.warning("%s lost partition %d (epoch %d)", self.group, *_pair(lease))
        with contextlib.suppress(Exception):  # the log only; the lease is gone either way
            await self.store.mark_lost(lease)
        self._gauge_owned()

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
        caller has set ``stopping``, which ends the loop after its current beat)."""
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
        """Hand every lease back and leave the group (graceful stop, once nothing is in
        hand: the channel is closed, so whatever was not settled is back in its queue)."""
        try:
            for held in list(self.held.values()):
                await self.store.release(held.lease)
                self.metrics.rebalances.labels(self.group, "released").inc()
            await self.store.leave()
        except Exception as exc:  # the leases then expire after their TTL
            logger.warning("%s could not release its leases: %r", self.group, exc)
        self.held.clear()
        self._gauge_owned()

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

    async def _queue(self, partition: int) -> AbstractQueue:
        name = self._queue_name(partition)
        if 0 <= partition < len(self.queues) and self.queues[partition].name == name:
            return self.queues[partition]
        # Declared by ``tandem partitions resize`` after this member started.
        return await self._channel().get_queue(name, ensure=False)

    async def _consume(self, held: _Held) -> None:
        # Consumes and cancels take turns, and each decides once it is its turn: a pause,
        # resume, loss or takeover that lands while another awaits the broker then acts on
        # what that one did, so a partition ends with one basic.consume, or none, either way.
        async with self._gate:
            if held.tag is None and self._consumable(held):
                held.queue = await self._queue(held.lease.partition)
                held.tag = await held.queue.consume(partial(self.on_message, held.lease))

    def _consumable(self, held: _Held) -> bool:
        current = self.held.get(held.lease.partition) is held
        return current and not held.draining and not self._paused and not self.stopping.is_set()

    async def _cancel(self, held: _Held) -> None:
        async with self._gate:
            tag, held.tag = held.tag, None
            if tag is not None and held.queue is not None:
                with contextlib.suppress(aio_pika.exceptions.AMQPError, RuntimeError):
                    await held.queue.cancel(tag)

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
        try:
            await self.store.release(lease)
        except Exception as exc:  # kept, and renewed, until a later beat drains it again
            logger.warning(
                "%s could not release partition %d: %r", self.group, lease.partition, exc
            )
            held.draining = False
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
