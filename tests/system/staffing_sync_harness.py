"""staffing-sync on real parts, for its system story (issue 15): the in-process sandbox HRIS
and PSA, the real Tryton ERP, RabbitMQ and PostgreSQL, and ``python -m staffing_sync api |
worker`` as real subprocesses (so a test can SIGKILL the worker); time-expense beside it (its
own database, the same vhost), so what staffing-sync announces reaches the service that
refuses a leaver's time; project-sync beside both while the firm's projects are won.

The sandbox HRIS runs hires, terminations and dated cost rates as business processes of its
own; it has none for a transfer between companies or a rehire. ``Hris.transfer`` and
``Hris.rehire`` make those changes as the HRIS would record them: a new version of the worker
record and its ``worker.updated`` event, through the sandbox's store, so they reach
staffing-sync by the same webhooks (faults and all) and feed as every other change.

``Story`` holds the clients a step needs and the waits it makes: HRIS faults, what
staffing-sync published (from a ``BusRecorder``), its pipeline, PSA bookings, time and
resource requests, and a census of workers for a failure's message.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from staffing_sync.bootstrap import DEFINITION as STAFFING
from staffing_sync.service_layer.handlers import QUEUE
from staffing_sync.service_layer.ingest import canonical_worker_id
from tandem_contracts.entities import LegalEntity
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import Sandbox, SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations
from tandem_testing import TrytonServer, eventually
from time_expense.bootstrap import DEFINITION as TIME_EXPENSE

from .harness import Deployment
from .harness import deployment_of as time_expense_of
from .project_sync_harness import ENTITIES as PROJECT_ENTITIES
from .project_sync_harness import ERP_INSTANCE, BusRecorder, Q2cDeployment
from .quote_harness import create_database, drop_database

__all__ = [
    "API_KEY",
    "ENTITIES",
    "ERP_INSTANCE",
    "HRIS",
    "Hris",
    "StaffingDeployment",
    "Story",
    "all_pages",
    "ok",
    "sandbox_for",
    "staffing_deployment",
    "time_expense_beside",
]

API_KEY = "system-test-staffing-reader-key"
HRIS = "hris"
HRIS_SECRET = "hris-webhook-secret-for-system-tests"
# The three entities of the quote-to-cash story, and a French one: a second EUR company in
# the eu region, so a worker can move between two companies of one currency and region.
ENTITIES = {
    **PROJECT_ENTITIES,
    "le-fr": LegalEntity(id="le-fr", name="Acme Conseil SAS", country="FR",
                         functional_currency="EUR", data_residency_region="eu"),
}  # fmt: skip
_REGIONS = {entity.id: entity.data_residency_region for entity in ENTITIES.values()}
_FAST = {
    "TANDEM_LOG_LEVEL": os.environ.get("STORY_LOG_LEVEL", "WARNING"),
    "TANDEM_INGEST_INTERVAL_S": "0.05",
    "TANDEM_POLL_INTERVAL_S": "0.3",
    "TANDEM_POLL_LAG_S": "0",
    "TANDEM_RESUME_INTERVAL_S": "0.5",
    "TANDEM_PROBE_MAX_S": "0.5",
    "TANDEM_RATE_LIMIT": "100000/minute",
    "TANDEM_ERP_BY_REGION": json.dumps(dict.fromkeys(_REGIONS.values(), ERP_INSTANCE)),
}


async def ok(answer: httpx.Response) -> Any:
    assert answer.is_success, f"{answer.request.url} {answer.status_code} {answer.text}"
    return answer.json()


async def all_pages(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a sandbox listing, page after page."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {**params, "limit": 200}
    while True:
        body = await ok(await client.get(path, params=query))
        items += body["items"]
        if not body.get("next_page_token"):
            return items
        query["page_token"] = body["next_page_token"]


@contextlib.asynccontextmanager
async def sandbox_for(database_url: str) -> AsyncIterator[Sandbox]:
    """staffing-sync's schemas and the sandbox's, then the in-process sandbox systems."""
    await apply_migrations(database_url, [*STAFFING.migrations, SANDBOX_MIGRATIONS])
    settings = SandboxSettings(database_url=database_url, base_port=0, webhook_retry_base_s=0.05)
    async with run_sandbox(settings) as running:
        yield running


def _tryton(tryton: TrytonServer) -> dict[str, Any]:
    return {"kind": "tryton", "url": tryton.url, "database": tryton.database,
            "user": tryton.user, "password": tryton.password}  # fmt: skip


class StaffingDeployment(Q2cDeployment):
    """staffing-sync's processes; its systems of record as JSON settings."""

    async def wait_worker_consuming(self, name: str = "worker", within: float = 60.0) -> None:
        """Wait until worker ``name`` is ready and consumes staffing-sync's queue."""
        await self.wait_worker(name, within)
        await self.wait_consuming(QUEUE, within)

    def hris_hook(self) -> dict[str, Any]:
        """The HRIS's webhook subscription to this deployment (every event type)."""
        url = f"{self.api_url}/v1/inbound/hris/{HRIS}"
        return {"url": url, "secret": HRIS_SECRET, "event_types": []}


