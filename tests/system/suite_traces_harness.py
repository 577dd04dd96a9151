"""The whole suite on real parts, every process exporting its spans to a real trace store.

The in-process sandbox CRM, PSA, HRIS and HTTP ERP, RabbitMQ (the test's vhost), PostgreSQL (a
database per service, named after the test's, dropped afterwards) and Phoenix; project-sync,
staffing-sync, time-expense, billing-readiness and observability as real ``python -m``
processes (so a test can SIGKILL one), each exporting through the standard ``OTEL_*``
variables. project-sync runs its api and a worker of every role; observability its api and
worker; the three others a worker that consumes and relays (their APIs and ingestion play no
part in a project's activation). Phoenix (the session's ``phoenix`` fixture) finishes starting
while the databases are made; then every process starts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from billing_readiness import bootstrap as billing_readiness
from billing_readiness.service_layer import handlers as billing_readiness_handlers
from observability import bootstrap as observability
from observability.service_layer import recording as observability_recording
from project_sync import bootstrap as project_sync
from project_sync.service_layer import handlers as project_sync_handlers
from project_sync.service_layer.ingest import canonical_id
from staffing_sync import bootstrap as staffing_sync
from staffing_sync.service_layer import handlers as staffing_sync_handlers
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.rest import RestErp
from tandem_contracts import Money
from tandem_contracts.entities import (
    LegalEntity,
    RateCard,
    RateCardScope,
    RateCardStatus,
    RateCardVersion,
)
from tandem_contracts.events import RateCardPublished
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import Sandbox, SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations
from tandem_testing import LocalService, Phoenix, eventually
from time_expense import bootstrap as time_expense
from time_expense.service_layer import handlers as time_expense_handlers

from .harness import announce
from .quote_harness import create_database, drop_database

__all__ = [
    "CRM", "ENTITY", "ERP", "HRIS", "KEY", "PSA", "SERVICES", "WEBHOOK_SECRET", "Kind", "Suite",
    "activated", "firm_set_up", "ok", "running_suite", "won_opportunity",
]  # fmt: skip

KEY = "system-test-suite-key"
WEBHOOK_SECRET = "suite-webhook-secret-for-system-tests"
ERP, CRM, PSA, HRIS = "erp-sandbox", "crm", "psa", "hris"
ENTITY = LegalEntity(id="le-us", name="Acme Consulting Inc.", country="US",
                     functional_currency="USD", data_residency_region="us")  # fmt: skip
_CONSUME_AND_RELAY = {"TANDEM_WORKER_ROLES": json.dumps(["consume", "relay"])}


@dataclass(frozen=True)
class _Kind:
    """How one service is run here: its package, bootstrap, consumer group and processes."""

    module: str
    bootstrap: ModuleType
    queue: str
    api: bool
    worker: Mapping[str, str]
    scopes: tuple[str, ...] = ()
    settings: Mapping[str, str] = field(default_factory=dict)


SERVICES = {
    "project-sync": _Kind("project_sync", project_sync, project_sync_handlers.QUEUE, True, {},
                          ("q2c:read", "q2c:write"), {"TANDEM_ENTITY_CURRENCIES": json.dumps(
                              {ENTITY.id: [ENTITY.functional_currency]})}),
    "staffing-sync": _Kind("staffing_sync", staffing_sync, staffing_sync_handlers.QUEUE, False,
                           _CONSUME_AND_RELAY),
    "time-expense": _Kind("time_expense", time_expense, time_expense_handlers.QUEUE, False,
                          _CONSUME_AND_RELAY),
    "billing-readiness": _Kind("billing_readiness", billing_readiness,
                               billing_readiness_handlers.QUEUE, False, _CONSUME_AND_RELAY, (),
                               {"TANDEM_ENTITY_CURRENCIES": json.dumps(
                                   {ENTITY.id: ENTITY.functional_currency})}),
    # A killed worker's partitions are taken over within a second and a half, not five.
    "observability": _Kind("observability", observability, observability_recording.QUEUE, True,
                           {}, ("observability:read",),
                           {"TANDEM_PARTITION_HEARTBEAT_S": "0.3",
                            "TANDEM_PARTITION_LEASE_TTL_S": "1.5"}),
}  # fmt: skip
Kind = _Kind  # how a caller of ``running_suite`` runs a service otherwise (``kinds``)


async def ok(answer: httpx.Response) -> Any:
    assert answer.is_success, f"{answer.request.url} {answer.status_code} {answer.text}"
    return answer.json()


@dataclass
class Suite:
    """The sandbox systems and each service's processes, by service name."""

    sandbox: Sandbox
    services: dict[str, LocalService]
    kinds: Mapping[str, _Kind] = field(default_factory=lambda: SERVICES)

    def __getitem__(self, name: str) -> LocalService:
        return self.services[name]

    def kill_worker(self, name: str) -> None:
        """SIGKILL service ``name``'s worker: no drain, no goodbye."""
        self.services[name].kill("worker")

    async def start_worker(self, name: str, *, consuming: bool = True) -> None:
        """Start service ``name``'s worker again; wait until it serves its probes and, when
        ``consuming``, until it consumes (not while a system it writes to is down: its flow
        control then pauses intake until the system is back)."""
        self.services[name].start("worker", settings=self.kinds[name].worker)
        await _ready(self.services[name], self.kinds[name], consuming=consuming)

    async def subscribe_crm(self) -> None:
        """The CRM tells project-sync of every change by signed webhook, as deployed."""
        hook = {"url": f"{self['project-sync'].api_url}/v1/inbound/crm/{CRM}",
                "secret": WEBHOOK_SECRET, "event_types": []}  # fmt: skip
        async with httpx.AsyncClient(base_url=self.sandbox.urls["crm"], timeout=30) as crm:
            await ok(await crm.post("/v1/webhooks", json=hook))


