"""A worker's last day and transfer, end to end: time-expense's api and worker (in this process,
as the kit runs them) on real PostgreSQL and RabbitMQ, against the in-process sandbox ERP and
PSA over HTTP. Reference events and approved time enter through the outbox, as staffing-sync,
project-sync and the PSA ingestion publish them; every assertion reads time-expense's API or
the ERP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from tandem_connectors.http import HttpTarget
from tandem_connectors.ports import ErpObject
from tandem_connectors.rest import RestErp
from tandem_contracts import Envelope, Event, Money, Producer
from tandem_contracts.entities import (
    BillingModel,
    CostRate,
    Customer,
    EmploymentType,
    LegalEntity,
    Project,
    ProjectFlags,
    ProjectStatus,
    RateCard,
    RateCardScope,
    RateCardStatus,
    RateCardVersion,
    TaxProfile,
    TimeEntry,
    TimeEntryStatus,
    Worker,
    WorkerStatus,
)
from tandem_contracts.events import (
    ConsultantOnboarded,
    ProjectActivated,
    RateCardPublished,
    TimeApproved,
    WorkerTerminated,
    WorkerUpdated,
)
from tandem_messaging import Outbox
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations, serve_in_process
from tandem_testing import eventually, free_port
from time_expense.bootstrap import DEFINITION
from time_expense.service_layer.handlers import worker_of
from time_expense.settings import Settings

KEY = "time-operator-key"
WEBHOOK_SECRET = "test-only-webhook-secret"  # pragma: allowlist secret
OUTBOX = Outbox(partition=worker_of)
ENTITIES = {
    "le-us": LegalEntity(id="le-us", name="Acme US Inc", country="US",
                         functional_currency="USD", data_residency_region="us"),
    "le-uk": LegalEntity(id="le-uk", name="Acme UK Ltd", country="GB",
                         functional_currency="USD", data_residency_region="uk"),
}  # fmt: skip
REGION = {"le-us": "us", "le-uk": "uk"}
# A week of the current year: the sandbox ERP has monthly periods for it, all open.
MONDAY = date(date.today().year, 6, 1) - timedelta(days=date(date.today().year, 6, 1).weekday())
NOW = datetime.now(UTC)


@dataclass
class TimeExpense:
    """time-expense running beside the sandbox: clients of its API and of the ERP."""

    api: httpx.AsyncClient
    erp: httpx.AsyncClient
    pool: asyncpg.Pool
    erp_port: RestErp

    async def announce(self, *envelopes: Envelope[Any]) -> None:
        """Publish the events through the outbox, one transaction each, in order."""
        for envelope in envelopes:
            async with self.pool.acquire() as db, db.transaction():
                await OUTBOX.add(db, envelope)

    async def entry(self, entry_id: str) -> dict[str, Any] | None:
        answer = await self.api.get(f"/v1/time-entries/{entry_id}")
        return None if answer.status_code == 404 else await ok(answer)

    async def settled(self, *entry_ids: str) -> dict[str, dict[str, Any]]:
        """Wait until each entry is posted or held for finance; answer them."""
        seen: dict[str, dict[str, Any]] = {}

        async def all_settled() -> bool:
            for entry_id in entry_ids:
                status = await self.entry(entry_id)
                if status is None:
                    return False
                held = status["exception"] and status["exception"]["waiting_for"] is None
                if not (status["postings"] or held):
                    return False
                seen[entry_id] = status
            return True

        await eventually(all_settled, within=30, what=f"{entry_ids} posted or held ({seen})")
        return seen

    async def employee_of(self, status: dict[str, Any]) -> str:
        """The ERP employee the entry's one posted line books."""
        [line] = status["postings"]
        bill = await ok(await self.erp.get(f"/v1/time-bills/{line['erp_id']}"))
        return str(bill["employee_id"])


async def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.is_success, f"{answer.status_code} {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


def envelope(event: Event, version: int, entity: str) -> Envelope[Any]:
    kind = type(event)
    return Envelope.new(
        event, producer=Producer(service=kind.producers[0], system=kind.system_of_record),
        tenant_id="acme", legal_entity_id=entity, data_residency_region=REGION[entity],
        correlation_id=event.subject_id, subject_version=version,
    )  # fmt: skip


