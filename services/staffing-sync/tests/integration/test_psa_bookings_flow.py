"""PSA bookings end to end: staffing-sync's api and worker (in this process, as the kit runs
them) on real PostgreSQL and RabbitMQ, beside the in-process sandbox PSA and ERP. Workers, the
project and the rate cards are announced through the outbox, as their producers publish them;
bookings are made in the sandbox PSA and its ``assignments`` feed is polled. Assertions read
staffing-sync's outbox (the events it announced), its API and the sandbox PSA."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import aio_pika
import asyncpg
import httpx
import uvicorn

from staffing_sync.bootstrap import DEFINITION
from staffing_sync.settings import Settings
from tandem_connectors.http import HttpTarget
from tandem_connectors.rest import RestErp
from tandem_contracts import Envelope, ExternalRef, Money, Producer, SystemKind, decode
from tandem_contracts.entities import (
    BillingModel,
    CostRate,
    EmploymentType,
    LegalEntity,
    Project,
    ProjectStatus,
    RateCard,
    RateCardScope,
    RateCardStatus,
    RateCardVersion,
    RoleRate,
    Worker,
    WorkerStatus,
)
from tandem_contracts.events import (
    ConsultantOnboarded,
    ProjectActivated,
    RateCardPublished,
    WorkerTerminated,
)
from tandem_messaging import Outbox
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import SandboxSettings, run_sandbox
from tandem_service_kit import WorkerResources, apply_migrations, service_app, service_worker
from tandem_testing import eventually, free_port

KEY = "staffing-operator-key"
ROLE = "r-consultant"
ENTITIES = (
    LegalEntity(id="le-de", name="Acme Deutschland GmbH", country="DE",
                functional_currency="EUR", data_residency_region="eu"),
    LegalEntity(id="le-us", name="Acme Inc", country="US", functional_currency="USD",
                data_residency_region="eu"),
)  # fmt: skip
_ANNOUNCED = """
SELECT body FROM messaging.outbox WHERE partition_key = $1 AND event_type = $2 ORDER BY id
"""


@dataclass
class Bookings:
    """staffing-sync beside the sandbox PSA: clients of its API and the PSA, its database."""

    api: httpx.AsyncClient
    psa: httpx.AsyncClient
    pool: asyncpg.Pool

    async def announce(self, *envelopes: Envelope[Any]) -> None:
        """Publish the events through the outbox, one transaction each."""
        for envelope in envelopes:
            async with self.pool.acquire() as db, db.transaction():
                await Outbox().add(db, envelope)

    async def resource(self, worker_id: str) -> str:
        """The worker's PSA resource, once staffing-sync made it."""
        found: list[str] = []

        async def made() -> bool:
            listed = await ok(await self.psa.get("/v1/resources", params={"worker_ref": worker_id}))
            found[:] = [item["id"] for item in listed["items"]]
            return len(found) == 1

        await eventually(made, within=20, what=f"{worker_id}'s resource")
        return found[0]

    async def book(self, project: str, resource: str, start: str, end: str, **more: Any) -> str:
        """A hard booking in the PSA; answer staffing-sync's id of it."""
        body = {"project_id": project, "resource_id": resource, "role": ROLE,
                "start_date": start, "end_date": end, "minutes_per_day": 240} | more  # fmt: skip
        booked = await ok(await self.psa.post("/v1/assignments", json=body))
        return f"psa-{booked['id']}"

    async def announced(self, assignment_id: str, event_type: str) -> list[Envelope[Any]]:
        rows = await self.pool.fetch(_ANNOUNCED, assignment_id, event_type)
        return [decode(bytes(row["body"])) for row in rows]

    async def announces(self, assignment_id: str, event_type: str, count: int = 1) -> None:
        """Wait until staffing-sync announced ``count`` such events about the booking."""

        async def there() -> bool:
            return len(await self.announced(assignment_id, event_type)) >= count

        await eventually(there, within=30, what=f"{event_type} x{count} of {assignment_id}")

    async def booking(self, assignment_id: str) -> dict[str, Any]:
        return await ok(await self.api.get(f"/v1/assignments/{assignment_id}"))


async def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.is_success, f"{answer.status_code} {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


def envelope(payload: Any, version: int, entity: str = "le-de", service: str = "staffing-sync"
             ) -> Envelope[Any]:  # fmt: skip
    return Envelope.new(
        payload, producer=Producer(service=service), tenant_id="acme", legal_entity_id=entity,
        data_residency_region="eu", correlation_id=payload.subject_id, subject_version=version,
    )  # fmt: skip


