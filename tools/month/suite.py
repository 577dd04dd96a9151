"""The whole suite on this machine, for ``make run``: the sandbox CRM, PSA, HRIS (and HTTP ERP),
an ERP (a real Tryton by default), and the api and a worker of each of the five services, on
a fresh database each and one fresh vhost, every process exporting its spans to the trace store.

Each service is wired as deployed: its systems of record by instance, the sandbox's signed
webhooks for the records it takes in (CRM -> project-sync, HRIS -> staffing-sync, PSA ->
project-sync, staffing-sync and time-expense), and observability with every other service's
parked-message API, the broker's management API on the run's vhost and a link to each trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import httpx

from billing_readiness import bootstrap as billing_readiness
from billing_readiness.service_layer import handlers as billing_readiness_handlers
from month.quote import settings_for
from month.systems import (
    API_KEY,
    ERP,
    ROOT,
    WEBHOOK_SECRET,
    Flavour,
    _erp,
    _fresh_database,
    _fresh_vhost,
    _urls,
)
from observability import bootstrap as observability
from observability.service_layer import recording as observability_recording
from project_sync import bootstrap as project_sync
from project_sync.service_layer import handlers as project_sync_handlers
from staffing_sync import bootstrap as staffing_sync
from staffing_sync.service_layer import handlers as staffing_sync_handlers
from tandem_connectors.ports import AbstractErp
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import Sandbox, SandboxSettings, run_sandbox
from tandem_sandbox.scenario import Firm
from tandem_service_kit import apply_migrations
from tandem_testing import LocalService, Phoenix, TrytonServer, eventually, tryton_server
from time_expense import bootstrap as time_expense
from time_expense.service_layer import handlers as time_expense_handlers

__all__ = [
    "CRM",
    "HRIS",
    "PSA",
    "SERVICES",
    "Suite",
    "drained",
    "intercompany_pairs",
    "running_suite",
]

CRM, PSA, HRIS = "crm", "psa", "hris"
_PARKED = ("parked:read", "parked:replay", "parked:discard")


@dataclass(frozen=True)
class _Kind:
    """One service: its package, bootstrap, consumer queue and the scopes the run's key has."""

    module: str
    bootstrap: ModuleType
    queue: str
    scopes: tuple[str, ...]


SERVICES = {
    "project-sync": _Kind("project_sync", project_sync, project_sync_handlers.QUEUE,
                          ("q2c:read", "q2c:write", *_PARKED)),
    "staffing-sync": _Kind("staffing_sync", staffing_sync, staffing_sync_handlers.QUEUE,
                           ("staffing:read", "inbound:read", *_PARKED)),
    "time-expense": _Kind("time_expense", time_expense, time_expense_handlers.QUEUE,
                          ("time:read", "time:admin", "time:reconcile", *_PARKED)),
    "billing-readiness": _Kind("billing_readiness", billing_readiness,
                               billing_readiness_handlers.QUEUE,
                               ("billing:read", "billing:operate", "billing:release", *_PARKED)),
    "observability": _Kind("observability", observability, observability_recording.QUEUE,
                           ("observability:read", *_PARKED)),
}  # fmt: skip

# Which sandbox system tells which service of its changes, and which event types.
_WEBHOOKS: tuple[tuple[str, str, str, list[str]], ...] = (
    (CRM, "project-sync", f"/v1/inbound/crm/{CRM}", []),
    (HRIS, "staffing-sync", f"/v1/inbound/hris/{HRIS}", []),
    (PSA, "project-sync", f"/v1/inbound/psa/{PSA}", [
        "project.created", "project.updated", "project.cancelled", "task.created",
        "task.updated", "change_order.created", "change_order.updated"]),
    (PSA, "staffing-sync", f"/v1/inbound/psa/{PSA}", [
        "assignment.created", "assignment.updated", "resource_request.created",
        "resource_request.updated"]),
    (PSA, "time-expense", f"/v1/inbound/psa/{PSA}", []),  # timesheets, entries, expenses
)  # fmt: skip


@dataclass
class Suite:
    """The running suite: the sandbox, the ERP (and the runner's adapter of it), the services."""

    sandbox: Sandbox
    erp: AbstractErp
    services: dict[str, LocalService]
    amqp_url: str
    flavour: Flavour
    tryton: TrytonServer | None

    def __getitem__(self, name: str) -> LocalService:
        return self.services[name]

    def api(self, name: str, timeout: float = 120.0) -> httpx.AsyncClient:
        """A client of service ``name``'s API with the run's key."""
        return httpx.AsyncClient(
            base_url=self.services[name].api_url, headers={"X-API-Key": API_KEY}, timeout=timeout
        )

    @property
    def console_url(self) -> str:
        """observability's console."""
        return f"{self.services['observability'].api_url}/console"