def staffing_deployment(
    sandbox: Sandbox, tryton: TrytonServer, database_url: str, amqp_url: str, logs: Path
) -> StaffingDeployment:
    """staffing-sync against the sandbox HRIS (signed webhooks and its feed) and PSA (polled)
    and the Tryton ERP, polling fast."""
    urls = sandbox.urls
    limits = {"requests_per_second": 400, "burst": 200}
    scopes = ["staffing:read", "parked:read", "inbound:read"]
    return StaffingDeployment(
        module="staffing_sync",
        name="staffing-sync",
        database_url=database_url,
        amqp_url=amqp_url,
        logs=logs,
        instances={
            "hris": {HRIS: {"url": urls["hris"], "webhook_secret": HRIS_SECRET, **limits}},
            "psa": {"psa": {"url": urls["psa"], **limits}},
            "erp": {ERP_INSTANCE: _tryton(tryton)},
        },
        settings={
            **_FAST,
            "TANDEM_API_KEYS": json.dumps({API_KEY: scopes}),
            "TANDEM_ENTITY_REGIONS": json.dumps(_REGIONS),
            "TANDEM_ENTITY_COUNTRIES": json.dumps({e.id: e.country for e in ENTITIES.values()}),
            # The test's Tryton runs on SQLite: a few lanes at a time, not sixteen writers.
            "TANDEM_CONCURRENCY": "4",
        },
    )


@contextlib.asynccontextmanager
async def time_expense_beside(
    sandbox: Sandbox, tryton: TrytonServer, database_url: str, amqp_url: str, logs: Path
) -> AsyncIterator[Deployment]:
    """time-expense's api and worker on a database of its own (``database_url``'s name +
    ``_te``, dropped afterwards) and the same vhost, posting into the Tryton ERP under the
    instance name staffing-sync and project-sync use; its PSA polled."""
    own = await create_database(database_url, "_te")
    deployment = time_expense_of(sandbox, own, amqp_url, logs)
    deployment.erp_instances = {ERP_INSTANCE: _tryton(tryton)}
    deployment.settings.update(_FAST)
    try:
        await apply_migrations(own, TIME_EXPENSE.migrations)
        deployment.start("api")
        deployment.start("worker")
        await deployment.wait_api()
        await deployment.wait_workers()
        yield deployment
    finally:
        deployment.stop()
        await drop_database(database_url, own)