def onboarded(worker_id: str, entity: str) -> Envelope[Any]:
    hired = Worker(
        id=worker_id, worker_number=f"W-{worker_id}", legal_entity_id=entity,
        employment_type=EmploymentType.EMPLOYEE, status=WorkerStatus.ACTIVE,
        hire_date=date(2026, 1, 5), work_country="DE", home_currency="EUR",
    )  # fmt: skip
    cost = CostRate(worker_id=worker_id, hourly_cost=Money.of("80.00", "EUR"),
                    effective_from=date(2026, 1, 5))  # fmt: skip
    event = ConsultantOnboarded(
        worker=hired, primary_role_id=ROLE, cost_rate=cost, start_date=hired.hire_date
    )
    return envelope(event, 1, entity)


def activated(project_id: str, psa_project: str) -> Envelope[Any]:
    ref = ExternalRef(
        system=SystemKind.PSA, instance="psa", object_type="project", external_id=psa_project
    )
    project = Project(
        id=project_id, name="Rollout", customer_id="c-1", legal_entity_id="le-de",
        currency="EUR", billing_model=BillingModel.TIME_AND_MATERIALS,
        status=ProjectStatus.ACTIVE, refs=(ref,),
    )  # fmt: skip
    event = ProjectActivated(project=project, activated_at=datetime.now(UTC))
    return envelope(event, 2, service="project-sync")


def published(card_id: str, rate: str, project_id: str | None = None) -> Envelope[Any]:
    row = RoleRate(role_id=ROLE, bill_rate=Money.of(rate, "EUR"))
    card = RateCard(
        id=card_id, name=card_id, currency="EUR", scope=RateCardScope(project_id=project_id),
        versions=(RateCardVersion(version=1, effective_from=date(2026, 1, 1), role_rates=(row,)),),
        status=RateCardStatus.PUBLISHED,
    )  # fmt: skip
    event = RateCardPublished(rate_card=card, published_version=1, published_at=datetime.now(UTC))
    return envelope(event, 1, service="billing-readiness")


@asynccontextmanager
async def running(database_url: str, amqp_url: str) -> AsyncIterator[Bookings]:
    """The sandbox PSA and ERP, and staffing-sync's api and worker on them (the PSA polled)."""
    await apply_migrations(database_url, [*DEFINITION.migrations, SANDBOX_MIGRATIONS])
    async with run_sandbox(SandboxSettings(database_url=database_url, base_port=0)) as sandbox:
        urls = sandbox.urls
        values: dict[str, Any] = {
            "database_url": database_url, "amqp_url": amqp_url, "http_port": free_port(),
            "worker_http_port": 0, "api_keys": {KEY: ["staffing:read"]},
            "psa_instances": {"psa": {"url": urls["psa"]}},
            "erp_instances": {"erp": {"kind": "rest", "url": urls["erp"]}},
            "erp_by_region": {"eu": "erp"}, "default_region": "eu", "probe_max_s": 0.5,
            "poll_interval_s": 0.2,
        }  # fmt: skip
        settings = Settings(**values)
        erp = RestErp(HttpTarget(urls["erp"], downstream="erp:test"), instance="erp")
        try:
            for entity in ENTITIES:
                await erp.ensure_legal_entity(entity, key=entity.id)
        finally:
            await erp.aclose()
        async with _service(settings, urls["psa"]) as bookings:
            yield bookings


@asynccontextmanager
async def _service(settings: Settings, psa_url: str) -> AsyncIterator[Bookings]:
    api_url = f"http://127.0.0.1:{settings.http_port}"
    server = uvicorn.Server(
        uvicorn.Config(service_app(DEFINITION, settings), port=settings.http_port,
                       log_config=None, lifespan="on")
    )  # fmt: skip
    stopping = asyncio.Event()
    async with (
        asyncpg.create_pool(settings.database_url, min_size=1, max_size=4) as pool,
        await aio_pika.connect_robust(settings.amqp_url) as connection,
        httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": KEY}, timeout=10) as api,
        httpx.AsyncClient(base_url=psa_url, timeout=10) as psa,
    ):
        worker = service_worker(DEFINITION)
        tasks = [
            asyncio.create_task(server.serve()),
            asyncio.ensure_future(worker(WorkerResources(settings, pool, connection, stopping))),
        ]
        try:
            await eventually(lambda: server.started, what="the api serving")
            yield Bookings(api, psa, pool)
        finally:
            stopping.set()
            server.should_exit = True
            await asyncio.wait_for(asyncio.gather(*tasks), 30)


# -- the story ---------------------------------------------------------------------------------


