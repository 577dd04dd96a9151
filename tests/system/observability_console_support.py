"""What the console's browser test stands on: observability and a second real service (the kit's
example, ``lost-deals``) served in this process on real RabbitMQ and PostgreSQL, two of whose
messages are parked, and a timesheet's flow published on the bus inside one trace.
"""

from __future__ import annotations

import hashlib
import importlib.util
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

import aio_pika
import asyncpg
import httpx
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from pydantic import SecretStr

from observability.bootstrap import DEFINITION
from observability.settings import ParkingLotSettings, Settings
from tandem_connectors.fakes import FakeErp
from tandem_connectors.ports import ErpObject
from tandem_contracts import Envelope, ExternalRef, Producer, encode
from tandem_contracts.events import OpportunityLost
from tandem_contracts.samples import sample_envelopes
from tandem_messaging import PermanentError, declare_events_exchange
from tandem_service_kit import apply_migrations, serve_in_process
from tandem_testing import eventually, free_port, with_path

OPERATOR = "tk_console_operator_4c1d"
"""observability: reads, parking lots, replays."""
READER = "tk_console_reader_77e0"
"""observability: reads only."""
LOT_KEY = "tk_lost_deals_service_91aa"
"""lost-deals: the service credential observability calls its parking lot with."""
LOT_READER = "tk_lost_deals_reader_3b52"
"""lost-deals: reads its recorded losses (the test's own check)."""
OPERATOR_SCOPES = ("observability:read", "parked:read", "parked:replay")
TRACE_URL = "http://127.0.0.1:1/trace/{trace_id}"
REFUSED_REASON = "erp_lookup_refused"
LOT = "lost-deals"