@dataclass
class Hris:
    """The sandbox HRIS, by its API and, for the processes it lacks, its store."""

    client: httpx.AsyncClient
    sandbox: Sandbox
    external: dict[str, str] = field(default_factory=dict)  # canonical worker -> HRIS id

    async def hire(
        self, n: int, entity: str, start: date, rate: Decimal, title: str = "Consultant"
    ) -> str:
        """Hire worker ``n`` in ``entity`` from ``start`` at an hourly cost of ``rate``;
        answer staffing-sync's id of the worker."""
        le = ENTITIES[entity]
        body = {
            "first_name": "Story", "last_name": f"Consultant {n}",
            "email": f"consultant-{n}@example.com", "company": entity,
            "hire_date": start.isoformat(), "job_title": title, "org_unit": "ou-delivery",
            "location_country": le.country, "home_currency": le.functional_currency,
            "cost_rate": {"amount": str(rate), "currency": le.functional_currency,
                          "effective_from": start.isoformat()},
        }  # fmt: skip
        made = await ok(await self.client.post("/v1/hires", json=body))
        worker = canonical_worker_id(HRIS, str(made["id"]))
        self.external[worker] = str(made["id"])
        return worker

    async def terminate(self, worker: str, last_day: date) -> None:
        body = {"termination_date": last_day.isoformat(), "reason": "resignation"}
        path = f"/v1/workers/{self.external[worker]}/terminations"
        await ok(await self.client.post(path, json=body))

    async def add_rate(self, worker: str, amount: Decimal, currency: str, start: date) -> None:
        body = {"amount": str(amount), "currency": currency, "effective_from": start.isoformat()}
        path = f"/v1/workers/{self.external[worker]}/cost-rates"
        await ok(await self.client.post(path, json=body))

    async def transfer(self, worker: str, entity: str, effective: date) -> None:
        """Move the worker to ``entity``'s company from ``effective`` (a new record version)."""
        le = ENTITIES[entity]
        await self._change(worker, {"company": entity, "effective_date": effective.isoformat(),
                                    "location_country": le.country})  # fmt: skip

    async def rehire(self, worker: str, start: date) -> None:
        """Hire the terminated worker again from ``start``: the same record, a new start."""
        await self._change(worker, {"hire_date": start.isoformat(), "termination_date": None,
                                    "termination_reason": None, "status": "active"})  # fmt: skip

    async def _change(self, worker: str, changes: dict[str, Any]) -> None:
        async with self.sandbox.store.tx("hris") as tx:
            record = await tx.get("workers", self.external[worker], lock=True)
            assert record is not None, worker
            updated = await tx.update(record, {**record.data, **changes})
            await tx.emit("worker.updated", "worker", updated.id, updated.public())


