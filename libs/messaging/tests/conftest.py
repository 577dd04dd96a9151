from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import pytest

from tandem_contracts import Envelope, Producer, SystemKind, encode
from tandem_contracts.events import OpportunityLost
from tandem_messaging import (
    MIGRATIONS,
    ConsumerSettings,
    declare_events_exchange,
    partition_header,
)
from tandem_testing import eventually


async def apply_runtime_migrations(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        for path in sorted(MIGRATIONS.glob("*.sql")):
            await connection.execute(path.read_text())
    finally:
        await connection.close()


@pytest.fixture(name="eventually")
def eventually_fixture() -> Callable[..., Awaitable[None]]:
    return eventually


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await apply_runtime_migrations(database_url)
    async with asyncpg.create_pool(database_url, min_size=2, max_size=20) as created:
        await created.execute(
            "CREATE TABLE effects (event_id uuid, subject text, version int, "
            "serial bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())"
        )
        yield created


@pytest.fixture
async def amqp(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        yield connection


@pytest.fixture
def count() -> Callable[..., Awaitable[int]]:
    async def _count(pool: asyncpg.Pool, sql: str, *args: Any) -> int:
        value = await pool.fetchval(sql, *args)
        return int(value or 0)

    return _count


def lost_event(key: str, version: int = 1, **overrides: Any) -> Envelope[OpportunityLost]:
    """An OpportunityLost about opportunity ``key`` at subject ``version``."""
    payload = OpportunityLost(
        opportunity_id=key,
        stage="Closed Lost",
        reason=overrides.pop("reason", "budget"),
        lost_at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    )
    fields: dict[str, Any] = {
        "producer": Producer(service="project-sync", system=SystemKind.CRM),
        "tenant_id": "acme",
        "legal_entity_id": "le-de",
        "data_residency_region": "eu",
        "correlation_id": f"corr-{key}",
        "subject_version": version,
        **overrides,
    }
    return Envelope.new(payload, **fields)


@pytest.fixture(name="lost_event")
def lost_event_fixture() -> Callable[..., Envelope[OpportunityLost]]:
    return lost_event


async def publish(connection: aio_pika.abc.AbstractConnection, *envelopes: Envelope[Any]) -> None:
    """Publish envelopes straight to the events exchange, persistent, with confirms, keyed to
    their subject's partition."""
    channel = await connection.channel(publisher_confirms=True)
    try:
        exchange = await declare_events_exchange(channel)
        for envelope in envelopes:
            await exchange.publish(
                aio_pika.Message(
                    encode(envelope),
                    message_id=str(envelope.event_id),
                    headers=partition_header(envelope.subject.id),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=envelope.routing_key,
            )
    finally:
        await channel.close()


@pytest.fixture(name="publish")
def publish_fixture() -> Callable[..., Awaitable[None]]:
    return publish


FAST = ConsumerSettings(
    retry_delays=(0.2, 0.6, 1.2),
    max_attempts=4,
    concurrency=4,
    probe_backoff=(0.05, 0.5),
    shutdown_grace=5,
)


@pytest.fixture(name="fast_settings")
def fast_settings_fixture() -> ConsumerSettings:
    """Consumer settings with short delays, for tests."""
    return FAST