def _settings(sandbox: Sandbox) -> dict[str, str]:
    """What every service is told: the sandbox systems and the one legal entity.

    The CRM's webhooks carry the flow; polling stays slow. Every database query of a polling
    loop is a span (the kit traces asyncpg), and Phoenix on two shared cores stores a few
    hundred spans a second at most: fast polling would bury the flow's spans in a backlog.
    """
    limits = {"requests_per_second": 400, "burst": 200, "webhook_secret": WEBHOOK_SECRET}
    return {
        "TANDEM_LOG_LEVEL": os.environ.get("STORY_LOG_LEVEL", "WARNING"),
        "TANDEM_ERP_INSTANCES": json.dumps(
            {ERP: {"kind": "rest", "url": sandbox.urls["erp"], **limits}}
        ),
        "TANDEM_PSA_INSTANCES": json.dumps({PSA: {"url": sandbox.urls["psa"], **limits}}),
        "TANDEM_CRM_INSTANCES": json.dumps({CRM: {"url": sandbox.urls["crm"], **limits}}),
        "TANDEM_HRIS_INSTANCES": json.dumps({HRIS: {"url": sandbox.urls["hris"], **limits}}),
        "TANDEM_ERP_BY_REGION": json.dumps({ENTITY.data_residency_region: ERP}),
        "TANDEM_ENTITY_BY_COUNTRY": json.dumps({ENTITY.country: ENTITY.id}),
        "TANDEM_DEFAULT_LEGAL_ENTITY": ENTITY.id,
        "TANDEM_DEFAULT_REGION": ENTITY.data_residency_region,
        "TANDEM_ENTITY_REGIONS": json.dumps({ENTITY.id: ENTITY.data_residency_region}),
        "TANDEM_ENTITY_COUNTRIES": json.dumps({ENTITY.id: ENTITY.country}),
        "TANDEM_POLL_INTERVAL_S": "2",
        "TANDEM_POLL_LAG_S": "0",
        "TANDEM_RESUME_INTERVAL_S": "1",
        "TANDEM_PROBE_MAX_S": "0.5",
        "TANDEM_RATE_LIMIT": "100000/minute",
        # Five services' processes on the one local PostgreSQL (100 connections, shared with
        # the rest of the test run): a few connections each.
        "TANDEM_DB_POOL_SIZE": "4",
    }


async def _ready(service: LocalService, kind: _Kind, *, consuming: bool = True) -> None:
    """Wait until the service's processes serve and (``consuming``) its worker consumes; fail
    at once, with the log's end, if a process exits instead."""

    async def started() -> None:
        if kind.api:
            await service.wait_api(within=60)
        await service.wait_worker("worker", within=60)
        if consuming:
            await service.wait_consuming(kind.queue, within=60)

    async def exited() -> None:
        def gone() -> bool:
            return any(p.poll() is not None for p in service.processes.values())

        await eventually(gone, within=600, what="a process to exit", every=0.2)
        [name] = [n for n, p in service.processes.items() if p.poll() is not None][:1]
        tail = service.log_path(name).read_text(errors="replace")[-3000:]
        raise AssertionError(f"{service.name} {name} exited: {tail}")

    async with asyncio.TaskGroup() as group:
        watch = group.create_task(exited())
        await started()
        watch.cancel()