class Story:
    """The clients a step of the story needs, and the waits it makes."""

    def __init__(
        self,
        api: httpx.AsyncClient,
        te: httpx.AsyncClient,
        psa: httpx.AsyncClient,
        control: httpx.AsyncClient,
        hris: Hris,
        bus: BusRecorder,
    ) -> None:
        self.api, self.te, self.psa, self.control, self.hris, self.bus = (
            api, te, psa, control, hris, bus
        )  # fmt: skip

    async def faults(self, config: dict[str, Any]) -> None:
        """Configure the HRIS's faults (delivery faults counted from the first)."""
        await ok(await self.control.put("/_sandbox/faults/hris", json=config))

    def staffing_events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """What staffing-sync published (of ``event_type``), a redelivery counted once."""
        return [b for b in self.bus.distinct().values()
                if b["producer"]["service"] == "staffing-sync"
                and event_type in (None, b["event_type"])]  # fmt: skip

    async def announced(self, event_type: str, subjects: set[str], within: float = 120) -> None:
        """Wait until an ``event_type`` about each of ``subjects`` was published."""

        def there() -> bool:
            return subjects <= {b["subject"]["id"] for b in self.bus.of_type(event_type)}

        await eventually(there, within=within, what=f"{event_type} of {sorted(subjects)}")

    async def statuses(self) -> dict[str, dict[str, Any]]:
        """staffing-sync's onboarding pipeline: every worker's sync status."""
        body = await ok(await self.api.get("/v1/workers", params={"limit": 500}))
        return {item["worker_id"]: item for item in body["items"]}

    async def in_erp(self) -> int:
        """How many workers staffing-sync has made an ERP employee of."""
        return sum(1 for s in (await self.statuses()).values() if s["erp"] is not None)

    async def resource(self, worker: str) -> str:
        """The worker's one PSA resource."""
        listed = await ok(await self.psa.get("/v1/resources", params={"worker_ref": worker}))
        [resource] = listed["items"]
        return str(resource["id"])

    async def book(self, project: str, resource: str, start: date, end: date) -> str:
        """A hard booking of ``resource`` half-time; answer staffing-sync's id of it."""
        body = {"project_id": project, "resource_id": resource, "role": "consultant",
                "start_date": start.isoformat(), "end_date": end.isoformat(),
                "minutes_per_day": 240}  # fmt: skip
        return f"psa-{(await ok(await self.psa.post('/v1/assignments', json=body)))['id']}"

    async def booking(self, assignment: str) -> str | None:
        """What staffing-sync made of a booking (confirmed, cancelled, ...), None: nothing."""
        answer = await self.api.get(f"/v1/assignments/{assignment}")
        return None if answer.status_code == 404 else str((await ok(answer))["status"])

    async def confirmed(self, assignments: list[str], within: float = 60) -> None:
        async def all_confirmed() -> bool:
            return all([await self.booking(a) == "confirmed" for a in assignments])

        await eventually(all_confirmed, within=within, what=f"{assignments} confirmed")

    async def log_time(self, resource: str, project: str, days: list[date]) -> list[str]:
        """A day's time per day on a timesheet, submitted and approved; the entries' ids."""
        sheet = await ok(await self.psa.post("/v1/timesheets", json={
            "resource_id": resource, "period_start": days[0].isoformat(),
            "period_end": days[-1].isoformat(),
        }))  # fmt: skip
        entries = []
        for day in days:
            entry = {"resource_id": resource, "project_id": project, "date": day.isoformat(),
                     "minutes": 480}  # fmt: skip
            entries.append((await ok(await self.psa.post("/v1/time-entries", json=entry)))["id"])
        for action in ("submit", "approve"):
            path = f"/v1/timesheets/{sheet['id']}/{action}"
            await ok(await self.psa.post(path, json={"approver": "pm-1"}))
        return [str(entry) for entry in entries]

    async def request(self, project: str, start: date, end: date, minutes: int) -> str:
        """A resource request in the PSA for a consultant; answer staffing-sync's id of it."""
        body = {"project_id": project, "role": "consultant", "minutes": minutes,
                "start_date": start.isoformat(), "end_date": end.isoformat()}  # fmt: skip
        made = await ok(await self.psa.post("/v1/resource-requests", json=body))
        return f"psa-{made['id']}"

    async def proposed(self, requests: list[str], within: float = 60) -> list[dict[str, Any]]:
        """Wait until staffing-sync proposed options for each request; answer them shown."""
        shown: dict[str, Any] = {}

        async def all_proposed() -> bool:
            for request in requests:
                if request not in shown:
                    answer = await self.api.get(f"/v1/requests/{request}")
                    if answer.is_success and answer.json()["status"] == "proposed":
                        shown[request] = answer.json()
            return len(shown) == len(requests)

        await eventually(all_proposed, within=within, what=f"options for {requests}")
        return [shown[request] for request in requests]

    async def census(self, workers: list[str]) -> str:
        """For a failure's message: each worker's sync status and what was published of it."""
        lines = []
        for worker in workers[:6]:
            status = (await self.api.get(f"/v1/workers/{worker}")).json()
            events = [(b["event_type"], b["subject_version"]) for b in self.staffing_events()
                      if b["subject"]["id"] == worker]  # fmt: skip
            lines.append(f"{worker}: {status}; published {sorted(events, key=lambda e: e[1])}")
        return "\n".join(lines)