def worker(worker_id: str, entity: str = "le-us") -> Worker:
    return Worker(
        id=worker_id, worker_number=f"N-{worker_id}", legal_entity_id=entity,
        employment_type=EmploymentType.EMPLOYEE, status=WorkerStatus.ACTIVE,
        hire_date=date(MONDAY.year - 1, 1, 5), work_country="US", home_currency="USD",
    )  # fmt: skip


def onboarded(hired: Worker) -> Envelope[Any]:
    cost = CostRate(
        worker_id=hired.id, hourly_cost=Money.of("70.00", "USD"), effective_from=hired.hire_date
    )
    event = ConsultantOnboarded(
        worker=hired, primary_role_id="r-consultant", cost_rate=cost, start_date=hired.hire_date
    )
    return envelope(event, 1, hired.legal_entity_id)


def approved(entry_id: str, worker_id: str, entity: str, worked: date) -> Envelope[Any]:
    entry = TimeEntry(
        id=entry_id, worker_id=worker_id, worker_legal_entity_id=entity,
        project_id=f"p-{entity}", project_legal_entity_id=entity, role_id="r-consultant",
        work_date=worked, duration_minutes=480, billable=True, status=TimeEntryStatus.APPROVED,
    )  # fmt: skip
    event = TimeApproved(entry=entry, approval_version=1, approved_by="w-pm", approved_at=NOW)
    return envelope(event, 1, entity)


async def open_for_business(erp: RestErp) -> list[Envelope[Any]]:
    """Each entity's company, customer and project in the ERP; the activations and the rate
    card time-expense is told of."""
    events = []
    for entity in ENTITIES.values():
        company = (await erp.ensure_legal_entity(entity, key=entity.id)).external_id
        customer = Customer(
            id=f"c-{entity.id}", name=f"Globex {entity.country}", legal_entity_id=entity.id,
            country=entity.country, currency="USD", tax_profile=TaxProfile(country=entity.country),
        )  # fmt: skip
        made = await erp.upsert_customer(customer, company=company, key=customer.id)
        project = Project(
            id=f"p-{entity.id}", name=f"Globex {entity.country}", customer_id=customer.id,
            legal_entity_id=entity.id, currency="USD",
            billing_model=BillingModel.TIME_AND_MATERIALS, status=ProjectStatus.ACTIVE,
            flags=ProjectFlags(time_entry_open=True),
        )  # fmt: skip
        erp_project = await erp.create_project(
            project, company=company, customer=made.external_id, service=None, key=project.id
        )
        await erp.activate_project(erp_project.external_id, key=f"activate:{project.id}")
        linked = project.model_copy(update={"refs": (erp_project.ref,)})
        events.append(envelope(ProjectActivated(project=linked, activated_at=NOW), 1, entity.id))
    card = RateCard(
        id="rc-usd", name="Acme USD", currency="USD", scope=RateCardScope(),
        status=RateCardStatus.PUBLISHED,
        versions=(RateCardVersion(version=1, effective_from=date(MONDAY.year - 1, 1, 1),
                                  default_rate=Money.of("150.00", "USD")),),
    )  # fmt: skip
    published = RateCardPublished(rate_card=card, published_version=1, published_at=NOW)
    return [*events, envelope(published, 1, "le-us")]


@asynccontextmanager
async def running(database_url: str, amqp_url: str) -> AsyncIterator[TimeExpense]:
    """The sandbox ERP and PSA, and time-expense's api and worker on them."""
    await apply_migrations(database_url, [*DEFINITION.migrations, SANDBOX_MIGRATIONS])
    async with run_sandbox(SandboxSettings(database_url=database_url, base_port=0)) as sandbox:
        urls = sandbox.urls
        values: dict[str, Any] = {
            "database_url": database_url, "amqp_url": amqp_url, "http_port": free_port(),
            "worker_http_port": 0, "api_keys": {KEY: ["time:read"]},
            "psa_instances": {"psa": {"url": urls["psa"], "webhook_secret": WEBHOOK_SECRET}},
            "erp_instances": {"erp": {"kind": "rest", "url": urls["erp"]}},
            "erp_by_region": {"us": "erp", "uk": "erp"}, "probe_max_s": 0.5,
        }  # fmt: skip
        settings = Settings(**values)
        erp_port = RestErp(HttpTarget(urls["erp"], downstream="erp:test"), instance="erp")
        try:
            async with _service(settings, urls["erp"], erp_port) as service:
                await service.announce(*await open_for_business(erp_port))
                # As in a firm, projects and rates are known before time is approved (time
                # approved before its rate card is refused: rate_unresolved).
                await eventually(lambda: _reference_kept(service.pool), what="the firm kept")
                yield service
        finally:
            await erp_port.aclose()


