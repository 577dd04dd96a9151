"""Every catalogue event survives a real RabbitMQ: encode → publish → consume → decode → equal."""

import asyncio

import aio_pika

from tandem_contracts import CONTENT_TYPE, EVENTS_EXCHANGE, decode, encode
from tandem_contracts.samples import sample_envelopes


async def test_every_catalogue_event_round_trips_through_rabbitmq(amqp_url: str) -> None:
    envelopes = sample_envelopes()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            "contracts-round-trip", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, routing_key="#")

        # Publish each sample under its routing key, persistent, waiting for the broker's confirm.
        for envelope in envelopes:
            await exchange.publish(
                aio_pika.Message(
                    encode(envelope),
                    content_type=CONTENT_TYPE,
                    message_id=str(envelope.event_id),
                    type=envelope.event_type,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=envelope.routing_key,
            )

        # Consume them back and decode; the broker preserves order within one queue.
        received = []
        async with asyncio.timeout(15), queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    received.append((message.routing_key, decode(message.body)))
                if len(received) == len(envelopes):
                    break

    assert [envelope for _, envelope in received] == envelopes
    assert [key for key, _ in received] == [e.routing_key for e in envelopes]


async def test_residency_binds_at_queue_level(amqp_url: str) -> None:
    envelopes = sample_envelopes()
    eu_only = [e for e in envelopes if e.data_residency_region == "eu"]
    assert 0 < len(eu_only) < len(envelopes)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue("eu-processing", durable=True)
        await queue.bind(exchange, routing_key="*.*.*.eu.#")
        for envelope in envelopes:
            await exchange.publish(aio_pika.Message(encode(envelope)), envelope.routing_key)

        received = []
        async with asyncio.timeout(15), queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    received.append(decode(message.body))
                if len(received) == len(eu_only):
                    break
        declared = await channel.declare_queue("eu-processing", passive=True)
        leftover = declared.declaration_result.message_count

    assert received == eu_only
    assert leftover == 0
