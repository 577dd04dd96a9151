"""Changing a consumer group's partition count without breaking any key's order (ADR 0009).

``resize_partitions`` drives the group through four steps, recorded in
``messaging.partition_groups`` so that running it again after a crash resumes where it stopped
(each step checks what is already done):

1. hold (phase ``holding``): declare ``Q.resize``, move every pattern binding of ``Q.hash`` to
   it; intake now waits there.
2. drain (``draining``): the members finish the old partitions and hand them back; wait until
   no lease is held and every partition queue is empty.
3. re-bind: declare the new partition queues, bind ``Q.p0 .. Q.p{P2-1}`` to ``Q.hash`` instead of
   the old ones, delete those past ``P2``; the count becomes ``P2`` (``catching_up``).
4. resume: move the patterns back to ``Q.hash`` and seal ``Q.resize``; one member handles
   ``Q.resize`` to empty before any partition is taken, deletes it, and the group runs again.

The broker cannot list bindings or a queue's arguments over AMQP: ``BrokerBindings`` asks the
management API (the kit's CLI implements it with httpx).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aio_pika
import asyncpg
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)

from tandem_contracts import EVENTS_EXCHANGE
from tandem_messaging._errors import MessagingError
from tandem_messaging._topology import (
    ConsumerTopology,
    declare_events_exchange,
    delete_queue,
    queue_counts,
    resize_queue,
)

__all__ = ["BrokerBindings", "ResizeError", "Resized", "resize_partitions"]

logger = logging.getLogger(__name__)

_GROUP = "SELECT partitions, phase, target FROM messaging.partition_groups WHERE grp = $1"
_GROUP_LOCKED = f"{_GROUP} FOR UPDATE"
_GROUP_PHASE = "SELECT phase FROM messaging.partition_groups WHERE grp = $1"
_BEGIN = """
UPDATE messaging.partition_groups
SET phase = 'holding', target = $2, sealed = false, updated_at = clock_timestamp()
WHERE grp = $1 AND phase = 'running'
"""
_PHASE = """
UPDATE messaging.partition_groups SET phase = $3, updated_at = clock_timestamp()
WHERE grp = $1 AND phase = $2
"""
_HELD = """
SELECT count(*) FROM messaging.partition_leases
WHERE grp = $1 AND partition >= 0 AND owner IS NOT NULL AND expires_at > clock_timestamp()
"""
# Lease rows past the new count are kept, free: a partition that comes back later continues
# its epochs, so (partition, epoch) keeps naming one tenure in the log and the inbox.
_LEASE_ROWS = """
INSERT INTO messaging.partition_leases (grp, partition)
SELECT $1, generate_series(-1, $2 - 1) ON CONFLICT DO NOTHING
"""
_REBOUND = """
UPDATE messaging.partition_groups
SET partitions = $2, phase = 'catching_up', updated_at = clock_timestamp()
WHERE grp = $1 AND phase = 'draining'
"""
_SEAL = """
UPDATE messaging.partition_groups SET sealed = true, updated_at = clock_timestamp()
WHERE grp = $1 AND phase = 'catching_up'
"""


class ResizeError(MessagingError):
    """The resize cannot start, or did not finish in time (running it again continues)."""


class BrokerBindings(Protocol):
    """What AMQP cannot tell about the broker: bindings and a queue's arguments."""

    async def sources(
        self, kind: Literal["exchange", "queue"], name: str, source: str
    ) -> list[str]:
        """The routing keys (patterns) binding exchange ``source`` to the exchange or queue
        ``name``; empty when there are none or ``name`` does not exist."""
        ...

    async def destinations(self, exchange: str) -> list[tuple[str, str]]:
        """The queues bound to ``exchange``, each with its routing key."""
        ...

    async def queue_arguments(self, queue: str) -> dict[str, Any]:
        """The arguments ``queue`` was declared with."""
        ...


@dataclass(frozen=True)
class Resized:
    """A finished resize: the group's partition count before and after."""

    group: str
    before: int
    after: int


@dataclass
class _Run:
    pool: asyncpg.Pool
    channel: AbstractChannel
    broker: BrokerBindings
    events: AbstractExchange
    topology: ConsumerTopology
    deadline: float
    poll_s: float

    @property
    def group(self) -> str:
        return self.topology.queue

    def left(self, what: str) -> None:
        if asyncio.get_running_loop().time() > self.deadline:
            raise ResizeError(f"{self.group}: timed out {what}; run the resize again to continue")


async def resize_partitions(
    pool: asyncpg.Pool,
    connection: AbstractConnection,
    broker: BrokerBindings,
    group: str,
    to: int,
    *,
    timeout_s: float = 300.0,
    poll_s: float = 0.5,
) -> Resized:
    """Change consumer group ``group`` to ``to`` partitions (or finish a resize to ``to`` that
    was interrupted); raise ``ResizeError`` when it cannot start or ``timeout_s`` passes."""
    if not 1 <= to <= 256:
        raise ResizeError("a group has 1 to 256 partitions")
    before, phase = await _begin(pool, group, to)
    if phase == "running":
        return Resized(group, before, to)
    channel = await connection.channel()
    try:
        run = _Run(
            pool,
            channel,
            broker,
            await declare_events_exchange(channel),
            ConsumerTopology(queue=group, bindings=()),
            asyncio.get_running_loop().time() + timeout_s,
            poll_s,
        )
        if phase == "holding":
            await _hold(run)
            await pool.execute(_PHASE, group, "holding", "draining")
            phase = "draining"
        if phase == "draining":
            await _drain(run, before)
            await _rebind(run, before, to)
        await _resume(run)
    finally:
        await channel.close()
    return Resized(group, before, to)


