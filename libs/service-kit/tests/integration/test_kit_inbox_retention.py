"""The kit's built-in ``inbox-retention`` job: scheduled for every service without the service
declaring it, it purges inbox rows older than the retention setting (real PostgreSQL)."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from tandem_messaging import MIGRATIONS, Router
from tandem_service_kit import (
    Consume,
    Job,
    JobMetrics,
    Scheduler,
    ServiceSettings,
    Wiring,
    WorkerResources,
    apply_migrations,
    consumer_settings,
    scheduled_jobs,
)
from tandem_testing import eventually

SERVICE = "kit-retention"
DEADLINE_S = 10.0


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await apply_migrations(database_url, [MIGRATIONS])
    async with asyncpg.create_pool(database_url, min_size=1, max_size=4) as created:
        yield created


@pytest.fixture
async def amqp(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        yield connection


def resources(
    database_url: str,
    pool: asyncpg.Pool,
    amqp: aio_pika.abc.AbstractRobustConnection,
    inbox_retention_days: float = 14.0,
) -> WorkerResources[ServiceSettings]:
    chosen = ServiceSettings(
        service_name=SERVICE, database_url=database_url, inbox_retention_days=inbox_retention_days
    )
    return WorkerResources(chosen, pool, amqp, asyncio.Event())


async def handled(pool: asyncpg.Pool, age: str) -> uuid.UUID:
    """An inbox row handled ``age`` (an interval) ago; its event id."""
    event_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO messaging.inbox (consumer, event_id, idempotency_key, event_type, handled_at)"
        " VALUES ('kit.retention', $1, $2, 'OpportunityLost',"
        " clock_timestamp() - $3::text::interval)",
        event_id,
        f"key-{event_id}",
        age,
    )
    return event_id


async def nothing() -> None:
    return None


async def test_every_service_schedules_the_retention_job_without_declaring_it(
    database_url: str, pool: asyncpg.Pool, amqp: aio_pika.abc.AbstractRobustConnection
) -> None:
    worker = resources(database_url, pool, amqp)
    own = Job("tally-losses", 60.0, nothing)
    consume = Consume("kit.retention", Router(service=SERVICE), consumer_settings(worker.settings))

    without_consumer = scheduled_jobs(Wiring(jobs=[own]), worker)
    with_consumer = scheduled_jobs(Wiring(consume=consume, jobs=[own]), worker)

    assert [job.name for job in without_consumer] == ["tally-losses", "inbox-retention"]
    assert [job.name for job in with_consumer] == [
        "tally-losses",
        "release-satisfied",
        "inbox-retention",
    ]
    retention = without_consumer[-1]
    assert (retention.interval_s, retention.initial_delay_s) == (3600.0, 0.0)


async def test_the_scheduler_runs_it_and_shows_how_many_rows_it_purged(
    database_url: str, pool: asyncpg.Pool, amqp: aio_pika.abc.AbstractRobustConnection
) -> None:
    # An hour's retention: rows of two hours ago and more go, younger ones stay.
    old = [await handled(pool, f"{hours} hours") for hours in (2, 5, 48, 24 * 30)]
    young = {await handled(pool, "50 minutes"), await handled(pool, "1 second")}
    worker = resources(database_url, pool, amqp, inbox_retention_days=1 / 24)
    registry = CollectorRegistry()
    jobs = scheduled_jobs(Wiring(), worker)
    scheduler = Scheduler(
        database_url, SERVICE, jobs, retry_leadership_s=0.1, metrics=JobMetrics(registry)
    )
    labels = {"service": SERVICE, "job": "inbox-retention"}

    stopping = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stopping))
    try:
        await eventually(
            lambda: registry.get_sample_value("tandem_job_last_found", labels) is not None,
            within=DEADLINE_S,
            what="a run of inbox-retention",
        )
    finally:
        stopping.set()
        await asyncio.wait_for(task, DEADLINE_S)

    assert registry.get_sample_value("tandem_job_last_found", labels) == len(old)
    ok = registry.get_sample_value("tandem_job_runs_total", labels | {"outcome": "ok"})
    assert ok == 1
    remaining = {
        row["event_id"] for row in await pool.fetch("SELECT event_id FROM messaging.inbox")
    }
    assert remaining == young
