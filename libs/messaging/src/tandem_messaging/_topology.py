"""Broker topology: declared idempotently at start, and checked against what already exists.

For a consumer group ``Q`` (e.g. ``time-expense.postings``) with P partitions:

    tandem.events (topic) --bindings--> Q.hash (x-consistent-hash on x-tandem-partition-key)
    Q.hash --"1" each--> Q.p0 .. Q.p{P-1} (quorum, single active consumer, delivery limit)
    Q.hash --alternate-exchange--> Q.unkeyed (fanout) --> Q.p0 (what Q.hash could not route)
    tandem.retry (direct) --Q.retry.N--> Q.retry.N (quorum, TTL = delay N, dead-letters to Q.hash)
    tandem.dead-letter (direct) --Q--> Q.dead-letter (quorum; drained into the parking lot)

A key's messages hash to one partition, and a retried, released or replayed message goes back
through ``Q.hash`` to the partition of its key: never to the other subscribers of the event.
Partition queues are bound in order, so the broker's hash ring is the same wherever declared.

Only the first member of a new group binds partition queues: once ``Q.p0`` exists, a member
binds the partition queues that exist and creates none, so a member configured with another P
never reshuffles keys; P changes only through ``tandem partitions resize`` (ADR 0009). While
that runs (``Q.resize`` exists), a starting member binds its patterns to ``Q.resize``, and no
partition queue, so it cannot undo the procedure's hold.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from tandem_contracts import EVENTS_EXCHANGE, Event
from tandem_messaging._errors import TopologyMismatchError

__all__ = [
    "DEAD_LETTER_EXCHANGE",
    "PARTITION_HEADER",
    "RETRY_EXCHANGE",
    "ConsumerTopology",
    "DeclaredTopology",
    "binding_for",
    "declare_events_exchange",
    "delete_queue",
    "hash_exchange",
    "partition_header",
    "queue_counts",
    "resize_queue",
]

RETRY_EXCHANGE = "tandem.retry"
DEAD_LETTER_EXCHANGE = "tandem.dead-letter"
PARTITION_HEADER = "x-tandem-partition-key"
"""The header a consumer group's hash exchange hashes on: the publisher's ordering key."""
_CONSISTENT_HASH = "x-consistent-hash"


def partition_header(key: str) -> dict[str, Any]:
    """The headers a direct publisher sets so that ``key``'s messages share a partition: the
    same key as the consumer's lane key (the router's ``lane_key``, else the subject id)."""
    return {PARTITION_HEADER: key}


def hash_exchange(queue: str) -> str:
    """The exchange that spreads consumer group ``queue``'s messages over its partitions."""
    return f"{queue}.hash"


def resize_queue(queue: str) -> str:
    """The queue holding consumer group ``queue``'s intake while its partition count changes."""
    return f"{queue}.resize"


@contextlib.asynccontextmanager
async def _side_channel(channel: AbstractChannel) -> AsyncIterator[aiormq.abc.AbstractChannel]:
    # A failed passive declare closes its channel: probe on a channel of its own.
    underlay = await channel.get_underlay_channel()
    side = await underlay.connection.channel()
    try:
        yield side
    finally:
        if not side.is_closed:
            await side.close()


