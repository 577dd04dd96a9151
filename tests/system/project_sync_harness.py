"""project-sync on real parts, for its system story: the in-process sandbox CRM and PSA, the
real Tryton ERP, RabbitMQ and PostgreSQL, and ``python -m project_sync api | worker`` as real
subprocesses (so a test can SIGKILL the worker).

Besides the deployment: a recorder of what is published on the events exchange (a queue of
its own), a way to bring a stopped Tryton back on its port and database (the outage's end),
and valid German VAT ids made on demand. The processes log at WARNING into the test's
``tmp_path``; ``STORY_LOG_LEVEL=INFO`` in the environment logs more, for a failure's diagnosis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx

from project_sync.bootstrap import DEFINITION
from project_sync.service_layer.handlers import QUEUE
from tandem_contracts import Envelope, Money, Producer
from tandem_contracts.entities import (
    LegalEntity,
    RateCard,
    RateCardScope,
    RateCardStatus,
    RateCardVersion,
)
from tandem_contracts.events import RateCardPublished
from tandem_messaging import Outbox, declare_events_exchange
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import Sandbox, SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations
from tandem_testing import LocalService, TrytonServer, eventually

__all__ = [
    "API_KEY",
    "ENTITIES",
    "ERP_INSTANCE",
    "WEBHOOK_SECRET",
    "BusRecorder",
    "Q2cDeployment",
    "deployment_of",
    "gather_limited",
    "german_vat",
    "publish_rate_cards",
    "recording",
    "restarted",
    "sandbox_for",
    "tryton_answers",
    "wait_tryton",
]

WEBHOOK_SECRET = "crm-webhook-secret-for-system-tests"
API_KEY = "system-test-q2c-operator-key"
ERP_INSTANCE = "erp-tryton"
ENTITIES = {
    "le-us": LegalEntity(id="le-us", name="Acme Consulting Inc.", country="US",
                         functional_currency="USD", data_residency_region="us"),
    "le-de": LegalEntity(id="le-de", name="Acme Consulting GmbH", country="DE",
                         functional_currency="EUR", data_residency_region="eu"),
    "le-gb": LegalEntity(id="le-gb", name="Acme Consulting Ltd", country="GB",
                         functional_currency="GBP", data_residency_region="uk"),
}  # fmt: skip


@contextlib.asynccontextmanager
async def sandbox_for(database_url: str) -> AsyncIterator[Sandbox]:
    """project-sync's schemas and the sandbox's, then the in-process sandbox systems."""
    await apply_migrations(database_url, [*DEFINITION.migrations, SANDBOX_MIGRATIONS])
    settings = SandboxSettings(database_url=database_url, base_port=0, webhook_retry_base_s=0.05)
    async with run_sandbox(settings) as running:
        yield running


@dataclass
class Q2cDeployment(LocalService):
    """project-sync's processes; its systems of record as JSON settings."""

    instances: dict[str, dict[str, Any]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            **{f"TANDEM_{kind.upper()}_INSTANCES": json.dumps(value)
               for kind, value in self.instances.items()},
        }  # fmt: skip

    async def wait_worker_consuming(self, name: str = "worker", within: float = 60.0) -> None:
        """Wait until worker ``name`` is ready and consumes project-sync's queue."""
        await self.wait_worker(name, within)
        await self.wait_consuming(QUEUE, within)


def deployment_of(
    sandbox: Sandbox, tryton: TrytonServer, database_url: str, amqp_url: str, logs: Path
) -> Q2cDeployment:
    """project-sync against the sandbox CRM and PSA and the Tryton ERP, polling fast."""
    urls = sandbox.urls
    erp = {"kind": "tryton", "url": tryton.url, "database": tryton.database,
           "user": tryton.user, "password": tryton.password}  # fmt: skip
    crm = {"url": urls["crm"], "webhook_secret": WEBHOOK_SECRET, "requests_per_second": 400,
           "burst": 200}  # fmt: skip
    regions = {entity.id: entity.data_residency_region for entity in ENTITIES.values()}
    scopes = ["q2c:read", "q2c:write", "links:write", "parked:read", "inbound:read"]
    return Q2cDeployment(
        module="project_sync",
        name="project-sync",
        database_url=database_url,
        amqp_url=amqp_url,
        logs=logs,
        instances={
            "crm": {"crm": crm},
            "psa": {"psa": {"url": urls["psa"], "requests_per_second": 400, "burst": 200}},
            "erp": {ERP_INSTANCE: erp},
        },
        settings={
            "TANDEM_LOG_LEVEL": os.environ.get("STORY_LOG_LEVEL", "WARNING"),
            "TANDEM_API_KEYS": json.dumps({API_KEY: scopes}),
            "TANDEM_ERP_BY_REGION": json.dumps(dict.fromkeys(regions.values(), ERP_INSTANCE)),
            "TANDEM_ENTITY_BY_COUNTRY": json.dumps({e.country: e.id for e in ENTITIES.values()}),
            "TANDEM_DEFAULT_LEGAL_ENTITY": "le-us",
            "TANDEM_ENTITY_REGIONS": json.dumps(regions),
            "TANDEM_ENTITY_CURRENCIES": json.dumps(
                {e.id: [e.functional_currency] for e in ENTITIES.values()}
            ),
            "TANDEM_INGEST_INTERVAL_S": "0.05",
            "TANDEM_POLL_INTERVAL_S": "0.3",
            "TANDEM_POLL_LAG_S": "0",
            "TANDEM_WATCHDOG_INTERVAL_S": "0.5",
            "TANDEM_RESUME_INTERVAL_S": "0.5",
            "TANDEM_PROBE_MAX_S": "0.5",
            "TANDEM_RATE_LIMIT": "100000/minute",
            # One handling at a time: the test's Tryton runs on SQLite, whose emulated
            # sequences let concurrent project creations draw the same number; the adapter
            # draws again, but the story does not lean on that retry for its timing.
            "TANDEM_CONCURRENCY": "1",
        },
    )


