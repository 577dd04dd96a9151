"""A whole time-expense deployment on real parts, for system tests.

The sandbox PSA and HTTP ERP (in-process, fault injection on), RabbitMQ (a vhost of its own),
PostgreSQL (a database of its own), and time-expense's ``api`` and ``worker`` as real
subprocesses (``python -m time_expense``), so a test can SIGKILL the worker mid-stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import aio_pika
import httpx

from tandem_connectors import MIGRATIONS as CONNECTOR_MIGRATIONS
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.sandbox import SandboxErp
from tandem_contracts import Envelope, Event, Producer, SystemKind, encode
from tandem_messaging import MIGRATIONS as MESSAGING_MIGRATIONS
from tandem_messaging._topology import declare_events_exchange
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import Sandbox
from tandem_service_kit import apply_migrations
from time_expense.local import LocalDeployment as Deployment

__all__ = [
    "Deployment",
    "announce",
    "clients",
    "deployment_of",
    "eventually",
    "migrate",
    "weekdays",
]

ROOT = Path(__file__).resolve().parents[2]
SERVICE_MIGRATIONS = ROOT / "services" / "time-expense" / "migrations"
WEBHOOK_SECRET = "psa-webhook-secret-for-system-tests"
API_KEY = "system-test-reader-key"
TENANT = "acme"


async def migrate(database_url: str) -> None:
    """Apply every schema a time-expense deployment (and the in-process sandbox) needs."""
    await apply_migrations(
        database_url,
        [MESSAGING_MIGRATIONS, CONNECTOR_MIGRATIONS, SERVICE_MIGRATIONS, SANDBOX_MIGRATIONS],
    )


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float, what: str, every: float = 0.25
) -> None:
    """Poll ``check`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(every)


def deployment_of(sandbox: Sandbox, database_url: str, amqp_url: str, logs: Path) -> Deployment:
    """time-expense against the sandbox PSA and HTTP ERP, polling fast, for tests."""
    erp = {"kind": "sandbox", "url": sandbox.urls["erp"], "requests_per_second": 400, "burst": 200}
    psa = {"url": sandbox.urls["psa"], "webhook_secret": WEBHOOK_SECRET,
           "requests_per_second": 400, "burst": 200}  # fmt: skip
    return Deployment(
        database_url=database_url,
        amqp_url=amqp_url,
        logs=logs,
        erp_instances={"erp-sandbox": erp},
        psa_instances={"psa": psa},
        settings={
            "TANDEM_LOG_LEVEL": "WARNING",
            "TANDEM_API_KEYS": json.dumps({API_KEY: ["time:read", "time:admin", "time:reconcile"]}),
            "TANDEM_ERP_BY_REGION": json.dumps({"us": "erp-sandbox", "eu": "erp-sandbox"}),
            "TANDEM_POLL_INTERVAL_S": "1",
            "TANDEM_POLL_LAG_S": "0.5",
            "TANDEM_INGEST_INTERVAL_S": "0.1",
            "TANDEM_RECONCILE_QUIET_S": "0",
        },
    )


async def announce(amqp_url: str, *events: tuple[Event, str, str, int]) -> None:
    """Publish reference events as their owning services would: (event, entity, region, v)."""
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_events_exchange(channel)
        for event, legal_entity, region, version in events:
            envelope = Envelope.new(
                event,
                producer=Producer(service="project-sync", system=SystemKind.PSA),
                tenant_id=TENANT,
                legal_entity_id=legal_entity,
                data_residency_region=region,
                correlation_id=f"story-{legal_entity}",
                subject_version=version,
                occurred_at=datetime.now(UTC),
            )
            await exchange.publish(
                aio_pika.Message(encode(envelope), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=envelope.routing_key,
            )


def weekdays(start: date, end: date) -> list[date]:
    return [
        date.fromordinal(d) for d in range(start.toordinal(), end.toordinal() + 1)
        if date.fromordinal(d).weekday() < 5
    ]  # fmt: skip


@dataclass
class Clients:
    """HTTP clients of the sandbox systems and of time-expense's API, and the ERP port."""

    control: httpx.AsyncClient
    psa: httpx.AsyncClient
    erp_http: httpx.AsyncClient
    api: httpx.AsyncClient
    erp: SandboxErp


@contextlib.asynccontextmanager
async def clients(sandbox: Sandbox, deployment: Deployment) -> AsyncIterator[Clients]:
    target = HttpTarget(sandbox.urls["erp"], downstream="erp", retry=RetryPolicy(5, 0.1, 2))
    erp = SandboxErp(target, instance="erp-sandbox")
    async with (
        httpx.AsyncClient(base_url=sandbox.urls["control"]) as control,
        httpx.AsyncClient(base_url=sandbox.urls["psa"]) as psa,
        httpx.AsyncClient(base_url=sandbox.urls["erp"]) as erp_http,
        httpx.AsyncClient(base_url=deployment.api_url, headers={"X-API-Key": API_KEY}) as api,
    ):
        try:
            yield Clients(control, psa, erp_http, api, erp)
        finally:
            await erp.aclose()
