"""A service's worker process (``service_worker``) runs the roles it is given, serves its probes
and metrics, and drains on SIGTERM (real PostgreSQL and RabbitMQ)."""

import asyncio
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from tandem_contracts import Envelope, Producer, SystemKind
from tandem_contracts.events import OpportunityLost
from tandem_messaging import MIGRATIONS, Outbox
from tandem_service_kit import apply_migrations
from tandem_testing import eventually, free_port

SERVICE = "kit-roles"
QUEUE = "kit.roles"
WORKER = textwrap.dedent(
    """
    import sys
    from tandem_connectors.directory import ErpDirectory
    from tandem_connectors.fakes import FakeErp
    from tandem_connectors.routing import InstanceRouter
    from tandem_contracts.events import OpportunityLost
    from tandem_messaging import Router
    from tandem_service_kit import (
        Consume, Job, ServiceDefinition, ServiceSettings, Wiring, consumer_settings, run_worker,
        service_worker,
    )

    async def wire(resources):
        router = Router(service="kit-roles")

        @router.handles(OpportunityLost)
        async def handle(envelope, ctx):
            await ctx.connection.execute("INSERT INTO handled VALUES ($1)", envelope.event_id)

        async def write_row():
            await resources.pool.execute("INSERT INTO job_runs DEFAULT VALUES")

        consume = Consume("kit.roles", router, consumer_settings(resources.settings))
        erps = ErpDirectory(InstanceRouter("erp"), {"erp-fake": FakeErp()})
        jobs = [Job("write-row", 0.2, write_row)]
        return Wiring(consume=consume, jobs=jobs, erp_directory=erps)

    definition = ServiceDefinition(name="kit-roles", settings=ServiceSettings, wire=wire)
    sys.exit(run_worker(ServiceSettings(), service_worker(definition)))
    """
)
DEADLINE_S = 30.0


@asynccontextmanager
async def worker(
    database_url: str, amqp_url: str, logs: Path, **settings: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, httpx.AsyncClient]]:
    """Run the worker in a process of its own; yield it and a client of its probes."""
    port = free_port()
    env = os.environ | {
        "TANDEM_SERVICE_NAME": SERVICE,
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_AMQP_URL": amqp_url,
        "TANDEM_WORKER_HTTP_PORT": str(port),
        "OTEL_SDK_DISABLED": "true",
        **settings,
    }
    with logs.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, env=env, stdout=log, stderr=log
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield process, client
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def ready(client: httpx.AsyncClient) -> dict[str, Any]:
    """Wait until the worker answers ready; its readiness checks."""
    answers: list[httpx.Response] = []

    async def answered() -> bool:
        try:
            answers.append(await client.get("/readyz"))
        except httpx.TransportError:
            return False
        return answers[-1].status_code == 200

    await eventually(answered, within=DEADLINE_S, what="the worker ready", every=0.1)
    checks: dict[str, Any] = answers[-1].json()["checks"]
    return checks


async def job_runs(client: httpx.AsyncClient) -> dict[str, float]:
    """The worker's ``tandem_job_runs_total`` of its own jobs, by job and outcome."""
    text = (await client.get("/metrics")).text
    return {
        f"{sample.labels['job']}/{sample.labels['outcome']}": sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tandem_job_runs_total" and sample.labels["service"] == SERVICE
    }


async def stop(process: asyncio.subprocess.Process, logs: Path) -> None:
    """SIGTERM, as Kubernetes sends it; the worker drains and exits 0."""
    process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(process.wait(), DEADLINE_S)
    if code != 0:
        raise AssertionError(f"exit code {code}:\n{await asyncio.to_thread(logs.read_text)}")


