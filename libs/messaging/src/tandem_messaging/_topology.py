"""Broker topology: declared idempotently at start, and checked against what already exists.

For a consumer queue ``Q`` (e.g. ``time-expense.posting``):

    tandem.events (topic) --bindings--> Q (quorum, delivery limit, dead-letters onwards)
    tandem.retry (direct) --Q.retry.N--> Q.retry.N (TTL = delay N, dead-letters back to Q)
    tandem.dead-letter (direct) --Q--> Q.dead-letter (quorum; drained into the parking lot)

Retries go to the consumer's own retry queues and come back to its own queue only, never to
the other subscribers of the event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from tandem_contracts import EVENTS_EXCHANGE, Event
from tandem_messaging._errors import TopologyMismatchError

__all__ = [
    "DEAD_LETTER_EXCHANGE",
    "RETRY_EXCHANGE",
    "ConsumerTopology",
    "DeclaredTopology",
    "binding_for",
    "declare_events_exchange",
]

RETRY_EXCHANGE = "tandem.retry"
DEAD_LETTER_EXCHANGE = "tandem.dead-letter"


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
    queue: AbstractQueue
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
    queue = await _queue(
        channel,
        topology.queue,
        {
            "x-queue-type": "quorum",
            "x-delivery-limit": topology.delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": topology.queue,
        },
    )
    for pattern in topology.bindings:
        await queue.bind(events, routing_key=pattern)
    dead_queue = await _queue(channel, topology.dead_letter_queue, {"x-queue-type": "quorum"})
    await dead_queue.bind(dead, routing_key=topology.queue)
    declared = DeclaredTopology(events, retry, queue, dead_queue)
    for level, delay in enumerate(topology.retry_delays):
        name = topology.retry_queue(level)
        retry_queue = await _queue(
            channel,
            name,
            {
                "x-message-ttl": round(delay * 1000),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": topology.queue,
            },
        )
        await retry_queue.bind(retry, routing_key=name)
        declared.retry_queues.append(retry_queue)
    return declared


async def _exchange(
    channel: AbstractChannel, name: str, kind: aio_pika.ExchangeType
) -> AbstractExchange:
    try:
        return await channel.declare_exchange(name, kind, durable=True)
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        await _reopen(channel)
        raise TopologyMismatchError(
            f"exchange {name!r} already exists with other settings than the declared "
            f"durable {kind.value} exchange: {exc}"
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
