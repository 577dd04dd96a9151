"""A whole time-expense deployment on real parts, for system tests.

The sandbox PSA and HTTP ERP (in-process, fault injection on), RabbitMQ (a vhost of its own),
PostgreSQL (a database of its own), and time-expense's ``api`` and ``worker`` as real
subprocesses (``python -m time_expense``), so a test can SIGKILL the worker mid-stream.
"""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aio_pika
import httpx

from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.rest import RestErp
from tandem_contracts import Envelope, Event, Producer, SystemKind, encode
from tandem_messaging import declare_events_exchange, partition_header
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import Sandbox
from tandem_service_kit import apply_migrations
from tandem_testing import LocalService, eventually
from time_expense.bootstrap import DEFINITION
from time_expense.service_layer.handlers import QUEUE, worker_of

__all__ = [
    "Deployment",
    "announce",
    "clients",
    "deployment_of",
    "eventually",
    "migrate",
    "weekdays",
    "worker_metric",
]

WEBHOOK_SECRET = "psa-webhook-secret-for-system-tests"
API_KEY = "system-test-reader-key"
OPERATOR_KEY = "system-test-operator-key"
"""Every scope the kit and time-expense know, for tests that drive every route."""
OPERATOR_SCOPES = [
    "time:read", "time:admin", "time:reconcile", "parked:read", "parked:replay",
    "parked:discard", "links:read", "links:write", "inbound:read", "inbound:write",
]  # fmt: skip
TENANT = "acme"
# As deployed: the ordered consumer in a process of its own; ingestion, the relay and the
# scheduled jobs in another.
WORKERS = {"worker": frozenset({"consume"}), "ingest": frozenset({"ingest", "relay", "schedule"})}


async def migrate(database_url: str) -> None:
    """Apply every schema a time-expense deployment (and the in-process sandbox) needs."""
    await apply_migrations(database_url, [*DEFINITION.migrations, SANDBOX_MIGRATIONS])


@dataclass
class Deployment(LocalService):
    """time-expense's processes, its systems of record as JSON settings."""

    erp_instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    psa_instances: dict[str, dict[str, Any]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The deployment's environment, with its ERP and PSA instances."""
        return {
            **super().env(),
            "TANDEM_ERP_INSTANCES": json.dumps(self.erp_instances),
            "TANDEM_PSA_INSTANCES": json.dumps(self.psa_instances),
        }

    def start_workers(self, layout: Any = None) -> None:
        """The workers as deployed (``WORKERS``), or ``layout``."""
        super().start_workers(layout or WORKERS)

    async def wait_workers(self, within: float = 60.0) -> None:
        """Wait until every worker is ready and the consumer consumes its queue."""
        for name in self.worker_ports:
            if name in self.processes:
                await self.wait_worker(name, within)
        await self.wait_consuming(QUEUE, within)

    async def leave(self, name: str, within: float = 30.0) -> int:
        """SIGTERM process ``name`` and wait (without blocking the loop, which may serve the
        sandbox it drains into) until it exits; answer its exit code."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        await eventually(lambda: process.poll() is not None, within=within, what=f"{name} to exit")
        return process.returncode

    async def worker_metric(self, name: str, sample: str, **labels: str) -> float:
        """The sum of a Prometheus sample a worker exposes (0 when absent)."""
        return await worker_metric(self, name, sample, **labels)


async def worker_metric(service: LocalService, name: str, sample: str, **labels: str) -> float:
    """The sum of a Prometheus sample worker ``name`` of ``service`` exposes (0 when absent)."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{service.worker_url(name)}/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(sample + "{") and not line.startswith(sample + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def deployment_of(sandbox: Sandbox, database_url: str, amqp_url: str, logs: Path) -> Deployment:
    """time-expense against the sandbox PSA and REST ERP, polling fast, for tests."""
    erp = {"kind": "rest", "url": sandbox.urls["erp"], "requests_per_second": 400, "burst": 200}
    psa = {"url": sandbox.urls["psa"], "webhook_secret": WEBHOOK_SECRET,
           "requests_per_second": 400, "burst": 200}  # fmt: skip
    scopes = ["time:read", "time:admin", "time:reconcile", "parked:read", "links:write"]
    return Deployment(
        module="time_expense",
        name="time-expense",
        database_url=database_url,
        amqp_url=amqp_url,
        logs=logs,
        erp_instances={"erp-sandbox": erp},
        psa_instances={"psa": psa},
        settings={
            "TANDEM_LOG_LEVEL": "WARNING",
            "TANDEM_API_KEYS": json.dumps({API_KEY: scopes, OPERATOR_KEY: OPERATOR_SCOPES}),
            "TANDEM_ERP_BY_REGION": json.dumps({"us": "erp-sandbox", "eu": "erp-sandbox"}),
            "TANDEM_POLL_INTERVAL_S": "1",
            "TANDEM_POLL_LAG_S": "0.5",
            "TANDEM_INGEST_INTERVAL_S": "0.1",
            "TANDEM_RECONCILE_QUIET_S": "0",
            "TANDEM_RATE_LIMIT": "100000/minute",
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
                aio_pika.Message(
                    encode(envelope),
                    # Keyed as time-expense orders them, so they join their key's partition.
                    headers=partition_header(worker_of(envelope)),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
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
    erp: RestErp


@contextlib.asynccontextmanager
async def clients(sandbox: Sandbox, deployment: Deployment) -> AsyncIterator[Clients]:
    target = HttpTarget(sandbox.urls["erp"], downstream="erp", retry=RetryPolicy(5, 0.1, 2))
    erp = RestErp(target, instance="erp-sandbox")
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