def intercompany_pairs(firm: Firm) -> list[tuple[str, str]]:
    """The firm's intercompany agreements: (employer, project entity) for every pair its own
    staffing crosses (an Indian consultant on a US project, say), as finance would configure."""
    employer = {w.id: w.legal_entity_id for w in firm.workers}
    owner = {p.id: p.legal_entity_id for p in firm.projects}
    pairs = {(employer[a.worker_id], owner[a.project_id]) for a in firm.assignments
             if a.worker_id in employer and a.project_id in owner}  # fmt: skip
    pairs |= {(employer[e.worker_id], owner[e.project_id]) for e in firm.time_entries
              if e.worker_id in employer and e.project_id in owner}  # fmt: skip
    return sorted((seller, buyer) for seller, buyer in pairs if seller != buyer)


def _settings(
    firm: Firm,
    sandbox: Sandbox,
    erp_config: Mapping[str, Any],
    flavour: Flavour,
    intercompany: bool,
) -> dict[str, dict[str, str]]:
    """Each service's settings (beyond the run's database, vhost and telemetry)."""
    entities = firm.legal_entities
    limits = {"requests_per_second": 2000, "burst": 500, "webhook_secret": WEBHOOK_SECRET}
    common = {
        "TANDEM_LOG_LEVEL": "WARNING",
        "TANDEM_ERP_INSTANCES": json.dumps({ERP: dict(erp_config)}),
        "TANDEM_PSA_INSTANCES": json.dumps({PSA: {"url": sandbox.urls["psa"], **limits}}),
        "TANDEM_CRM_INSTANCES": json.dumps({CRM: {"url": sandbox.urls["crm"], **limits}}),
        "TANDEM_HRIS_INSTANCES": json.dumps({HRIS: {"url": sandbox.urls["hris"], **limits}}),
        "TANDEM_ERP_BY_REGION": json.dumps({e.data_residency_region: ERP for e in entities}),
        "TANDEM_ENTITY_REGIONS": json.dumps({e.id: e.data_residency_region for e in entities}),
        "TANDEM_ENTITY_COUNTRIES": json.dumps({e.id: e.country for e in entities}),
        "TANDEM_DEFAULT_REGION": entities[0].data_residency_region,
        # Webhooks carry the flow; polling catches what they drop. Every query of a polling
        # loop costs the trace store and the two cores: not faster than every two seconds.
        "TANDEM_POLL_INTERVAL_S": "2",
        "TANDEM_POLL_LAG_S": "0",
        "TANDEM_INGEST_INTERVAL_S": "0.1",
        "TANDEM_RESUME_INTERVAL_S": "2",
        "TANDEM_PROBE_MAX_S": "0.5",
        "TANDEM_RATE_LIMIT": "100000/minute",
        # Eleven processes on one PostgreSQL (100 connections by default, shared with
        # whatever else runs): four each is plenty for a month on two cores.
        "TANDEM_DB_POOL_SIZE": "4",
        # Tryton on SQLite serialises writes: a few lanes keep it busy without timeouts. Ten
        # processes share PostgreSQL's hundred connections: few lanes, few connections each.
        "TANDEM_CONCURRENCY": "3" if flavour == "tryton" else "4",
        # None configured (DOMAIN.md §7.5's default): time across entities is an exception.
        "TANDEM_INTERCOMPANY_PAIRS": json.dumps(intercompany_pairs(firm) if intercompany else []),
    }
    own: dict[str, dict[str, str]] = {
        "project-sync": settings_for(firm),
        # The firm-wide rate cards of the PSA are announced under the group's home entity.
        "staffing-sync": {"TANDEM_HOME_LEGAL_ENTITY": entities[0].id},
        "time-expense": {"TANDEM_RECONCILE_QUIET_S": "0"},
        "billing-readiness": {
            "TANDEM_ENTITY_CURRENCIES": json.dumps({e.id: e.functional_currency for e in entities})
        },
        "observability": {"TANDEM_KPI_INTERVAL_S": "3"},
    }
    return {
        name: {
            **common,
            "TANDEM_API_KEYS": json.dumps({API_KEY: list(kind.scopes)}),
            **own[name],
        }
        for name, kind in SERVICES.items()
    }


