"""What an outage leaves behind, on the real broker and database: classic retry queues of an
earlier version named with what to do; the relay's LISTEN connection taken again after it is
lost, and a clean stop whatever state it is in; and exactly one basic.consume per held
partition, whichever of a breaker's pause or resume and a lease's loss or takeover comes first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from prometheus_client import CollectorRegistry

from tandem_contracts import Envelope
from tandem_contracts.events import OpportunityLost
from tandem_messaging import (
    Consumer,
    DownstreamUnavailable,
    HandlerContext,
    Metrics,
    Outbox,
    OutboxRelay,
    Router,
    TopologyMismatchError,
)
from tandem_messaging._leases import Lease, LeaseStore
from tandem_messaging._partitions import Partitions
from tandem_messaging._topology import ConsumerTopology, declare_consumer

GROUP = "t.race"
LISTENERS = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND query LIKE 'LISTEN %tandem_outbox%'
"""
KILL_LISTENERS = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND query LIKE 'LISTEN %tandem_outbox%'
"""
UNPUBLISHED = "SELECT count(*) FROM messaging.outbox WHERE published_at IS NULL"
# Another member takes the partition over (and its lease lapses at once): every transaction
# fenced on the old lease fails, and the first member's next heartbeat takes it back.
TAKE_OVER = """
UPDATE messaging.partition_leases
SET owner = 'member-b', epoch = epoch + 1, expires_at = clock_timestamp()
WHERE grp = $1 AND partition = 0
"""


async def _noop(*_: Any) -> None:
    return None


async def test_a_classic_retry_queue_of_an_earlier_version_is_named_with_the_one_time_step(
    pool, amqp, fast_settings
) -> None:
    # An earlier version declared the retry queues as classic queues.
    channel = await amqp.channel()
    await channel.declare_queue(
        "t.classic.retry.0",
        durable=True,
        arguments={"x-message-ttl": 200, "x-dead-letter-exchange": "t.classic.hash"},
    )
    router = Router(service="test")
    router.handles(OpportunityLost)(_noop)
    consumer = Consumer(
        router, queue="t.classic", pool=pool, connection=amqp, settings=fast_settings
    )
    with pytest.raises(
        TopologyMismatchError, match=r"'t\.classic\.retry\.0'.*classic.*delete_queue"
    ):
        await consumer.start()
    await consumer.stop()
    # The step the message names: delete it once empty; the consumer then declares it quorum.
    await channel.queue_delete("t.classic.retry.0", if_empty=True)
    async with Consumer(
        router, queue="t.classic", pool=pool, connection=amqp, settings=fast_settings
    ) as started:
        assert started.running
    # It is a quorum queue now: declared as anything else, the broker names its type.
    quorum = {
        "x-queue-type": "classic",
        "x-message-ttl": 200,
        "x-dead-letter-exchange": "t.classic.hash",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed, match="'x-queue-type'"):
        await (await amqp.channel()).declare_queue(
            "t.classic.retry.0", durable=True, arguments=quorum
        )


async def test_the_relay_listens_again_after_its_connection_is_lost(
    pool, amqp, lost_event, eventually
) -> None:
    # Polling every 60 s: only a NOTIFY can make the relay publish within the test's deadline.
    stopping = asyncio.Event()
    relay = asyncio.create_task(OutboxRelay(pool, amqp, poll_interval=60).run(stopping))
    try:
        await eventually(lambda: _count(pool, LISTENERS, 1), within=10, what="a listener")
        # The listening connection dies (as it does when the database restarts).
        await pool.execute(KILL_LISTENERS)
        await eventually(lambda: _count(pool, LISTENERS, 1), within=10, what="a new listener")
        # An event committed now is relayed on its NOTIFY, not at the next poll.
        async with pool.acquire() as db, db.transaction():
            await Outbox().add(db, lost_event("opp-1"))
        await eventually(lambda: _count(pool, UNPUBLISHED, 0), within=10, what="the publish")
    finally:
        stopping.set()
        await relay
    assert relay.exception() is None


async def test_the_relay_stops_cleanly_when_its_listening_connection_is_gone(
    pool, amqp, eventually
) -> None:
    stopping = asyncio.Event()
    relay = asyncio.create_task(OutboxRelay(pool, amqp, poll_interval=60).run(stopping))
    await eventually(lambda: _count(pool, LISTENERS, 1), within=10, what="a listener")
    await pool.execute(KILL_LISTENERS)
    stopping.set()
    await asyncio.wait_for(relay, 10)  # raises what ``run`` raised
    await eventually(lambda: _count(pool, LISTENERS, 0), within=10, what="no listener left")


async def test_intake_resumes_when_a_held_probe_goes_back_with_a_lost_lease(
    pool, amqp, publish, lost_event, fast_settings, eventually
) -> None:
    router = Router(service="test")
    erp = {"up": False}

    @router.handles(OpportunityLost)
    async def post_to_erp(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        if not erp["up"]:
            raise DownstreamUnavailable("erp", "connection refused", retry_after=0.05)
        await ctx.connection.execute(
            "INSERT INTO effects (event_id, subject, version) VALUES ($1, $2, $3)",
            envelope.event_id, envelope.subject.id, envelope.subject_version,
        )  # fmt: skip

    consumer = Consumer(router, queue="t.probe", pool=pool, connection=amqp, settings=fast_settings)
    async with consumer:
        # The ERP is down: intake pauses, and the message in hand probes it.
        await publish(amqp, lost_event("opp-1"))
        await eventually(lambda: consumer.paused, what="intake to pause")
        # The partition is taken over meanwhile: the probe goes back to the broker with its
        # lease. The ERP is back, but only a delivery under the new lease can find it out.
        await pool.execute(TAKE_OVER, "t.probe")
        erp["up"] = True
        await eventually(lambda: _count(pool, "SELECT count(*) FROM effects", 1), what="effect")
        assert not consumer.paused


async def _count(pool: asyncpg.Pool, sql: str, expected: int) -> bool:
    return int(await pool.fetchval(sql)) == expected


# Partition 0's consumption, driven through both orders of a breaker and a takeover.


@dataclass
class _HeldUp:
    """A real partition queue whose next basic.consume waits until ``go`` is set, so that a
    test decides what happens while that consume is on its way to the broker."""

    name: str
    queue: AbstractQueue | None = None
    """The queue on the channel of the partition's latest tenure."""
    go: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: asyncio.Event = field(default_factory=asyncio.Event)
    hold_next: bool = False

    async def consume(self, callback: Any) -> str:
        queue = self.queue
        assert queue is not None
        if self.hold_next:
            self.hold_next = False
            self.waiting.set()
            await self.go.wait()
        return await queue.consume(callback)

    async def cancel(self, tag: str) -> Any:
        assert self.queue is not None
        return await self.queue.cancel(tag)


