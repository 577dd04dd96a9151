"""A timesheet submitted in the (sandbox) PSA becomes one ``TimeSubmitted`` in the outbox.

The PSA's change events are landed as its webhooks would land them, and its feeds are polled as
the worker polls them; the kit's ingestion pass (``publish_landed``) then runs time-expense's
``PsaIngestion`` against the real database.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.inbound import poll_feeds, publish_landed
from tandem_connectors.landing import Landing
from tandem_connectors.rest import RestPsa
from tandem_connectors.xref import CrossReferences
from tandem_contracts import Envelope, ExternalRef, SystemKind, decode
from tandem_contracts.entities import (
    BillingModel,
    EmploymentType,
    Project,
    ProjectStatus,
    TimeEntryStatus,
    TimesheetStatus,
    Worker,
    WorkerStatus,
)
from tandem_contracts.events import TimeSubmitted
from tandem_messaging import DbConnection, Outbox
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations
from time_expense.adapters.reference import SqlReferenceData
from time_expense.adapters.unit_of_work import SqlUnitOfWork
from time_expense.bootstrap import DEFINITION
from time_expense.service_layer.handlers import worker_of
from time_expense.service_layer.ingest import PSA_INBOUND, PsaIngestion

OUTBOX = Outbox(partition=worker_of)


@dataclass
class PsaWorld:
    """time-expense's database (migrated as ``python -m time_expense migrate`` does) beside a
    running sandbox PSA: its REST API (``http``) and time-expense's connector to it (``psa``)."""

    pool: asyncpg.Pool
    http: httpx.AsyncClient
    psa: RestPsa


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[PsaWorld]:
    await apply_migrations(database_url, [*DEFINITION.migrations, SANDBOX_MIGRATIONS])
    settings = SandboxSettings(database_url=database_url, base_port=0)
    async with (
        run_sandbox(settings) as sandbox,
        asyncpg.create_pool(database_url, min_size=1, max_size=4) as pool,
        httpx.AsyncClient(base_url=sandbox.urls["psa"], timeout=10) as http,
    ):
        target = HttpTarget(
            sandbox.urls["psa"],
            downstream="psa:sandbox",
            retry=RetryPolicy(attempts=3, first_wait=0.05, max_wait=1.0),
        )
        psa = RestPsa(target, instance="psa")
        try:
            yield PsaWorld(pool, http, psa)
        finally:
            await psa.aclose()


SOURCE = "psa"
MONDAY = date(2026, 10, 5)


def worker() -> Worker:
    return Worker(
        id="w-7",
        worker_number="W0007",
        legal_entity_id="le-de",
        employment_type=EmploymentType.EMPLOYEE,
        status=WorkerStatus.ACTIVE,
        hire_date=date(2024, 1, 1),
        work_country="DE",
        home_currency="EUR",
    )


def project(project_id: str, legal_entity_id: str, currency: str) -> Project:
    return Project(
        id=project_id,
        name=f"Project {project_id}",
        customer_id="c-1",
        opportunity_id=f"opp-{project_id}",
        legal_entity_id=legal_entity_id,
        currency=currency,
        billing_model=BillingModel.TIME_AND_MATERIALS,
        status=ProjectStatus.ACTIVE,
    )


async def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.is_success, answer.text
    body: dict[str, Any] = answer.json()
    return body


