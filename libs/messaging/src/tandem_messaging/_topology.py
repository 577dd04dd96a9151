"""Broker topology: declared idempotently at start, and checked against what already exists.

For a consumer group ``Q`` (e.g. ``time-expense.postings``) with P partitions:

    tandem.events (topic) --bindings--> Q.hash (x-consistent-hash on x-tandem-partition-key)
    Q.hash --"1" each--> Q.p0 .. Q.p{P-1} (quorum, single active consumer, delivery limit)
    Q.hash --alternate-exchange--> Q.unkeyed (fanout) --> Q.p0 (what Q.hash could not route)
    tandem.retry (direct) --Q.retry.N--> Q.retry.N (TTL = delay N, dead-letters to Q.hash)
    tandem.dead-letter (direct) --Q--> Q.dead-letter (quorum; drained into the parking lot)

A key's messages hash to one partition, and a retried, released or replayed message goes back
through ``Q.hash`` to the partition of its key: never to the other subscribers of the event.
Partition queues are bound in order, so the broker's hash ring is the same wherever declared.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    "hash_exchange",
    "partition_header",
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
                "x-message-ttl": round(delay * 1000),
                "x-dead-letter-exchange": topology.hash_exchange,
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
    queues = []
    for partition in range(topology.partitions):
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
        await queue.bind(spread, routing_key="1")  # equal weight on the hash ring
        queues.append(queue)
    await queues[0].bind(unkeyed)
    for pattern in topology.bindings:
        await spread.bind(events, routing_key=pattern)
    return queues


async def _exchange(
    channel: AbstractChannel,
    name: str,
    kind: aio_pika.ExchangeType | str,
    arguments: dict[str, object] | None = None,
) -> AbstractExchange:
    kind_name = kind.value if isinstance(kind, aio_pika.ExchangeType) else kind
    try:
        return await channel.declare_exchange(name, kind, durable=True, arguments=arguments)  # type: ignore[arg-type]
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        await _reopen(channel)
        raise TopologyMismatchError(
            f"exchange {name!r} already exists with other settings than the declared "
            f"durable {kind_name} exchange ({arguments or {}}): {exc}"
        ) from exc
    except aiormq.exceptions.ConnectionCommandInvalid as exc:
        raise TopologyMismatchError(
            f"the broker refused exchange {name!r} of type {kind_name}: {exc}. A partitioned "
            "consumer needs the plugin rabbitmq_consistent_hash_exchange enabled."
        ) from exc


async def _queue(
    channel: AbstractChannel, name: str, arguments: dict[str, object]
) -> AbstractQueue:
    try:
        return await channel.declare_queue(name, durable=True, arguments=arguments)  # type: ignore[arg-type]
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        await _reopen(channel)
        raise TopologyMismatchError(
            f"queue {name!r} already exists with other arguments than declared "
            f"({arguments}); the broker says: {exc}. Delete or migrate the queue, or fix "
            "the consumer's settings."
        ) from exc


async def _reopen(channel: AbstractChannel) -> None:
    # A failed declaration closes the channel; leave the caller a usable one for cleanup.
    if channel.is_closed:
        await channel.reopen()
