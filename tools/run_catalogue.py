"""Tandem's main job, as far as it exists today: the event catalogue through a real RabbitMQ.

Publishes one sample of every catalogue event (persistent, with publisher confirms) to the
suite's topic exchange, consumes them back from a queue bound to every routing key, decodes
each, checks it equals what was sent, and prints the workflow they tell.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

import aio_pika

from tandem_contracts import CONTENT_TYPE, EVENTS_EXCHANGE, Envelope, decode, encode
from tandem_contracts.samples import sample_envelopes

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


async def run(amqp_url: str) -> int:
    sent = sample_envelopes()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="#")
        started = time.perf_counter()
        for envelope in sent:
            outgoing = aio_pika.Message(
                encode(envelope),
                content_type=CONTENT_TYPE,
                message_id=str(envelope.event_id),
                type=envelope.event_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await exchange.publish(outgoing, routing_key=envelope.routing_key)
        received: list[Envelope[Any]] = []
        async with asyncio.timeout(30), queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    received.append(decode(message.body))
                if len(received) == len(sent):
                    break
        elapsed = time.perf_counter() - started
    _print_table(received)
    intact = received == sent
    print(
        f"\n{len(received)}/{len(sent)} events published with confirms, consumed and decoded "
        f"in {elapsed * 1000:.0f} ms; all equal to what was sent: {intact}"
    )
    return 0 if intact else 1


def _print_table(envelopes: list[Envelope[Any]]) -> None:
    print(f"{'routing key':<62} {'subject':<32} {'producer':<18} correlation")
    for e in envelopes:
        subject = f"{e.subject.type}:{e.subject.id}"
        print(f"{e.routing_key:<62} {subject:<32} {e.producer.service:<18} {e.correlation_id}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--amqp-url", default=os.environ.get("TANDEM_AMQP_URL", DEFAULT_AMQP_URL))
    args = parser.parse_args()
    return asyncio.run(run(args.amqp_url))


if __name__ == "__main__":
    sys.exit(main())