@dataclass
class _HeldUpPartitions(Partitions):
    """Partitions whose partition 0 is consumed through ``held_up``."""

    held_up: _HeldUp | None = None

    async def _queue(self, channel: Any, partition: int) -> AbstractQueue:
        assert self.held_up is not None
        self.held_up.queue = await super()._queue(channel, partition)
        return cast(AbstractQueue, self.held_up)


@dataclass
class _Member:
    partitions: Partitions
    queue: _HeldUp
    other: LeaseStore
    deliveries: asyncio.Queue[tuple[Lease, AbstractIncomingMessage]]

    async def consumers(self, connection: AbstractRobustConnection) -> int:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(self.queue.name, passive=True)
            return int(declared.declaration_result.consumer_count or 0)
        finally:
            await channel.close()

    async def taken_over_and_given_back(self) -> None:
        """Another member takes partition 0 over and hands it back: this one's lease is lost,
        and its next heartbeat takes the partition again at a new epoch."""
        await self.other.pool.execute(
            "UPDATE messaging.partition_leases SET expires_at = clock_timestamp() WHERE grp = $1",
            GROUP,
        )
        taken = await self.other.acquire(0)
        assert taken is not None
        await self.other.release(taken[0])

    def lease(self) -> Lease:
        return self.partitions.held[0].lease