_KEPT = """
SELECT (SELECT count(*) FROM time_expense.projects), (SELECT count(*) FROM time_expense.rate_cards)
"""


async def _reference_kept(pool: asyncpg.Pool) -> bool:
    """Whether time-expense keeps both projects and the rate card (read only)."""
    async with pool.acquire() as db:
        row = await db.fetchrow(_KEPT)
    return row is not None and tuple(row) == (len(ENTITIES), 1)


@asynccontextmanager
async def _service(
    settings: Settings, erp_url: str, erp_port: RestErp
) -> AsyncIterator[TimeExpense]:
    api_url = f"http://127.0.0.1:{settings.http_port}"
    async with (
        serve_in_process(DEFINITION, settings) as pool,
        httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": KEY}, timeout=10) as api,
        httpx.AsyncClient(base_url=erp_url, timeout=10) as erp,
    ):
        yield TimeExpense(api, erp, pool, erp_port)


# -- the stories ------------------------------------------------------------------------------


async def test_time_after_a_worker_s_last_day_is_held_and_up_to_it_posts(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url) as time_expense:
        # Ada is onboarded; HR records Tuesday as her last day.
        last_day = MONDAY + timedelta(days=1)
        leaving = WorkerTerminated(
            worker_id="w-ada", legal_entity_id="le-us", last_day=last_day, terminated_at=NOW
        )
        await time_expense.announce(onboarded(worker("w-ada")), envelope(leaving, 2, "le-us"))
        # Her Monday to Wednesday are approved after it.
        await time_expense.announce(
            *(approved(f"te-{n}", "w-ada", "le-us", MONDAY + timedelta(days=n)) for n in range(3))
        )
        entries = await time_expense.settled("te-0", "te-1", "te-2")
        # Monday and the last day post; Wednesday is held for finance with its own reason.
        assert [len(entries[f"te-{n}"]["postings"]) for n in range(3)] == [1, 1, 0]
        assert entries["te-2"]["exception"]["reason"] == "worker_terminated"
        reason = {"reason": "worker_terminated"}
        held = await ok(await time_expense.api.get("/v1/exceptions", params=reason))
        assert [(e["subject_id"], e["retryable"]) for e in held["items"]] == [("te-2", False)]


async def test_a_transferred_worker_s_time_posts_to_the_employee_of_its_work_date(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url) as time_expense:
        # Ben is onboarded in the US and moves to Acme UK from Wednesday.
        transfer = WorkerUpdated(
            worker=worker("w-ben", "le-uk"), changed_fields=("legal_entity_id",),
            effective_date=MONDAY + timedelta(days=2),
        )  # fmt: skip
        await time_expense.announce(onboarded(worker("w-ben")), envelope(transfer, 2, "le-uk"))
        # Monday's US time is approved after the transfer, Wednesday's on the UK project.
        await time_expense.announce(
            approved("te-mon", "w-ben", "le-us", MONDAY),
            approved("te-wed", "w-ben", "le-uk", MONDAY + timedelta(days=2)),
        )
        entries = await time_expense.settled("te-mon", "te-wed")
        assert [entries[e]["exception"] for e in ("te-mon", "te-wed")] == [None, None]
        us = await time_expense.employee_of(entries["te-mon"])
        uk = await time_expense.employee_of(entries["te-wed"])
        assert us != uk
        subsidiaries = {
            employee: (await ok(await time_expense.erp.get(f"/v1/employees/{employee}")))[
                "subsidiary_id"
            ]
            for employee in (us, uk)
        }
        companies = {e: await time_expense.erp_port.find(ErpObject.COMPANY, e) for e in ENTITIES}
        assert subsidiaries == {
            us: companies["le-us"].external_id if companies["le-us"] else None,
            uk: companies["le-uk"].external_id if companies["le-uk"] else None,
        }
