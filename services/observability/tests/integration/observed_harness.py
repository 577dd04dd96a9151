"""observability's api and worker in this process (as the kit runs them) on real PostgreSQL and
RabbitMQ. Events are announced through its database's outbox, so its relay publishes them on
the real bus and its consumer takes them back, as it takes every other service's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
import asyncpg
import httpx

from observability.bootstrap import DEFINITION
from observability.settings import Settings
from tandem_contracts import CONTENT_TYPE, Envelope, Producer, encode, message_type
from tandem_messaging import Outbox, declare_events_exchange, partition_header
from tandem_service_kit import apply_migrations, serve_in_process
from tandem_testing import eventually, free_port

OPERATOR = "observability-operator-key"
READER = "observability-reader-key"


@dataclass
class Observed:
    """observability running: its API as an operator and as a reader, and its database."""

    api: httpx.AsyncClient
    reader: httpx.AsyncClient
    pool: asyncpg.Pool
    settings: Settings

    async def announce(self, *envelopes: Envelope[Any]) -> None:
        """Publish the events through the outbox (many per transaction, in order)."""
        for start in range(0, len(envelopes), 200):
            async with self.pool.acquire() as db, db.transaction():
                await Outbox().add(db, *envelopes[start : start + 200])

    async def publish(self, *envelopes: Envelope[Any]) -> None:
        """Publish the events onto the bus as another service's relay does (not through
        observability's own outbox: nothing of them is kept in its database that way)."""
        async with await aio_pika.connect(self.settings.amqp_url) as connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await declare_events_exchange(channel)
            for item in envelopes:
                message = aio_pika.Message(
                    encode(item), content_type=CONTENT_TYPE, message_id=str(item.event_id),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT, type=message_type(item),
                    headers=partition_header(str(item.correlation_id)),
                )  # fmt: skip
                await exchange.publish(message, routing_key=item.routing_key)

    async def get(self, path: str, **params: Any) -> Any:
        answer = await self.reader.get(path, params=params)
        assert answer.is_success, f"{path}: {answer.status_code} {answer.text}"
        return answer.json()

    async def recorded(self, count: int, within: float = 60) -> None:
        """Wait until ``count`` steps are recorded and folded into the KPIs."""

        async def done() -> bool:
            row = await self.pool.fetchrow(
                "SELECT count(*) AS steps, bool_and(folded) IS NOT false AS folded"
                " FROM observability.steps"
            )
            assert row is not None
            return bool(row["steps"] >= count and row["folded"])

        await eventually(done, within=within, what=f"{count} steps recorded and folded")


@asynccontextmanager
async def observing(database_url: str, amqp_url: str, **more: Any) -> AsyncIterator[Observed]:
    """observability on these real parts (settings overridden by ``more``)."""
    values: dict[str, Any] = {
        "database_url": database_url, "amqp_url": amqp_url, "http_port": free_port(),
        "worker_http_port": 0, "kpi_interval_s": 0.2, "utilization_interval_s": 3600,
        "api_keys": {
            OPERATOR: ["observability:read", "observability:operate", "parked:read",
                       "parked:replay", "parked:discard"],
            READER: ["observability:read"],
        },
    } | more  # fmt: skip
    settings = Settings(**values)
    await apply_migrations(database_url, DEFINITION.migrations)
    url = f"http://127.0.0.1:{settings.http_port}"
    async with (
        serve_in_process(DEFINITION, settings) as pool,
        httpx.AsyncClient(base_url=url, headers={"X-API-Key": OPERATOR}, timeout=10) as api,
        httpx.AsyncClient(base_url=url, headers={"X-API-Key": READER}, timeout=10) as reader,
    ):
        await _consuming(amqp_url, settings.partitions)
        yield Observed(api, reader, pool, settings)


async def _consuming(amqp_url: str, partitions: int) -> None:
    """Wait until every partition queue of observability's consumer has its consumer: an
    event published before would be routed to no queue (or wait for a lease)."""
    from observability.service_layer.recording import QUEUE

    async with await aio_pika.connect(amqp_url) as connection:

        async def ready() -> bool:
            for partition in range(partitions):
                channel = await connection.channel()
                try:
                    queue = await channel.declare_queue(f"{QUEUE}.p{partition}", passive=True)
                except aio_pika.exceptions.ChannelClosed:
                    return False
                finally:
                    if not channel.is_closed:
                        await channel.close()
                if not queue.declaration_result.consumer_count:
                    return False
            return True

        await eventually(ready, within=30, what="observability consuming every partition")


def envelope(
    payload: Any,
    *,
    service: str,
    correlation: str,
    at: datetime,
    entity: str = "le-uk",
    region: str = "eu",
    version: int = 1,
) -> Envelope[Any]:
    """An event as ``service`` publishes it, in ``correlation``'s flow, at ``at``."""
    return Envelope.new(
        payload, producer=Producer(service=service), tenant_id="acme", legal_entity_id=entity,
        data_residency_region=region, correlation_id=correlation, subject_version=version,
        occurred_at=at,
    )  # fmt: skip