@contextlib.asynccontextmanager
async def running_suite(
    flavour: Flavour,
    firm: Firm,
    *,
    run: str,
    logs: Path,
    phoenix: Phoenix | None,
    intercompany: bool = False,
    invoice_on_schedule: bool = False,
) -> AsyncIterator[Suite]:
    """Start everything for run ``run`` (databases ``tandem_<run>_*``, vhost ``tandem-<run>``);
    stop it all afterwards. ``intercompany``: the firm's intercompany pairs allowed;
    ``phoenix`` None: no trace store, tracing off (a benchmark's processes pay no export);
    ``invoice_on_schedule``: billing-readiness's readiness job proposes the ended month's
    invoices every minute, as deployed (else only the close stage's billing run does: the
    month is played in minutes, and a pass while its time still arrives invoices it in
    parts, one invoice now and another for the time that came after)."""
    admin, amqp, management = _urls()
    vhost = f"tandem-{run}"
    amqp_url = await _fresh_vhost(amqp, management, vhost)
    sandbox_db = await _fresh_database(admin, f"tandem_{run}_sandbox")
    own = {
        name: await _fresh_database(admin, f"tandem_{run}_{kind.module}")
        for name, kind in SERVICES.items()
    }
    await asyncio.gather(
        apply_migrations(sandbox_db, [SANDBOX_MIGRATIONS]),
        *(apply_migrations(own[n], k.bootstrap.DEFINITION.migrations) for n, k in SERVICES.items()),
    )
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(
            run_sandbox(SandboxSettings(database_url=sandbox_db, base_port=0))
        )
        tryton = (
            stack.enter_context(tryton_server(ROOT / ".tandem" / "tryton", run))
            if flavour == "tryton"
            else None
        )
        erp_config, erp = await _erp(stack, sandbox, tryton)
        settings = _settings(firm, sandbox, erp_config, flavour, intercompany)
        if not invoice_on_schedule:
            settings["billing-readiness"]["TANDEM_READINESS_INTERVAL_S"] = "86400"
        telemetry: dict[str, str] = {}
        if phoenix is not None:
            await phoenix.ready()
            telemetry = phoenix.telemetry()
        services = {
            name: LocalService(
                kind.module, name, own[name], amqp_url, logs, {**settings[name], **telemetry}
            )
            for name, kind in SERVICES.items()
        }
        services["observability"].settings.update({
            "TANDEM_PARKING_LOTS": json.dumps({
                name: {"url": service.api_url, "api_key": API_KEY}
                for name, service in services.items() if name != "observability"
            }),
            "TANDEM_RABBITMQ_MANAGEMENT_URL": management,
            "TANDEM_RABBITMQ_VHOST": vhost,
        })  # fmt: skip
        if phoenix is not None:
            services["observability"].settings["TANDEM_TRACE_URL_TEMPLATE"] = (
                f"{phoenix.url}/redirects/traces/{{trace_id}}"
            )
        for service in services.values():
            # Stopped off the loop: the sandbox a draining worker may still call runs on it.
            stack.push_async_callback(asyncio.to_thread, service.stop)
            service.start("api")
            service.start("worker")
        await asyncio.gather(*(_ready(services[n], k) for n, k in SERVICES.items()))
        await _subscribe(sandbox, services)
        yield Suite(sandbox, erp, services, amqp_url, flavour, tryton)


async def _ready(service: LocalService, kind: _Kind) -> None:
    """Wait until the service's api serves and its worker consumes; fail at once, with the
    log's end, if a process exits instead."""

    async def started() -> None:
        await service.wait_api(within=120)
        await service.wait_worker("worker", within=120)
        await service.wait_consuming(kind.queue, within=120)

    async def exited() -> None:
        def gone() -> bool:
            return any(p.poll() is not None for p in service.processes.values())

        await eventually(gone, within=3600, what="a process to exit", every=0.5)
        name = next(n for n, p in service.processes.items() if p.poll() is not None)
        tail = service.log_path(name).read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{service.name} {name} exited: {tail}")

    async with asyncio.TaskGroup() as group:
        watch = group.create_task(exited())
        await started()
        watch.cancel()


async def _subscribe(sandbox: Sandbox, services: Mapping[str, LocalService]) -> None:
    """The sandbox's signed webhooks to each service that takes a system's records in."""
    for system, name, path, event_types in _WEBHOOKS:
        hook = {"url": f"{services[name].api_url}{path}", "secret": WEBHOOK_SECRET,
                "event_types": event_types}  # fmt: skip
        async with httpx.AsyncClient(base_url=sandbox.urls[system], timeout=30) as client:
            (await client.post("/v1/webhooks", json=hook)).raise_for_status()


async def drained(suite: Suite, group: str, within: float = 180.0) -> float | None:
    """Wait until consumer group ``group``'s partition and retry queues are empty, three
    readings in a row two seconds apart, as the management API's figures lag a few seconds.
    The seconds it took, or None past ``within``."""
    settings = suite["observability"].settings
    base = settings["TANDEM_RABBITMQ_MANAGEMENT_URL"]
    vhost = quote(settings["TANDEM_RABBITMQ_VHOST"], safe="")
    started = time.monotonic()
    empty = 0
    async with httpx.AsyncClient(timeout=30) as client:
        while time.monotonic() - started < within:
            rows = (
                await client.get(f"{base}/api/queues/{vhost}", params={"columns": "name,messages"})
            ).raise_for_status()
            waiting = sum(row.get("messages", 1) for row in rows.json()
                          if row["name"].startswith(f"{group}.")
                          and not row["name"].endswith(".dead-letter"))  # fmt: skip
            empty = empty + 1 if waiting == 0 else 0
            if empty == 3:
                return time.monotonic() - started
            await asyncio.sleep(2)
    return None