async def publish_rate_cards(database_url: str) -> None:
    """A published rate card per entity currency, through project-sync's outbox (its relay
    publishes them, as billing-readiness would have)."""
    envelopes = []
    for entity in ENTITIES.values():
        currency = entity.functional_currency
        card = RateCard(
            id=f"rc-{currency.lower()}", name=f"Standard {currency}", currency=currency,
            scope=RateCardScope(), status=RateCardStatus.PUBLISHED,
            versions=(RateCardVersion(version=1, effective_from=date(2024, 1, 1),
                                      default_rate=Money(amount=Decimal(150), currency=currency)),),
        )  # fmt: skip
        event = RateCardPublished(rate_card=card, published_version=1, published_at=_now())
        envelope = Envelope.new(
            event, producer=Producer(service="billing-readiness"), tenant_id="acme",
            legal_entity_id=entity.id, data_residency_region=entity.data_residency_region,
            correlation_id=card.id, subject_version=1,
        )  # fmt: skip
        envelopes.append(envelope)
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            await Outbox().add(connection, *envelopes)
    finally:
        await connection.close()


@dataclass
class BusRecorder:
    """Every message published on the events exchange, from a queue of the test's own."""

    received: list[dict[str, Any]] = field(default_factory=list)

    def distinct(self) -> dict[str, dict[str, Any]]:
        """The envelopes by event id (a redelivery of the same envelope counts once)."""
        return {body["event_id"]: body for body in self.received}

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [b for b in self.distinct().values() if b["event_type"] == event_type]


@contextlib.asynccontextmanager
async def recording(amqp_url: str) -> AsyncIterator[BusRecorder]:
    """Record the events exchange from now on (bind before anything is published)."""
    recorder = BusRecorder()
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await declare_events_exchange(channel)
        queue = await channel.declare_queue("story-recorder", durable=False, exclusive=True)
        await queue.bind(exchange, routing_key="#")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                recorder.received.append(json.loads(message.body))

        await queue.consume(on_message)
        yield recorder


@contextlib.contextmanager
def restarted(tryton: TrytonServer, log: Path) -> Iterator[TrytonServer]:
    """Start a stopped Tryton again: the same command, port and database (the outage ends).
    Stopped again on leaving, before the fixture removes its directory."""
    assert tryton.process is not None
    assert tryton.process.poll() is not None, "stop it first"
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - the fixture's own trytond command
            tryton.process.args, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield TrytonServer(tryton.url, tryton.database, tryton.user, tryton.password, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def tryton_answers(url: str) -> bool:
    request = {"id": 0, "method": "common.server.version", "params": []}
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.post(f"{url}/rpc/", json=request)).status_code == 200
    except httpx.TransportError:
        return False


async def wait_tryton(url: str, within: float = 30.0) -> None:
    await eventually(lambda: tryton_answers(url), within=within, what="Tryton to answer", every=0.1)


def german_vat(serial: int) -> str:
    """A valid German VAT id (ISO 7064 MOD 11,10 check digit) from an 8-digit ``serial``."""
    digits = f"{serial:08d}"
    assert len(digits) == 8
    assert digits[0] != "0"
    product = 10
    for digit in digits:
        total = (int(digit) + product) % 10 or 10
        product = (2 * total) % 11
    check = (11 - product) % 10
    return f"DE{digits}{check}"


def _now() -> datetime:
    return datetime.now(UTC)


async def gather_limited(coroutines: list[Any], limit: int = 8) -> list[Any]:
    """Run ``coroutines`` at most ``limit`` at a time; answer their results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(coroutine: Any) -> Any:
        async with gate:
            return await coroutine

    return await asyncio.gather(*(one(c) for c in coroutines))
