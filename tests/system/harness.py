"""A whole time-expense deployment on real parts, for system tests.

The sandbox PSA and HTTP ERP (in-process, fault injection on), RabbitMQ (a vhost of its own),
PostgreSQL (a database of its own), and time-expense's ``api`` and ``worker`` as real
subprocesses (``python -m time_expense``), so a test can SIGKILL the worker mid-stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

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
from time_expense.entrypoints.consumer import QUEUE

ROOT = Path(__file__).resolve().parents[2]
SERVICE_MIGRATIONS = ROOT / "services" / "time-expense" / "migrations"
WEBHOOK_SECRET = "psa-webhook-secret-for-system-tests"
API_KEY = "system-test-reader-key"
TENANT = "acme"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


@dataclass
class Deployment:
    """time-expense's processes, configured against the sandbox and the test's broker/db."""

    sandbox: Sandbox
    database_url: str
    amqp_url: str
    logs: Path
    late_policy: str = "post_to_next_open"
    overrides: dict[str, str] = field(default_factory=dict)
    erp: dict[str, Any] | None = None
    """The ERP instance's settings (default: the sandbox HTTP ERP)."""
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        erp = self.erp or {"kind": "sandbox", "url": self.sandbox.urls["erp"],
                           "requests_per_second": 400, "burst": 200}  # fmt: skip
        psa = {"url": self.sandbox.urls["psa"], "webhook_secret": WEBHOOK_SECRET,
               "requests_per_second": 400, "burst": 200}  # fmt: skip
        return {
            **os.environ,
            "TANDEM_SERVICE_NAME": "time-expense",
            "TANDEM_DATABASE_URL": self.database_url,
            "TANDEM_AMQP_URL": self.amqp_url,
            "TANDEM_HTTP_PORT": str(self.port),
            "TANDEM_LOG_LEVEL": "WARNING",
            "TANDEM_API_KEYS": json.dumps({API_KEY: ["time:read", "time:admin", "time:reconcile"]}),
            "TANDEM_ERP_INSTANCES": json.dumps({"erp-sandbox": erp}),
            "TANDEM_ERP_BY_REGION": json.dumps({"us": "erp-sandbox", "eu": "erp-sandbox"}),
            "TANDEM_PSA_INSTANCES": json.dumps({"psa": psa}),
            "TANDEM_LATE_TIME_POLICY": self.late_policy,
            "TANDEM_POLL_INTERVAL_S": "1",
            "TANDEM_POLL_LAG_S": "0.5",
            "TANDEM_INGEST_INTERVAL_S": "0.1",
            "OTEL_SDK_DISABLED": "true",
            "TANDEM_RECONCILE_QUIET_S": "0",
            **self.overrides,
        }

    def start(self, role: str) -> None:
        """Start ``python -m time_expense <role>``."""
        with (self.logs / f"time-expense-{role}-{self.port}.log").open("ab") as log:
            self.processes[role] = subprocess.Popen(  # noqa: S603 - our own module
                [sys.executable, "-m", "time_expense", role],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self, role: str) -> None:
        """SIGKILL the process: no drain, no goodbye."""
        process = self.processes.pop(role)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM every process and wait for it."""
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    async def wait_api(self) -> None:
        async with httpx.AsyncClient(base_url=self.api_url) as client:

            async def up() -> bool:
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, within=30, what="the time-expense API")

    async def wait_worker(self) -> None:
        """Wait until the worker consumes its queue (events published before are not queued)."""
        connection = await aio_pika.connect_robust(self.amqp_url)
        async with connection:

            async def consuming() -> bool:
                channel = await connection.channel()
                try:
                    queue = await channel.declare_queue(QUEUE, passive=True)
                    return bool(queue.declaration_result.consumer_count)
                except aio_pika.exceptions.ChannelClosed:
                    return False
                finally:
                    if not channel.is_closed:
                        await channel.close()

            await eventually(consuming, within=60, what="the time-expense worker to consume")

    def log_tail(self, role: str) -> str:
        path = self.logs / f"time-expense-{role}-{self.port}.log"
        return path.read_text() if path.exists() else ""


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


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


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