async def queue_counts(channel: AbstractChannel, name: str) -> tuple[int, int] | None:
    """Ask the broker (on a side channel of ``channel``'s connection) queue ``name``'s ready
    messages and consumers; None when it does not exist."""
    async with _side_channel(channel) as side:
        try:
            declared = await side.queue_declare(name, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            return None
    return declared.message_count or 0, declared.consumer_count or 0


async def delete_queue(channel: AbstractChannel, name: str) -> int:
    """Delete queue ``name`` (on a side channel); answer how many messages went with it (0
    when it did not exist). Quorum queues refuse ``if-empty``: the caller makes sure first."""
    async with _side_channel(channel) as side:
        try:
            deleted = await side.queue_delete(name)
        except aiormq.exceptions.ChannelNotFoundEntity:
            return 0
    return deleted.message_count or 0


def binding_for(model: type[Event], *, region: str = "*", legal_entity: str = "*") -> str:
    """Return the binding pattern for every version of ``model`` (optionally one region)."""
    return f"{model.context}.{model.event_type}.*.{region}.{legal_entity}"


@dataclass(frozen=True)
class ConsumerTopology:
    """What one consumer needs on the broker."""

    queue: str
    bindings: Sequence[str]
    retry_delays: Sequence[float] = (1.0, 5.0, 30.0, 120.0)
    delivery_limit: int = 10
    partitions: int = 1

    def partition_queue(self, partition: int) -> str:
        """Return the name of partition ``partition``'s queue."""
        return f"{self.queue}.p{partition}"

    @property
    def hash_exchange(self) -> str:
        """The consistent-hash exchange in front of the partition queues."""
        return hash_exchange(self.queue)

    @property
    def unkeyed_exchange(self) -> str:
        """Where the hash exchange sends what it cannot route: to partition 0."""
        return f"{self.queue}.unkeyed"

    def retry_queue(self, level: int) -> str:
        """Return the name of the retry queue for delay level ``level``."""
        return f"{self.queue}.retry.{level}"

    @property
    def dead_letter_queue(self) -> str:
        """The queue the broker dead-letters to when the delivery limit is exceeded."""
        return f"{self.queue}.dead-letter"

    def level_for(self, attempt: int, retry_after: float | None) -> int:
        """Pick the retry level: grows with attempts, and is at least ``retry_after`` long."""
        level = min(attempt - 1, len(self.retry_delays) - 1)
        if retry_after is not None:
            while level < len(self.retry_delays) - 1 and self.retry_delays[level] < retry_after:
                level += 1
        return max(level, 0)


@dataclass
class DeclaredTopology:
    """Handles to the declared exchanges and queues of one consumer."""

    events: AbstractExchange
    retry: AbstractExchange
    partitions: list[AbstractQueue]
    dead_letter_queue: AbstractQueue
    retry_queues: list[AbstractQueue] = field(default_factory=list)


async def declare_events_exchange(channel: AbstractChannel) -> AbstractExchange:
    """Declare (or check) the suite's topic exchange for domain events."""
    return await _exchange(channel, EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC)


async def declare_consumer(
    channel: AbstractChannel, topology: ConsumerTopology
) -> DeclaredTopology:
    """Declare every exchange, queue and binding of ``topology``; raise on a mismatch."""
    events = await declare_events_exchange(channel)
    retry = await _exchange(channel, RETRY_EXCHANGE, aio_pika.ExchangeType.DIRECT)
    dead = await _exchange(channel, DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT)
    partitions = await _declare_partitions(channel, topology, events)
    dead_queue = await _queue(channel, topology.dead_letter_queue, {"x-queue-type": "quorum"})
    await dead_queue.bind(dead, routing_key=topology.queue)
    declared = DeclaredTopology(events, retry, partitions, dead_queue)
    for level, delay in enumerate(topology.retry_delays):
        name = topology.retry_queue(level)
        retry_queue = await _queue(
            channel,
            name,
            {
                # Quorum, as every queue here: a classic queue is lost with its home node.
                "x-queue-type": "quorum",
                "x-message-ttl": round(delay * 1000),
                "x-dead-letter-exchange": topology.hash_exchange,
                # Expired messages leave only once the hash exchange's queue confirmed them.
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",  # at-least-once requires it
            },
        )
        await retry_queue.bind(retry, routing_key=name)
        declared.retry_queues.append(retry_queue)
    return declared


async def _declare_partitions(
    channel: AbstractChannel, topology: ConsumerTopology, events: AbstractExchange
) -> list[AbstractQueue]:
    unkeyed = await _exchange(channel, topology.unkeyed_exchange, aio_pika.ExchangeType.FANOUT)
    spread = await _exchange(
        channel,
        topology.hash_exchange,
        _CONSISTENT_HASH,
        {"hash-header": PARTITION_HEADER, "alternate-exchange": topology.unkeyed_exchange},
    )
    fresh = await queue_counts(channel, topology.partition_queue(0)) is None
    resizing = await queue_counts(channel, resize_queue(topology.queue)) is not None
    queues = []
    for partition in range(topology.partitions if fresh else 256):
        if not fresh and await queue_counts(channel, topology.partition_queue(partition)) is None:
            break  # an existing group's partitions are those whose queues exist
        queue = await _queue(
            channel,
            topology.partition_queue(partition),
            {
                "x-queue-type": "quorum",
                "x-single-active-consumer": True,
                "x-delivery-limit": topology.delivery_limit,
                "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
                "x-dead-letter-routing-key": topology.queue,
            },
        )
        if not resizing:
            await queue.bind(spread, routing_key="1")  # equal weight on the hash ring
        queues.append(queue)
    await queues[0].bind(unkeyed)
    intake: AbstractQueue | AbstractExchange = spread
    if resizing:
        intake = await channel.get_queue(resize_queue(topology.queue), ensure=False)
    for pattern in topology.bindings:
        await intake.bind(events, routing_key=pattern)
    return queues


# Each declaration is first made on a side channel: one the broker refuses (a queue or an
# exchange already there with other arguments) closes only that channel. On the consumer's
# robust channel the refusal would start aio-pika's own restore of it, which races whatever
# the caller does next on it ("Channel was not opened").


async def _exchange(
    channel: AbstractChannel,
    name: str,
    kind: aio_pika.ExchangeType | str,
    arguments: dict[str, object] | None = None,
) -> AbstractExchange:
    kind_name = kind.value if isinstance(kind, aio_pika.ExchangeType) else kind
    try:
        async with _side_channel(channel) as side:
            await side.exchange_declare(
                name,
                exchange_type=kind_name,
                durable=True,
                arguments=arguments,  # type: ignore[arg-type]
            )
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        raise TopologyMismatchError(
            f"exchange {name!r} already exists with other settings than the declared "
            f"durable {kind_name} exchange ({arguments or {}}): {exc}"
        ) from exc
    except aiormq.exceptions.ConnectionCommandInvalid as exc:
        raise TopologyMismatchError(
            f"the broker refused exchange {name!r} of type {kind_name}: {exc}. A partitioned "
            "consumer needs the plugin rabbitmq_consistent_hash_exchange enabled."
        ) from exc
    return await channel.declare_exchange(name, kind, durable=True, arguments=arguments)  # type: ignore[arg-type]


async def _queue(
    channel: AbstractChannel, name: str, arguments: dict[str, object]
) -> AbstractQueue:
    refused = await _refusal(channel, name, arguments)
    if refused is not None:
        classic = await _is_classic_of_old(channel, name, arguments)
        raise TopologyMismatchError(
            f"queue {name!r} already exists with other arguments than declared "
            f"({arguments}); the broker says: {refused}. "
            + (_CLASSIC_HINT if classic else _MISMATCH_HINT)
        ) from refused
    return await channel.declare_queue(name, durable=True, arguments=arguments)  # type: ignore[arg-type]


async def _refusal(
    channel: AbstractChannel, name: str, arguments: dict[str, object]
) -> aiormq.exceptions.ChannelPreconditionFailed | None:
    """Why the broker refuses queue ``name`` declared with ``arguments`` (asked on a side
    channel), or None when it takes it."""
    try:
        async with _side_channel(channel) as side:
            await side.queue_declare(name, durable=True, arguments=arguments)  # type: ignore[arg-type]
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        return exc
    return None


async def _is_classic_of_old(
    channel: AbstractChannel, name: str, arguments: dict[str, object]
) -> bool:
    """True if ``name`` is the classic queue an earlier version declared in place of this
    quorum one (the broker names only the first argument that differs, so ask it again)."""
    if arguments.get("x-queue-type") != "quorum":
        return False
    older = {k: v for k, v in arguments.items() if k not in _ADDED_WITH_QUORUM}
    return await _refusal(channel, name, older) is None


_ADDED_WITH_QUORUM = ("x-queue-type", "x-dead-letter-strategy", "x-overflow")
_MISMATCH_HINT = "Delete or migrate the queue, or fix the consumer's settings."
_CLASSIC_HINT = (
    "It is a classic queue from an earlier Tandem version, and every queue is a quorum queue "
    "now. One-time step: stop the group's consumers, wait until the queue is empty (a retry "
    "queue empties itself within its delay), delete it (rabbitmqctl delete_queue <name> "
    "--vhost <vhost> --if-empty) and start the consumers again, which declare it anew "
    "(libs/messaging README, 'Upgrading classic retry queues')."
)