async def test_bookings_become_assignments_rated_warned_cancelled_and_ended_at_the_last_day(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url) as staffing:
        # A German and a US worker are onboarded; a German project is active in the PSA, with
        # a tenant card and the project's own card published.
        await staffing.announce(onboarded("w-de", "le-de"), onboarded("w-us", "le-us"))
        made = await ok(await staffing.psa.post(
            "/v1/projects", json={"name": "Rollout", "currency": "EUR", "status": "in_progress"}
        ))  # fmt: skip
        await staffing.announce(
            activated("p-1", made["id"]), published("rc-tenant", "150.00"),
            published("rc-p-1", "180.00", project_id="p-1"),
        )  # fmt: skip
        german, american = await staffing.resource("w-de"), await staffing.resource("w-us")

        # A hard booking, the PSA showing its own rate: confirmed once, the project's card
        # frozen on it with its source, the worker's cost at the start.
        first = await staffing.book(made["id"], german, "2026-04-06", "2026-04-17",
                                    bill_rate="140.00", currency="EUR")  # fmt: skip
        await staffing.announces(first, "AssignmentConfirmed")
        [confirmed] = await staffing.announced(first, "AssignmentConfirmed")
        assignment = confirmed.payload.assignment
        assert (assignment.project_id, assignment.worker_id) == ("p-1", "w-de")
        assert assignment.bill_rate == Money.of("180.00", "EUR")
        assert assignment.rate_source.rate_card_id == "rc-p-1"
        assert assignment.rate_source.scope_level == "project"
        assert assignment.cost_rate == Money.of("80.00", "EUR")
        assert assignment.total_minutes == 10 * 240
        status = await staffing.booking(first)
        assert (status["status"], status["warnings"]) == ("confirmed", ["psa_rate_differs"])

        # The US worker on the German project: confirmed, with the intercompany warning.
        across = await staffing.book(made["id"], american, "2026-04-06", "2026-04-10")
        await staffing.announces(across, "AssignmentConfirmed")
        warned = await staffing.booking(across)
        assert warned["warnings"] == ["intercompany_not_allowed"]
        rate = warned["assignment"]["bill_rate"]
        assert (Decimal(rate["amount"]), rate["currency"]) == (Decimal(180), "EUR")

        # Cancelled in the PSA: AssignmentCancelled, after the confirmation.
        await ok(await staffing.psa.patch(f"/v1/assignments/{across.removeprefix('psa-')}",
                                          json={"status": "cancelled"}))  # fmt: skip
        await staffing.announces(across, "AssignmentCancelled")
        [cancelled] = await staffing.announced(across, "AssignmentCancelled")
        assert cancelled.payload.project_id == "p-1"
        assert cancelled.subject_version == 2
        assert (await staffing.booking(across))["status"] == "cancelled"

        # The German worker leaves on 30 June: the July booking is cancelled in the PSA and
        # announced cancelled; the one across the last day ends on it and is re-announced.
        after = await staffing.book(made["id"], german, "2026-07-06", "2026-07-17")
        straddling = await staffing.book(made["id"], german, "2026-06-22", "2026-07-03")
        await staffing.announces(after, "AssignmentConfirmed")
        await staffing.announces(straddling, "AssignmentConfirmed")
        leaving = WorkerTerminated(
            worker_id="w-de", legal_entity_id="le-de", last_day=date(2026, 6, 30),
            terminated_at=datetime.now(UTC),
        )  # fmt: skip
        await staffing.announce(envelope(leaving, 2))
        await staffing.announces(after, "AssignmentCancelled")
        psa_after = await ok(await staffing.psa.get(f"/v1/assignments/{after[4:]}"))
        assert psa_after["status"] == "cancelled"
        await staffing.announces(straddling, "AssignmentConfirmed", count=2)
        ended = (await staffing.announced(straddling, "AssignmentConfirmed"))[-1]
        assert ended.payload.assignment.end_date == date(2026, 6, 30)
        assert ended.payload.assignment.bill_rate == Money.of("180.00", "EUR")  # still frozen
        psa_straddling = await ok(await staffing.psa.get(f"/v1/assignments/{straddling[4:]}"))
        assert (psa_straddling["status"], psa_straddling["end_date"]) == ("active", "2026-06-30")
        # Nothing was announced twice, and the first booking stays as it was.
        assert len(await staffing.announced(after, "AssignmentCancelled")) == 1
        assert len(await staffing.announced(first, "AssignmentConfirmed")) == 1
        assert len(await staffing.announced(first, "AssignmentCancelled")) == 0