async def consumers(amqp_url: str) -> int | None:
    """How many consumers the service's first partition has (None: it was never declared)."""
    async with await aio_pika.connect_robust(amqp_url) as connection:
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(f"{QUEUE}.p0", passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return None
        count = queue.declaration_result.consumer_count
        await channel.close()
        return count


def lost(opportunity: str) -> Envelope[OpportunityLost]:
    payload = OpportunityLost(
        opportunity_id=opportunity,
        stage="Closed Lost",
        reason="budget",
        lost_at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    )
    return Envelope.new(
        payload,
        producer=Producer(service="project-sync", system=SystemKind.CRM),
        tenant_id="acme",
        legal_entity_id="le-de",
        data_residency_region="eu",
        correlation_id=f"corr-{opportunity}",
        subject_version=1,
    )


async def prepared(database_url: str) -> asyncpg.Pool:
    # The runtime's schema, as `migrate` leaves it, and the tables the worker's code writes.
    await apply_migrations(database_url, [MIGRATIONS])
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    await pool.execute("CREATE TABLE job_runs (at timestamptz DEFAULT clock_timestamp())")
    await pool.execute("CREATE TABLE handled (event_id uuid)")
    return pool


async def count(pool: asyncpg.Pool, table: str) -> int:
    return int(await pool.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608 - test tables


async def add_to_outbox(pool: asyncpg.Pool, envelope: Envelope[Any]) -> None:
    async with pool.acquire() as db, db.transaction():
        await Outbox().add(db, envelope)


async def test_a_worker_with_every_role_consumes_relays_and_runs_its_jobs(
    database_url: str, amqp_url: str, tmp_path: Path
) -> None:
    logs = tmp_path / "worker.log"
    async with await prepared(database_url) as pool:
        async with worker(database_url, amqp_url, logs) as (process, client):
            # Ready once its connections answer and its consumer runs.
            assert await ready(client) == {"database": "ok", "broker": "ok", "consumer": "ok"}
            assert await consumers(amqp_url) == 1

            # The scheduler runs the job, and the worker's metrics count its runs.
            await eventually(lambda: _at_least(count(pool, "job_runs"), 2), what="job runs")
            await eventually(
                lambda: _at_least(_runs(client, "write-row/ok"), 1), what="counted job runs"
            )
            runs = await job_runs(client)
            assert runs["write-row/failed"] == 0
            # Beside it, the kit's own jobs for the consumer's queue: the sweep of met waits
            # (first after a minute), and the lookup of ERP companies (at once).
            assert runs["release-satisfied/ok"] == 0
            assert runs["resolve-erp-companies/ok"] >= 1

            # An event in the outbox is relayed to the broker and handled by the consumer.
            await add_to_outbox(pool, lost("opp-1"))
            await eventually(lambda: _at_least(count(pool, "handled"), 1), what="the handled one")

            await stop(process, logs)


async def test_a_relay_only_worker_neither_consumes_nor_runs_jobs(
    database_url: str, amqp_url: str, tmp_path: Path
) -> None:
    logs = tmp_path / "worker.log"
    roles = {"TANDEM_WORKER_ROLES": '["relay"]'}
    async with await prepared(database_url) as pool:
        async with worker(database_url, amqp_url, logs, **roles) as (process, client):
            # Ready without a consumer to wait for.
            assert await ready(client) == {"database": "ok", "broker": "ok"}

            # It relays: an event in the outbox is published.
            await add_to_outbox(pool, lost("opp-1"))
            await eventually(lambda: _published(pool), what="the relayed event")

            # It never took the queue, nor scheduled a job (no series of it, no row).
            assert await consumers(amqp_url) in (None, 0)
            assert await job_runs(client) == {}
            assert await count(pool, "job_runs") == 0
            assert await count(pool, "handled") == 0

            await stop(process, logs)


async def test_the_scheduling_worker_of_a_split_deployment_runs_the_kits_jobs(
    database_url: str, amqp_url: str, tmp_path: Path
) -> None:
    logs = tmp_path / "worker.log"
    # As deployed: the ordered consumer in a process of its own, everything else beside it.
    roles = {"TANDEM_WORKER_ROLES": '["ingest", "relay", "schedule"]'}
    async with await prepared(database_url) as pool:
        async with worker(database_url, amqp_url, logs, **roles) as (process, client):
            assert await ready(client) == {"database": "ok", "broker": "ok"}
            await eventually(lambda: _at_least(count(pool, "job_runs"), 1), what="job runs")

            # The jobs that release what waits on the consumer's queue are scheduled here.
            runs = await job_runs(client)
            assert "release-satisfied/ok" in runs
            assert "resolve-erp-companies/ok" in runs
            # So is every service's inbox retention, which runs at once (then hourly).
            await eventually(
                lambda: _at_least(_runs(client, "inbox-retention/ok"), 1), what="a purge"
            )

            await stop(process, logs)


async def _at_least(value: Any, minimum: float) -> bool:
    return bool(await value >= minimum)


async def _runs(client: httpx.AsyncClient, series: str) -> float:
    return (await job_runs(client)).get(series, 0.0)


async def _published(pool: asyncpg.Pool) -> bool:
    return bool(
        await pool.fetchval("SELECT bool_and(published_at IS NOT NULL) FROM messaging.outbox")
    )