class Psa:
    """The sandbox PSA's REST API, and the cursor of its change feed read so far."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.cursor: str | None = None

    async def project(self, name: str, currency: str) -> str:
        body = {"name": name, "currency": currency, "open_for_time": True}
        return str((await ok(await self.http.post("/v1/projects", json=body)))["id"])

    async def week(self, projects: list[str]) -> tuple[str, list[str]]:
        """A resource of worker w-7, a day on each project from Monday, and their sheet."""
        resource = await ok(
            await self.http.post("/v1/resources", json={"name": "Ada", "worker_ref": "w-7"})
        )
        entries = []
        for day, psa_project in enumerate(projects):
            body = {
                "resource_id": resource["id"],
                "project_id": psa_project,
                "date": date.fromordinal(MONDAY.toordinal() + day).isoformat(),
                "minutes": 60 * (day + 1),
            }
            entries.append((await ok(await self.http.post("/v1/time-entries", json=body)))["id"])
        sheet = await ok(
            await self.http.post(
                "/v1/timesheets",
                json={
                    "resource_id": resource["id"],
                    "period_start": MONDAY.isoformat(),
                    "period_end": "2026-10-11",
                },
            )
        )
        return str(sheet["id"]), entries

    async def act(self, sheet: str, action: str) -> dict[str, Any]:
        return await ok(await self.http.post(f"/v1/timesheets/{sheet}/{action}", json={}))

    async def events(self) -> list[dict[str, Any]]:
        """The change events since the last call (every page)."""
        found: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"limit": 200}
            if self.cursor is not None:
                params["after"] = self.cursor
            page = await ok(await self.http.get("/v1/events", params=params))
            found += page["events"]
            self.cursor = page["next"]
            if not page["more"]:
                return found


async def land_as_webhooks(pool: asyncpg.Pool, events: list[dict[str, Any]]) -> list[bool]:
    """Land events as the webhook endpoint does (its record types); answer which were new."""
    landed = []
    async with pool.acquire() as db:
        for event in events:
            kind = event["subject"]["type"]
            if kind in PSA_INBOUND.webhook_subjects:
                landed.append(await Landing(db).land("psa", SOURCE, kind, event["data"], "webhook"))
    return landed


async def onboard(pool: asyncpg.Pool, projects: dict[str, tuple[Project, str]]) -> None:
    """What ProjectActivated (with the PSA project linked) and ConsultantOnboarded leave."""
    async with pool.acquire() as db, db.transaction():
        reference = SqlReferenceData(db)
        for psa_project, (canonical, region) in projects.items():
            await reference.save_project(canonical, region)
            ref = ExternalRef(
                system=SystemKind.PSA,
                instance=SOURCE,
                object_type="project",
                external_id=psa_project,
            )
            await CrossReferences(db).link("project", canonical.id, ref)


async def publish_all(world: PsaWorld) -> int:
    def ingestion(db: DbConnection) -> PsaIngestion:
        return PsaIngestion(SqlUnitOfWork(db, OUTBOX), world.psa, SOURCE, "acme")

    total = 0
    while settled := await publish_landed(world.pool, "psa", SOURCE, ingestion, OUTBOX):
        total += settled
    return total


async def poll(world: PsaWorld) -> int:
    """What the worker's polling does: land every change of the PSA's feeds."""
    feeds = [(feed, world.psa.change_source(feed.name)) for feed in PSA_INBOUND.feeds]
    return await poll_feeds(world.pool, "psa", SOURCE, feeds, timedelta(0))


async def outbox(pool: asyncpg.Pool) -> list[tuple[asyncpg.Record, Envelope[Any]]]:
    rows = await pool.fetch(
        "SELECT id, event_type, partition_key, routing_key, body FROM messaging.outbox ORDER BY id"
    )
    return [(row, decode(bytes(row["body"]))) for row in rows]


async def inbound(pool: asyncpg.Pool, record_type: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT record_id, version, via, status, detail, payload->>'status' AS psa_status "
        "FROM connectors.inbound WHERE system = 'psa' AND record_type = $1 ORDER BY sequence",
        record_type,
    )


async def test_a_submitted_sheet_is_published_once_with_its_entries(world: PsaWorld) -> None:
    psa = Psa(world.http)
    home, abroad = await psa.project("Home", "EUR"), await psa.project("Abroad", "GBP")
    await onboard(
        world.pool,
        {
            home: (project("p-home", "le-de", "EUR"), "eu"),
            abroad: (project("p-abroad", "le-uk", "GBP"), "uk"),
        },
    )
    async with world.pool.acquire() as db:
        await SqlReferenceData(db).save_worker(worker())
    sheet_id, entry_ids = await psa.week([abroad, home, abroad])
    submitted = await psa.act(sheet_id, "submit")
    assert submitted["entry_ids"] == entry_ids

    # Webhooks land every change; polling (the worker's feeds) then finds nothing new.
    assert all(await land_as_webhooks(world.pool, await psa.events()))
    await poll(world)
    sheets = await inbound(world.pool, "timesheet")
    assert [(r["version"], r["via"], r["psa_status"]) for r in sheets] == [
        (1, "webhook", "open"),
        (submitted["version"], "webhook", "submitted"),
    ]

    assert await publish_all(world) > 0
    [(row, envelope)] = await outbox(world.pool)
    assert row["event_type"] == "TimeSubmitted"
    event = envelope.payload
    assert isinstance(event, TimeSubmitted)
    assert (envelope.subject.type, envelope.subject.id) == ("timesheet", sheet_id)
    assert envelope.subject_version == submitted["version"]
    assert envelope.idempotency_key == f"psa:{SOURCE}:timesheet:{sheet_id}:v{submitted['version']}"
    # The worker's entity and region (one entry is at home), in the worker's lane.
    assert (envelope.legal_entity_id, envelope.data_residency_region) == ("le-de", "eu")
    assert row["routing_key"] == "time.TimeSubmitted.v1.eu.le-de"
    assert row["partition_key"] == "w-7"
    assert envelope.correlation_id == sheet_id  # two projects: no one project's workflow
    assert envelope.producer.instance == SOURCE
    assert event.timesheet.worker_id == "w-7"
    assert event.timesheet.status is TimesheetStatus.SUBMITTED
    assert (event.timesheet.period_start, event.timesheet.period_end) == (
        MONDAY,
        date(2026, 10, 11),
    )
    assert [e.id for e in event.entries] == entry_ids
    assert [e.project_id for e in event.entries] == ["p-abroad", "p-home", "p-abroad"]
    assert [e.project_legal_entity_id for e in event.entries] == ["le-uk", "le-de", "le-uk"]
    assert [e.duration_minutes for e in event.entries] == [60, 120, 180]
    assert {e.status for e in event.entries} == {TimeEntryStatus.SUBMITTED}
    assert {(e.worker_id, e.worker_legal_entity_id, e.timesheet_id) for e in event.entries} == {
        ("w-7", "le-de", sheet_id)
    }
    statuses = {(r["version"], r["status"]) for r in await inbound(world.pool, "timesheet")}
    assert statuses == {(1, "ignored"), (submitted["version"], "published")}
    assert {r["status"] for r in await inbound(world.pool, "time_entry")} == {"ignored"}

    # The same version again, by webhook (a redelivery) or by poll: landed once, published once.
    again = [{"subject": {"type": "timesheet", "id": sheet_id}, "data": submitted}]
    assert await land_as_webhooks(world.pool, again) == [False]
    await poll(world)
    assert await publish_all(world) == 0
    assert [row["event_type"] for row, _ in await outbox(world.pool)] == ["TimeSubmitted"]

    # The sheet's approval: its entries' decisions follow in the lane; the approved sheet is
    # not announced again.
    await psa.act(sheet_id, "approve")
    assert all(await land_as_webhooks(world.pool, await psa.events()))
    assert await publish_all(world) == len(entry_ids) + 1
    published = await outbox(world.pool)
    assert [row["event_type"] for row, _ in published] == ["TimeSubmitted"] + ["TimeApproved"] * 3
    assert {row["partition_key"] for row, _ in published} == {"w-7"}
    assert (await inbound(world.pool, "timesheet"))[-1]["status"] == "ignored"


async def test_a_sheet_of_a_worker_not_onboarded_waits_and_keeps_the_lane_in_order(
    world: PsaWorld,
) -> None:
    psa = Psa(world.http)
    home = await psa.project("Home", "EUR")
    await onboard(world.pool, {home: (project("p-home", "le-de", "EUR"), "eu")})
    sheet_id, entry_ids = await psa.week([home, home])
    submitted = await psa.act(sheet_id, "submit")
    # No webhooks this time: the worker's polling finds the submitted sheet (its feeds).
    await poll(world)
    sheets = await inbound(world.pool, "timesheet")
    assert [(r["version"], r["via"], r["psa_status"]) for r in sheets] == [
        (submitted["version"], "poll", "submitted")
    ]

    await publish_all(world)
    assert await outbox(world.pool) == []
    waiting = [r for r in await inbound(world.pool, "timesheet") if r["status"] == "pending"]
    assert [(r["version"], r["detail"].split(":")[0]) for r in waiting] == [
        (submitted["version"], "worker_not_mapped")
    ]

    # Its entries' approvals wait behind it.
    await psa.act(sheet_id, "approve")
    await land_as_webhooks(world.pool, await psa.events())
    await publish_all(world)
    assert await outbox(world.pool) == []
    approvals = [
        r for r in await inbound(world.pool, "time_entry") if r["psa_status"] == "approved"
    ]
    assert len(approvals) == len(entry_ids)
    assert {(r["status"], r["detail"].split(":")[0]) for r in approvals} == {
        ("pending", "worker_not_mapped")
    }

    # Onboarded: the submission first, then the decisions, in the worker's lane.
    async with world.pool.acquire() as db:
        await SqlReferenceData(db).save_worker(worker())
    await publish_all(world)
    published = await outbox(world.pool)
    assert [row["event_type"] for row, _ in published] == ["TimeSubmitted"] + [
        "TimeApproved"
    ] * len(entry_ids)
    [(_, envelope)] = [(r, e) for r, e in published if r["event_type"] == "TimeSubmitted"]
    assert envelope.subject.id == sheet_id
    assert envelope.correlation_id == "opp-p-home"  # one project: that project's workflow
    assert [e.id for e in envelope.payload.entries] == entry_ids
