"""A broker node killed mid-stream: the node leading the consumer's queue, which is also the
node the process is connected to. The runtime moves to another node by itself, and every
event still takes effect exactly once."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time

from tandem_messaging import Consumer, OutboxRelay
from tandem_service_kit import ServiceSettings, open_resources
from tandem_service_kit._resources import ClusterConnection
from tandem_testing import RabbitCluster, eventually

from .support import (
    FAST,
    Clock,
    Stream,
    assert_exactly_once,
    at_least,
    counted,
    drained,
    effects,
    new_metrics,
    prepare_database,
    recording_router,
)

logger = logging.getLogger(__name__)
QUEUE = "faults.cluster"


def work_queue_leaders(cluster: RabbitCluster, vhost: str) -> dict[str, str]:
    """The leader of each queue the consumer takes work from (one, or one per partition)."""
    work = re.compile(re.escape(QUEUE) + r"(\.p\d+)?")
    return {q: node for q, node in cluster.leaders(vhost).items() if work.fullmatch(q)}


async def test_killing_the_node_leading_the_queue_loses_and_doubles_nothing(
    rabbit_cluster: RabbitCluster, database_url: str
) -> None:
    clock = Clock()
    vhost = f"faults-{secrets.token_hex(4)}"
    urls = await asyncio.to_thread(rabbit_cluster.with_vhost, vhost)
    await prepare_database(database_url)
    settings = ServiceSettings(
        service_name="faults", database_url=database_url, amqp_url=",".join(urls)
    )
    registry, metrics = new_metrics()
    stopping = asyncio.Event()
    killed: str | None = None
    async with open_resources(settings) as (pool, broker):
        assert isinstance(broker, ClusterConnection)
        home = rabbit_cluster.node_of_url(str(broker.url)).name
        stream = Stream(pool, total=3000)
        consumer = Consumer(
            recording_router(),
            queue=QUEUE,
            pool=pool,
            connection=broker,
            settings=FAST,
            metrics=metrics,
        )
        async with consumer:
            relay = asyncio.create_task(
                OutboxRelay(pool, broker, batch_size=50, metrics=metrics).run(stopping)
            )
            producing = asyncio.create_task(stream.run())
            try:
                # The stream flows: the relay publishes it, the consumer handles it.
                await eventually(at_least(pool, 300), within=60, what="the stream to flow")
                # The queue was declared through this process's node, so that node leads it.
                leaders = await asyncio.to_thread(work_queue_leaders, rabbit_cluster, vhost)
                assert leaders, "the consumer's queue is not a quorum queue of the cluster"
                assert set(leaders.values()) == {home}
                # kill -9 that node mid-stream.
                killed, killed_at = home, time.monotonic()
                await asyncio.to_thread(rabbit_cluster.kill, home)
                logger.info("killed %s at %.2f s: %d effects", home, clock(), await effects(pool))

                # The process reconnects to another node, and the stream flows again.
                def moved() -> bool:
                    node = rabbit_cluster.node_of_url(str(broker.url)).name
                    return broker.connected.is_set() and node != killed

                await eventually(moved, within=30, what="a connection to another node")
                reconnected = time.monotonic() - killed_at
                resumed_from = await effects(pool)
                await eventually(
                    at_least(pool, resumed_from + 100), within=60, what="effects after failover"
                )
                flowing = time.monotonic() - killed_at
                # The killed node comes back and rejoins; everything drains.
                await asyncio.to_thread(rabbit_cluster.start, killed)
                killed = None
                await producing
                await drained(pool, stream.total, within=60)
            finally:
                stopping.set()
                producing.cancel()
                await relay
                if killed is not None:
                    await asyncio.to_thread(rabbit_cluster.start, killed)
        logger.info(
            "node kill: reconnected after %.2f s, 100 new effects after %.2f s, done at %.2f s",
            reconnected, flowing, clock(),
        )  # fmt: skip
        await assert_exactly_once(pool, stream)
        assert counted(registry, "tandem_messages_failed_total") == 0
    # The restarted node holds its replica of every work queue again.
    for queue in await asyncio.to_thread(work_queue_leaders, rabbit_cluster, vhost):
        members = await asyncio.to_thread(rabbit_cluster.members_of, queue, vhost)
        assert members == sorted(rabbit_cluster.names)