@contextlib.asynccontextmanager
async def running_suite(
    database_url: str, amqp_url: str, logs: Path, phoenix: Phoenix,
    kinds: Mapping[str, _Kind] = SERVICES, erp: Mapping[str, Any] | None = None,
) -> AsyncIterator[Suite]:  # fmt: skip
    """Every service running against the sandbox and exporting to ``phoenix``; each stopped
    and its database dropped on leaving. ``kinds`` says how each service runs (default:
    ``SERVICES``); ``erp``, when given, is the ERP instance's configuration in place of the
    sandbox's HTTP ERP (e.g. a Tryton server's), under the same instance name."""
    await apply_migrations(database_url, [SANDBOX_MIGRATIONS])
    own = {name: await create_database(database_url, f"_{n}") for n, name in enumerate(kinds)}
    try:
        await asyncio.gather(*(
            apply_migrations(own[name], kind.bootstrap.DEFINITION.migrations)
            for name, kind in kinds.items()
        ))  # fmt: skip
        settings = SandboxSettings(database_url=database_url, base_port=0)
        async with run_sandbox(settings) as sandbox, contextlib.AsyncExitStack() as stack:
            # Phoenix has been starting meanwhile; the services start once it answers. On two
            # cores, Phoenix starting beside eight processes takes longer than both starts in
            # turn, and what a service exports before Phoenix answers is lost.
            await phoenix.ready()
            common = {**_settings(sandbox), **phoenix.telemetry()}
            if erp is not None:
                common["TANDEM_ERP_INSTANCES"] = json.dumps({ERP: dict(erp)})
            services = {}
            for name, kind in kinds.items():
                scopes = {"TANDEM_API_KEYS": json.dumps({KEY: list(kind.scopes)})}
                service = LocalService(kind.module, name, own[name], amqp_url, logs,
                                       settings={**common, **scopes, **kind.settings})  # fmt: skip
                # Stopped off the loop: the sandbox a draining worker may still call runs on it.
                stack.push_async_callback(asyncio.to_thread, service.stop)
                if kind.api:
                    service.start("api")
                service.start("worker", settings=kind.worker)
                services[name] = service
            await asyncio.gather(*(_ready(services[n], k) for n, k in kinds.items()))
            yield Suite(sandbox, services, kinds)
    finally:
        for url in own.values():
            await drop_database(database_url, url)


async def firm_set_up(suite: Suite, amqp_url: str) -> None:
    """The entity's company in the ERP and its published rate card: project-sync validates a
    project against the rate cards it has heard of."""
    target = HttpTarget(suite.sandbox.urls["erp"], downstream="erp", retry=RetryPolicy(5, 0.1, 2))
    erp = RestErp(target, instance=ERP)
    try:
        await erp.ensure_legal_entity(ENTITY, key=ENTITY.id)
    finally:
        await erp.aclose()
    currency = ENTITY.functional_currency
    card = RateCard(
        id=f"rc-{currency.lower()}", name=f"Standard {currency}", currency=currency,
        scope=RateCardScope(), status=RateCardStatus.PUBLISHED,
        versions=(RateCardVersion(version=1, effective_from=date(2024, 1, 1),
                                  default_rate=Money(amount=Decimal(150), currency=currency)),),
    )  # fmt: skip
    event = RateCardPublished(rate_card=card, published_version=1, published_at=datetime.now(UTC))
    await announce(amqp_url, (event, ENTITY.id, ENTITY.data_residency_region, 1))


async def won_opportunity(crm: httpx.AsyncClient) -> str:
    """A customer and its opportunity in the CRM, won; answer the opportunity's canonical id
    (the correlation id of everything that follows from it)."""
    account = await ok(await crm.post("/v1/accounts", json={
        "name": "Customer of the traced project", "country": ENTITY.country,
        "currency": ENTITY.functional_currency,
    }))  # fmt: skip
    opportunity = await ok(await crm.post("/v1/opportunities", json={
        "account_id": account["id"], "name": "The traced project", "stage": "Negotiation",
        "amount": "100000.00", "currency": ENTITY.functional_currency,
        "close_date": "2026-09-30", "selling_entity": ENTITY.id,
    }))  # fmt: skip
    await ok(await crm.patch(f"/v1/opportunities/{opportunity['id']}",
                             json={"stage": "Closed Won"}))  # fmt: skip
    return canonical_id(CRM, str(opportunity["id"]))


async def activated(api: httpx.AsyncClient, opportunity: str, within: float = 40.0) -> None:
    """Approve the opportunity's contract once project-sync knows it, and wait until its
    project is active in the ERP and the PSA (``ProjectActivated`` announced)."""
    contract = {"billing_model": "time_and_materials",
                "total_value": {"amount": "100000.00", "currency": ENTITY.functional_currency},
                "start_date": "2026-09-01", "why": "the statement of work, signed"}  # fmt: skip

    async def approved() -> bool:
        answer = await api.put(f"/v1/opportunities/{opportunity}/contract", json=contract)
        assert answer.status_code in {202, 404}, answer.text
        return answer.status_code == 202

    await eventually(approved, within=within, what="project-sync to know the opportunity")
    seen: dict[str, Any] = {}

    async def active() -> bool:
        answer = await api.get("/v1/quote-to-cash", params={"opportunity": opportunity})
        if answer.status_code == 404:
            return False
        seen.update(max((await ok(answer))["items"], key=lambda i: int(i["generation"])))
        return seen.get("state") == "active"

    try:
        await eventually(active, within=within, what="the project active", every=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: {seen}") from None