def subject_of(key: str) -> str:
    """The audited subject the kit gives an API key (its fingerprint, never the key)."""
    return f"api-key:{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _lost_deals(root: Path) -> ModuleType:
    # The kit's example service, by path: its models resolve annotations through sys.modules.
    if "lost_deals" not in sys.modules:
        path = root / "libs" / "service-kit" / "tests" / "example" / "lost_deals.py"
        spec = importlib.util.spec_from_file_location("lost_deals", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["lost_deals"] = module
        spec.loader.exec_module(module)
    return sys.modules["lost_deals"]


@dataclass
class RefusingErp(FakeErp):
    """An ERP that refuses to look up the deals in ``refused``: their losses are parked."""

    refused: set[str] = field(default_factory=set)

    async def find(self, kind: ErpObject, key: str) -> ExternalRef | None:
        if key in self.refused:
            raise PermanentError(REFUSED_REASON, f"the ERP refuses to look {key} up")
        return await super().find(kind, key)


@dataclass
class Flow:
    """A timesheet submitted, approved and posted, in one correlation and one trace."""

    correlation_id: str
    trace_id: str
    envelopes: list[Envelope[Any]]

    @property
    def timesheet_id(self) -> str:
        return str(self.envelopes[0].subject.id)

    @property
    def erp_line(self) -> ExternalRef:
        ref: ExternalRef = self.envelopes[-1].payload.erp_ref
        return ref


@dataclass
class Deployment:
    """observability and lost-deals, served here; clients on both APIs."""

    console_url: str
    observability: httpx.AsyncClient
    lost_deals: httpx.AsyncClient
    erp: RefusingErp
    amqp_url: str
    parked: dict[str, str] = field(default_factory=dict)
    """opportunity id -> the id of its parked message in lost-deals."""

    async def publish(
        self, *envelopes: Envelope[Any], headers: dict[str, Any] | None = None
    ) -> None:
        """Publish ``envelopes`` on the events exchange, confirmed, with ``headers``."""
        async with await aio_pika.connect_robust(self.amqp_url) as connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await declare_events_exchange(channel)
            for envelope in envelopes:
                message = aio_pika.Message(
                    encode(envelope), message_id=str(envelope.event_id), headers=headers or {}
                )
                await exchange.publish(message, routing_key=envelope.routing_key)

    async def parked_status(self, parked_id: str) -> str:
        """The status lost-deals' own parking lot gives a message."""
        shown = await self.lost_deals.get(f"/v1/parked/{parked_id}")
        shown.raise_for_status()
        return str(shown.json()["status"])


def lost(opportunity_id: str) -> Envelope[OpportunityLost]:
    """``OpportunityLost`` as the CRM side announces it."""
    payload = OpportunityLost(
        opportunity_id=opportunity_id, stage="Closed Lost", reason="budget",
        lost_at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    )  # fmt: skip
    return Envelope.new(
        payload, producer=Producer(service="project-sync"), tenant_id="acme",
        legal_entity_id="le-us", data_residency_region="us",
        correlation_id=f"crm-{opportunity_id}", subject_version=1,
    )  # fmt: skip


def timesheet_flow() -> list[Envelope[Any]]:
    """TimeSubmitted → TimeApproved → TimePosted (the ERP line), under a fresh correlation id."""
    samples = {e.event_type: e for e in sample_envelopes()}
    submitted_sample = samples["TimeSubmitted"]
    submitted = Envelope.new(
        submitted_sample.payload, producer=submitted_sample.producer, tenant_id="acme",
        legal_entity_id="le-us", data_residency_region="us",
        correlation_id=f"console-{secrets.token_hex(4)}", subject_version=1,
    )  # fmt: skip
    approved_sample, posted_sample = samples["TimeApproved"], samples["TimePosted"]
    approved = submitted.caused(
        approved_sample.payload, producer=approved_sample.producer, subject_version=1
    )
    posted = approved.caused(
        posted_sample.payload, producer=posted_sample.producer, subject_version=1
    )
    return [submitted, approved, posted]


def tracing_on() -> trace.Tracer:
    """A tracer whose spans are real (a tracing SDK installed, exporting nowhere).

    Tracing is process-wide: once on, it stays on for the rest of the session, as it would in
    a service process started with ``OTEL_SDK_DISABLED=false``. Nothing is exported.
    """
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    return trace.get_tracer("tandem.tests.console")


async def publish_flow(deployment: Deployment) -> Flow:
    """Publish a timesheet's flow as one trace; return it with the trace's id."""
    envelopes = timesheet_flow()
    with tracing_on().start_as_current_span("a timesheet's flow") as span:
        headers: dict[str, Any] = {}
        propagate.inject(headers)
        await deployment.publish(*envelopes, headers=headers)
        trace_id = format(span.get_span_context().trace_id, "032x")
    return Flow(envelopes[0].correlation_id, trace_id, envelopes)


async def _ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as probe:
            return (await probe.get(f"{url}/readyz")).status_code == 200
    except httpx.TransportError:
        return False


@asynccontextmanager
async def database(server_url: str) -> AsyncIterator[str]:
    """A second fresh database on the test's PostgreSQL, dropped afterwards."""
    name = f"tandem_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(server_url, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_path(server_url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def deployed(
    root: Path, database_url: str, lot_database_url: str, amqp_url: str, management_url: str
) -> AsyncIterator[Deployment]:
    """lost-deals (its ERP refusing two deals, both parked) and observability, ready, traced
    from the start (the runtime looks whether tracing is on at most once a second)."""
    tracing_on()
    lost_deals = _lost_deals(root)
    erp = RefusingErp(refused={"opp-a", "opp-b"})
    lot_definition = lost_deals.definition(erp)
    await apply_migrations(lot_database_url, lot_definition.migrations)
    await apply_migrations(database_url, DEFINITION.migrations)
    lot_settings = lost_deals.Settings(
        database_url=lot_database_url, amqp_url=amqp_url, http_port=free_port(),
        worker_http_port=free_port(), crm_webhook_secret=SecretStr("unused"),
        api_keys={LOT_KEY: ["parked:read", "parked:replay", "parked:discard"],
                  LOT_READER: ["losses:read"]},
    )  # fmt: skip
    lot_url = f"http://127.0.0.1:{lot_settings.http_port}"
    settings = Settings(
        database_url=database_url, amqp_url=amqp_url, http_port=free_port(),
        worker_http_port=free_port(), trace_url_template=TRACE_URL,
        api_keys={SecretStr(OPERATOR): frozenset(OPERATOR_SCOPES),
                  SecretStr(READER): frozenset({"observability:read"})},
        parking_lots={LOT: ParkingLotSettings(url=lot_url, api_key=SecretStr(LOT_KEY))},
        rabbitmq_management_url=management_url, rabbitmq_vhost=_vhost(amqp_url),
        kpi_interval_s=0.5,
    )  # fmt: skip
    api_url = f"http://127.0.0.1:{settings.http_port}"
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serve_in_process(lot_definition, lot_settings))
        await stack.enter_async_context(serve_in_process(DEFINITION, settings))
        lot_api = await stack.enter_async_context(
            httpx.AsyncClient(base_url=lot_url, headers={"X-API-Key": LOT_KEY}, timeout=10)
        )
        api = await stack.enter_async_context(
            httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": OPERATOR}, timeout=10)
        )
        for worker in (lot_settings.worker_http_port, settings.worker_http_port):
            url = f"http://127.0.0.1:{worker}"
            await eventually(partial(_ready, url), within=60, what=f"{url} ready")
        deployment = Deployment(f"{api_url}/console", api, lot_api, erp, amqp_url)
        await park_two(deployment)
        yield deployment


async def park_two(deployment: Deployment) -> None:
    """Two lost deals the ERP refuses: lost-deals parks both."""
    await deployment.publish(lost("opp-a"), lost("opp-b"))

    async def both_parked() -> bool:
        listed = (await deployment.lost_deals.get("/v1/parked")).json()["items"]
        for item in listed:
            detail = (await deployment.lost_deals.get(f"/v1/parked/{item['id']}")).json()
            deployment.parked[detail["envelope"]["subject"]["id"]] = item["id"]
        return set(deployment.parked) == {"opp-a", "opp-b"}

    await eventually(both_parked, within=60, what="both lost deals parked in lost-deals")


def _vhost(amqp_url: str) -> str:
    return unquote(urlsplit(amqp_url).path.removeprefix("/")) or "/"