@pytest.fixture
async def member(pool: asyncpg.Pool, amqp: AbstractRobustConnection) -> AsyncIterator[_Member]:
    channel = await amqp.channel()
    declared = await declare_consumer(channel, ConsumerTopology(queue=GROUP, bindings=()))
    queue = _HeldUp(declared.partitions[0].name)
    deliveries: asyncio.Queue[tuple[Lease, AbstractIncomingMessage]] = asyncio.Queue()

    async def on_message(lease: Lease, message: AbstractIncomingMessage) -> None:
        await message.ack()
        deliveries.put_nowait((lease, message))

    store = LeaseStore(pool, GROUP, "member-a", partitions=1, ttl=30)
    partitions = _HeldUpPartitions(
        store, on_message, Metrics(CollectorRegistry()), asyncio.Event(), heartbeat_s=1.0
    )
    partitions.held_up = queue
    partitions.connection = amqp
    partitions.channel = channel
    # Beats are driven by the test, not by a loop.
    await store.register()
    await _heartbeat(partitions)
    assert partitions.held[0].lease.epoch == 1
    yield _Member(partitions, queue, LeaseStore(pool, GROUP, "member-b", 1, 30), deliveries)
    partitions.stopping.set()
    await partitions.stop_intake()
    await partitions.release_all()
    await channel.close()


async def _heartbeat(partitions: Partitions) -> None:
    """What the keeper and the heartbeat loop do in one round: renew, then take and drain."""
    await partitions.keep()
    await partitions.beat()


def _not_epoch_1(partitions: Partitions) -> bool:
    held = partitions.held.get(0)
    return held is None or held.lease.epoch != 1


async def _delivered_to(member: _Member, amqp: AbstractRobustConnection) -> Lease:
    """Publish one message to partition 0; answer the lease it was delivered under."""
    channel = await amqp.channel(publisher_confirms=True)
    await channel.default_exchange.publish(aio_pika.Message(b"probe"), member.queue.name)
    await channel.close()
    lease, _ = await asyncio.wait_for(member.deliveries.get(), 10)
    return lease


async def test_a_resume_under_way_when_the_lease_is_lost_leaves_one_consume(
    member, amqp, eventually
) -> None:
    await member.partitions.pause()
    await member.taken_over_and_given_back()
    # The breaker resumes intake; its basic.consume is on its way...
    member.queue.hold_next = True
    resuming = asyncio.create_task(member.partitions.resume())
    await member.queue.waiting.wait()
    # ...when the heartbeat finds the lease lost and takes the partition again.
    beating = asyncio.create_task(_heartbeat(member.partitions))
    await eventually(lambda: _not_epoch_1(member.partitions), what="the loss")
    member.queue.go.set()
    await asyncio.gather(resuming, beating)
    assert member.lease().epoch == 3
    assert await member.consumers(amqp) == 1
    assert await _delivered_to(member, amqp) == member.lease()


async def test_a_lease_lost_and_taken_again_before_the_resume_leaves_one_consume(
    member, amqp
) -> None:
    await member.partitions.pause()
    await member.taken_over_and_given_back()
    # The heartbeat loses the lease and takes the partition again, then the breaker resumes.
    await _heartbeat(member.partitions)
    assert await member.consumers(amqp) == 0
    await member.partitions.resume()
    assert member.lease().epoch == 3
    assert await member.consumers(amqp) == 1
    assert await _delivered_to(member, amqp) == member.lease()


async def test_a_pause_while_a_partition_is_being_taken_leaves_it_unconsumed(
    member, amqp, eventually
) -> None:
    await member.taken_over_and_given_back()
    # The heartbeat takes the partition again; its basic.consume is on its way...
    member.queue.hold_next = True
    beating = asyncio.create_task(_heartbeat(member.partitions))
    await member.queue.waiting.wait()
    # ...when the breaker pauses intake.
    pausing = asyncio.create_task(member.partitions.pause())
    await eventually(lambda: member.partitions._paused, what="the pause")
    member.queue.go.set()
    await asyncio.gather(beating, pausing)
    assert await member.consumers(amqp) == 0
    await member.partitions.resume()
    assert await member.consumers(amqp) == 1
    assert await _delivered_to(member, amqp) == member.lease()


async def test_a_pause_and_a_resume_racing_end_as_the_later_one_says(
    member, amqp, eventually
) -> None:
    await member.partitions.pause()
    # The resume's basic.consume is on its way when the breaker opens again.
    member.queue.hold_next = True
    resuming = asyncio.create_task(member.partitions.resume())
    await member.queue.waiting.wait()
    pausing = asyncio.create_task(member.partitions.pause())
    await eventually(lambda: member.partitions._paused, what="the pause")
    member.queue.go.set()
    await asyncio.gather(resuming, pausing)
    assert await member.consumers(amqp) == 0
    await member.partitions.resume()
    assert await member.consumers(amqp) == 1