async def _begin(pool: asyncpg.Pool, group: str, to: int) -> tuple[int, str]:
    """The group's count and phase once the resize to ``to`` is under way (``running``: it
    has ``to`` partitions already)."""
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(_GROUP_LOCKED, group)
        if row is None:
            raise ResizeError(f"no consumer group {group!r} (no member has started)")
        partitions, phase, target = int(row["partitions"]), str(row["phase"]), row["target"]
        if phase == "running":
            if partitions == to:
                return partitions, phase
            await connection.execute(_BEGIN, group, to)
            return partitions, "holding"
        if target != to:
            raise ResizeError(
                f"a resize of {group!r} to {target} partitions is under way; run it again "
                f"with --to {target} to finish it first"
            )
        # Past the re-bind the count is the target already; the old one is in the log only.
        return partitions, phase


async def _hold(run: _Run) -> None:
    """Declare Q.resize like the partitions and move every pattern of Q.hash to it (a message
    published in between goes to both: the inbox drops the copy handled second)."""
    arguments = await run.broker.queue_arguments(run.topology.partition_queue(0))
    held = await run.channel.declare_queue(
        resize_queue(run.group), durable=True, arguments=arguments
    )
    spread = await run.channel.get_exchange(run.topology.hash_exchange, ensure=False)
    for pattern in await run.broker.sources("exchange", spread.name, EVENTS_EXCHANGE):
        await held.bind(run.events, routing_key=pattern)
        await spread.unbind(run.events, routing_key=pattern)
        logger.info("%s: %s now held in %s", run.group, pattern, held.name)


async def _drain(run: _Run, partitions: int) -> None:
    """Wait until no partition lease is held and every partition queue is empty; a pattern a
    starting member bound to Q.hash meanwhile is moved to Q.resize again first."""
    while True:
        await _hold(run)
        held = int(await run.pool.fetchval(_HELD, run.group))
        busy = []
        for partition in range(partitions):
            counts = await queue_counts(run.channel, run.topology.partition_queue(partition))
            if counts is not None and counts != (0, 0):
                busy.append(partition)
        if held == 0 and not busy:
            return
        run.left(f"draining ({held} leases held, partitions {busy} not empty)")
        await asyncio.sleep(run.poll_s)


async def _rebind(run: _Run, before: int, to: int) -> None:
    """Bind Q.p0 .. Q.p{to-1} to Q.hash in place of the old partitions; delete the ones past
    ``to`` (a straggler in them, a retry that came back after the drain, is sent through
    Q.hash again); then the group has ``to`` partitions and catches up."""
    arguments = await run.broker.queue_arguments(run.topology.partition_queue(0))
    for partition in range(before, to):
        await run.channel.declare_queue(
            run.topology.partition_queue(partition), durable=True, arguments=arguments
        )
    spread = await run.channel.get_exchange(run.topology.hash_exchange, ensure=False)
    for name, key in await run.broker.destinations(spread.name):
        await (await run.channel.get_queue(name, ensure=False)).unbind(spread, routing_key=key)
    for partition in range(to):
        queue = await run.channel.get_queue(run.topology.partition_queue(partition), ensure=False)
        await queue.bind(spread, routing_key="1")  # in partition order, as members declare
    for partition in range(to, before):
        # Unbound now, so nothing arrives any more: what is left goes to its new partition.
        name = run.topology.partition_queue(partition)
        counts = await queue_counts(run.channel, name)
        if counts is not None and counts[0] > 0:
            await _send_through(run, name, spread, counts[0])
        await delete_queue(run.channel, name)
    async with run.pool.acquire() as connection, connection.transaction():
        await connection.execute(_LEASE_ROWS, run.group, to)
        await connection.execute(_REBOUND, run.group, to)
    logger.info("%s: %d partitions bound in place of %d", run.group, to, before)


async def _send_through(run: _Run, name: str, spread: AbstractExchange, count: int) -> None:
    # Consumed, not basic.get: a single-active-consumer quorum queue refuses basic.get.
    queue = await run.channel.get_queue(name, ensure=False)
    async with queue.iterator() as messages:
        async for message in messages:
            await _publish_again(spread, message)
            count -= 1
            if count == 0:
                return


async def _publish_again(spread: AbstractExchange, message: AbstractIncomingMessage) -> None:
    await spread.publish(
        aio_pika.Message(
            message.body,
            headers=message.headers,
            content_type=message.content_type,
            message_id=message.message_id,
            type=message.type,
            correlation_id=message.correlation_id,
            timestamp=message.timestamp,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key="",
    )
    await message.ack()


async def _resume(run: _Run) -> None:
    """Move the patterns back to Q.hash, seal Q.resize, and wait for a member to handle it."""
    name = resize_queue(run.group)
    spread = await run.channel.get_exchange(run.topology.hash_exchange, ensure=False)
    if await queue_counts(run.channel, name) is not None:
        held = await run.channel.get_queue(name, ensure=False)
        for pattern in await run.broker.sources("queue", name, EVENTS_EXCHANGE):
            await spread.bind(run.events, routing_key=pattern)
            await held.unbind(run.events, routing_key=pattern)
    await run.pool.execute(_SEAL, run.group)
    while await run.pool.fetchval(_GROUP_PHASE, run.group) != "running":
        run.left(f"waiting for a member to handle {name} (none running?)")
        await asyncio.sleep(run.poll_s)
