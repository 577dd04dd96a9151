"""The broker's queues as RabbitMQ's real management API reports them, in a vhost per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import unquote, urlsplit

import aio_pika
import httpx
import pytest

from observability.adapters.rabbitmq import ManagementBroker, from_settings, queue_group
from observability.service_layer.ports import BrokerState, QueueState, SourceUnavailable
from observability.settings import Settings
from tandem_messaging import ConsumerTopology, declare_consumer
from tandem_testing import AmqpServer, eventually, free_port

GROUP = "obs-test.postings"
DEPTH = 7
PREFETCH = 2


def vhost_of(amqp_url: str) -> str:
    return unquote(urlsplit(amqp_url).path[1:])


@pytest.fixture
async def broker(amqp_server_info: AmqpServer, amqp_url: str) -> AsyncIterator[ManagementBroker]:
    managed = ManagementBroker(amqp_server_info.management_url, vhost_of(amqp_url))
    try:
        yield managed
    finally:
        await managed.aclose()


async def test_depth_consumers_partition_and_owner(broker: ManagementBroker, amqp_url: str) -> None:
    state: BrokerState = broker  # the adapter is the port's
    topology = ConsumerTopology(queue=GROUP, bindings=("time.TimeApproved.*.*.*",), partitions=2)
    async with (
        await aio_pika.connect(amqp_url, client_properties={"connection_name": "worker-a"}) as a,
        await aio_pika.connect(amqp_url, client_properties={"connection_name": "worker-b"}) as b,
    ):
        # The runtime's topology: two single-active-consumer partitions, retry levels, dead
        # letters. Seven messages wait on partition 1.
        channel = await a.channel()
        await declare_consumer(channel, topology)
        for n in range(DEPTH):
            message = aio_pika.Message(f"message {n}".encode())
            await channel.default_exchange.publish(message, routing_key=topology.partition_queue(1))

        # worker-a consumes partition 1 first and holds two unacknowledged; worker-b waits.
        await channel.set_qos(prefetch_count=PREFETCH)
        partition = await channel.get_queue(topology.partition_queue(1), ensure=False)
        await partition.consume(_keep)
        standby = await b.channel()
        await (await standby.get_queue(topology.partition_queue(1), ensure=False)).consume(_keep)

        # The management API samples every few seconds: wait until it has seen all that.
        held = QueueState(
            name=f"{GROUP}.p1", messages=DEPTH, messages_unacked=PREFETCH, consumers=2,
            consumer_group=GROUP, partition=1, owner="worker-a",
        )  # fmt: skip

        async def seen() -> bool:
            return held in await state.queues()

        await eventually(seen, within=30, every=0.5, what=f"the management API to show {held}")
        states = {s.name: s for s in await state.queues()}

    # The active consumer owns the partition, not the one waiting beside it.
    assert states[topology.partition_queue(1)] == held
    assert states[topology.partition_queue(0)] == QueueState(
        name=f"{GROUP}.p0", messages=0, messages_unacked=0, consumers=0,
        consumer_group=GROUP, partition=0, owner=None,
    )  # fmt: skip
    retry = states[topology.retry_queue(0)]
    assert (retry.consumer_group, retry.partition, retry.owner) == (GROUP, None, None)
    assert states[topology.dead_letter_queue].consumer_group == GROUP
    assert set(states) == {
        f"{GROUP}.p0",
        f"{GROUP}.p1",
        f"{GROUP}.dead-letter",
        *(topology.retry_queue(level) for level in range(len(topology.retry_delays))),
    }


async def _keep(message: aio_pika.abc.AbstractIncomingMessage) -> None:
    """Hold the message unacknowledged: it counts as in flight until the connection closes."""


async def test_an_unreachable_api_is_unavailable(amqp_url: str) -> None:
    broker = ManagementBroker(f"http://guest:guest@127.0.0.1:{free_port()}", vhost_of(amqp_url))
    try:
        with pytest.raises(SourceUnavailable, match="is unreachable"):
            await broker.queues()
    finally:
        await broker.aclose()


async def test_a_wrong_password_fails_authentication_without_showing_it(
    amqp_server_info: AmqpServer, amqp_url: str
) -> None:
    password = "not-the-Passw0rd-9f3k"
    url = httpx.URL(amqp_server_info.management_url).copy_with(password=password)
    broker = ManagementBroker(str(url), vhost_of(amqp_url))
    try:
        with pytest.raises(SourceUnavailable) as refused:
            await broker.queues()
    finally:
        await broker.aclose()

    assert "authentication failed" in str(refused.value)
    assert password not in str(refused.value)
    assert password not in str(broker.base_url)


async def test_an_unknown_vhost_is_unavailable(amqp_server_info: AmqpServer) -> None:
    broker = ManagementBroker(amqp_server_info.management_url, "no-such-vhost-4c1d")
    try:
        with pytest.raises(SourceUnavailable, match="no vhost 'no-such-vhost-4c1d'"):
            await broker.queues()
    finally:
        await broker.aclose()


@pytest.mark.parametrize(
    ("name", "group", "partition"),
    [
        ("time-expense.postings.p12", "time-expense.postings", 12),
        ("time-expense.postings.retry.3", "time-expense.postings", None),
        ("time-expense.postings.dead-letter", "time-expense.postings", None),
        ("time-expense.postings.resize", "time-expense.postings", None),
        ("amq.gen-Xk2f", None, None),
        ("time-expense.postings.pX", None, None),
    ],
)
def test_a_queue_name_says_its_group_and_partition(
    name: str, group: str | None, partition: int | None
) -> None:
    assert queue_group(name) == (group, partition)


def test_the_broker_is_read_only_when_its_management_url_is_configured() -> None:
    assert from_settings(Settings(rabbitmq_management_url=None)) is None
    broker = from_settings(
        Settings(rabbitmq_management_url="http://obs:s3cret@rabbitmq:15672", rabbitmq_vhost="t")
    )
    assert broker is not None
    assert (str(broker.base_url), broker.vhost) == ("http://rabbitmq:15672", "t")
