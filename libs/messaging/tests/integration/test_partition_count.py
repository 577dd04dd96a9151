"""A group's partition count on the real broker and database: members follow the group's count
whatever they were configured with, and growing P by just binding more queues mid-stream (what
``tandem partitions resize`` exists to avoid) splits a key's events over two partitions."""

from __future__ import annotations

import dataclasses
from typing import Any

import aio_pika
import asyncpg

from tandem_contracts import Envelope, encode
from tandem_contracts.events import OpportunityLost
from tandem_messaging import (
    Consumer,
    ConsumerSettings,
    ConsumerTopology,
    HandlerContext,
    Router,
    binding_for,
    declare_consumer,
    declare_events_exchange,
    partition_header,
)

KEYS = [f"k-{i:02d}" for i in range(40)]


def _router() -> Router:
    router = Router(service="test")

    @router.handles(OpportunityLost)
    async def ignore(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        return None

    return router


async def test_a_member_configured_with_another_count_follows_the_group(
    pool: asyncpg.Pool, amqp: Any, fast_settings: ConsumerSettings
) -> None:
    three = dataclasses.replace(fast_settings, partitions=3)
    five = dataclasses.replace(fast_settings, partitions=5)
    async with (
        Consumer(_router(), queue="t.count", pool=pool, connection=amqp, settings=three) as first,
        Consumer(_router(), queue="t.count", pool=pool, connection=amqp, settings=five) as later,
    ):
        # The group was created with three partitions; the member configured with five
        # creates and binds no queue past them, and leases only the group's three.
        assert first.partitions | later.partitions <= {0, 1, 2}
        assert await _exists(amqp, "t.count.p2")
        assert not await _exists(amqp, "t.count.p3")
    group = await pool.fetchrow(
        "SELECT partitions, phase FROM messaging.partition_groups WHERE grp = 't.count'"
    )
    assert group is not None
    assert (group["partitions"], group["phase"]) == (3, "running")
    rows = "SELECT max(partition) FROM messaging.partition_leases WHERE grp = 't.count'"
    assert await pool.fetchval(rows) == 2


async def test_binding_more_partitions_mid_stream_splits_keys_over_two_partitions(
    amqp: Any, lost_event: Any
) -> None:
    channel = await amqp.channel(publisher_confirms=True)
    topology = ConsumerTopology(
        queue="t.naive", bindings=(binding_for(OpportunityLost),), partitions=2
    )
    await declare_consumer(channel, topology)
    exchange = await declare_events_exchange(channel)
    # Each key's first event goes to one of two partitions (no member consumes yet).
    for key in KEYS:
        await _publish(exchange, lost_event(key, 1))
    before = await _depths(amqp, topology, 2)
    assert sum(before) == len(KEYS)

    # The naive grow: two more partition queues bound to the hash exchange mid-stream, as a
    # member configured with P = 4 did before ADR 0009.
    spread = await channel.get_exchange(topology.hash_exchange, ensure=False)
    for partition in (2, 3):
        queue = await channel.declare_queue(
            topology.partition_queue(partition),
            durable=True,
            arguments={"x-queue-type": "quorum", "x-single-active-consumer": True},
        )
        await queue.bind(spread, routing_key="1")
    for key in KEYS:
        await _publish(exchange, lost_event(key, 2))

    # Some keys' second events went to a new partition while their first events wait in an
    # old one: two owners, no order between them, so the second may commit first.
    after = await _depths(amqp, topology, 4)
    moved = after[2] + after[3]
    assert moved > 0
    assert after[0] + after[1] == sum(before) + len(KEYS) - moved
    await channel.close()


async def _publish(exchange: Any, envelope: Envelope[Any]) -> None:
    await exchange.publish(
        aio_pika.Message(
            encode(envelope),
            message_id=str(envelope.event_id),
            headers=partition_header(envelope.subject.id),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key=envelope.routing_key,
    )


async def _depths(amqp: Any, topology: ConsumerTopology, partitions: int) -> list[int]:
    channel = await amqp.channel()
    try:
        depths = []
        for partition in range(partitions):
            name = topology.partition_queue(partition)
            declared = await channel.declare_queue(name, passive=True)
            depths.append(declared.declaration_result.message_count or 0)
        return depths
    finally:
        await channel.close()


async def _exists(amqp: Any, name: str) -> bool:
    channel = await amqp.channel()
    try:
        await channel.declare_queue(name, passive=True)
    except aio_pika.exceptions.ChannelClosed:
        return False
    await channel.close()
    return True
