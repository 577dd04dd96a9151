"""The partitions one consumer holds: leases kept, partition queues consumed, drained on handover.

Every heartbeat the member renews what it holds (a lease that did not renew was taken over:
that partition stops at once), takes the free partitions assigned to it, and drains the ones
no longer assigned: basic.cancel, wait until every delivery taken from the partition is
settled, then release the lease. Each held partition has one basic.consume on the consumer's
channel; its deliveries are counted from arrival until settled (acked, retried, parked or given
back), which is what a drain waits for.
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

from tandem_messaging._leases import Lease, LeaseStore, assign
from tandem_messaging._metrics import Metrics

__all__ = ["Partitions"]

logger = logging.getLogger(__name__)

OnMessage = Callable[[Lease, AbstractIncomingMessage], Awaitable[None]]


@dataclass
class _Held:
    lease: Lease
    tag: str | None = None
    draining: bool = False


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
        renewed = await self.store.renew([held.lease for held in self.held.values()])
        for held in list(self.held.values()):
            if held.lease.partition not in renewed:
                await self.lose(held.lease)
        wanted = assign(members, self.store.member, self.store.partitions)
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
        for held in self.held.values():
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
        for held in self.held.values():
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

    async def _consume(self, held: _Held) -> None:
        if held.tag is None and not held.draining and not self._paused:
            queue = self.queues[held.lease.partition]
            held.tag = await queue.consume(partial(self.on_message, held.lease))

    async def _cancel(self, held: _Held) -> None:
        tag, held.tag = held.tag, None
        if tag is not None:
            with contextlib.suppress(aio_pika.exceptions.AMQPError, RuntimeError):
                await self.queues[held.lease.partition].cancel(tag)

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
            declared = await self.channel.declare_queue(self.queues[partition].name, passive=True)
            count = declared.declaration_result.message_count or 0
            self.metrics.partition_depth.labels(self.group, str(partition)).set(count)

    def _gauge_owned(self) -> None:
        self.metrics.partitions_owned.labels(self.group, self.store.member).set(len(self.held))


def _pair(lease: Lease) -> tuple[int, int]:
    return lease.partition, lease.epoch
