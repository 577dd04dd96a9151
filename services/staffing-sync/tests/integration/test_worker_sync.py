"""Workers into the PSA and the ERP end to end: staffing-sync's api and worker (in this
process, as the kit runs them) on real PostgreSQL and RabbitMQ, against the in-process
sandbox PSA and ERP over HTTP. Worker events enter through the outbox, as the HRIS ingestion
publishes them; every assertion reads the systems, staffing-sync's API or the parking lot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from staffing_sync.bootstrap import DEFINITION
from staffing_sync.settings import Settings
from tandem_connectors.http import HttpTarget
from tandem_connectors.rest import RestErp
from tandem_contracts import Envelope, Money, Producer, uuid7
from tandem_contracts.entities import (
    CostRate,
    EmploymentType,
    LegalEntity,
    Worker,
    WorkerStatus,
)
from tandem_contracts.events import (
    ConsultantOnboarded,
    CostRateChanged,
    WorkerTerminated,
    WorkerUpdated,
)
from tandem_messaging import Outbox
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations
from tandem_testing import eventually, free_port, sibling_module

KEY = "staffing-operator-key"
GERMANY = LegalEntity(
    id="le-de", name="Acme Deutschland GmbH", country="DE", functional_currency="EUR",
    data_residency_region="eu",
)  # fmt: skip

harness = sibling_module(__file__, "harness.py", "staffing_sync_psa_harness")


@dataclass
class Staffing:
    """staffing-sync running beside the sandbox: clients of its API, the PSA and the ERP."""

    api: httpx.AsyncClient
    psa: httpx.AsyncClient
    erp: httpx.AsyncClient
    pool: asyncpg.Pool
    erp_port: RestErp

    async def announce(self, *envelopes: Envelope[Any]) -> None:
        """Publish the events through the outbox, one transaction each (redeliveries too)."""
        for envelope in envelopes:
            async with self.pool.acquire() as db, db.transaction():
                await Outbox().add(db, envelope)

    async def status(self, worker_id: str) -> dict[str, Any] | None:
        answer = await self.api.get(f"/v1/workers/{worker_id}")
        return None if answer.status_code == 404 else await ok(answer)

    async def reaches(self, worker_id: str, within: float = 20, **expected: Any) -> dict[str, Any]:
        """Wait until the worker's status holds ``expected``; answer it."""
        seen: dict[str, Any] = {}

        async def there() -> bool:
            seen["status"] = status = await self.status(worker_id)
            return status is not None and all(status.get(k) == v for k, v in expected.items())

        await eventually(there, within=within, what=f"{worker_id} {expected} (last: {seen})")
        return dict(seen["status"])

    async def resources(self, worker_id: str) -> list[dict[str, Any]]:
        listed = await ok(await self.psa.get("/v1/resources", params={"worker_ref": worker_id}))
        return list(listed["items"])

    async def employee(self, ref: str) -> dict[str, Any]:
        return await ok(await self.erp.get(f"/v1/employees/{ref}"))


async def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.is_success, f"{answer.status_code} {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


def worker(worker_id: str, entity: str = "le-de", **changes: Any) -> Worker:
    values: dict[str, Any] = {
        "id": worker_id, "worker_number": f"W-{worker_id}", "legal_entity_id": entity,
        "employment_type": EmploymentType.EMPLOYEE, "status": WorkerStatus.ACTIVE,
        "hire_date": date(2026, 1, 5), "work_country": "DE", "work_calendar_id": "cal-de",
        "org_unit_id": "ou-data", "home_currency": "EUR",
    }  # fmt: skip
    return Worker(**(values | changes))


def rate(worker_id: str, amount: str, start: date) -> CostRate:
    cost = Money(amount=Decimal(amount), currency="EUR")
    return CostRate(worker_id=worker_id, hourly_cost=cost, effective_from=start)


def envelope(payload: Any, version: int, entity: str = "le-de") -> Envelope[Any]:
    return Envelope.new(
        payload, producer=Producer(service="staffing-sync"), tenant_id="acme",
        legal_entity_id=entity, data_residency_region="eu", correlation_id=payload.subject_id,
        subject_version=version,
    )  # fmt: skip


def onboarded(hire: Worker, version: int = 1, cost: CostRate | None = None) -> Envelope[Any]:
    event = ConsultantOnboarded(
        worker=hire, primary_role_id="r-consultant", cost_rate=cost, start_date=hire.hire_date
    )
    return envelope(event, version, hire.legal_entity_id)


def updated(changed: Worker, version: int, *fields: str) -> Envelope[Any]:
    event = WorkerUpdated(worker=changed, changed_fields=fields, effective_date=date(2026, 5, 1))
    return envelope(event, version, changed.legal_entity_id)


def again(original: Envelope[Any]) -> Envelope[Any]:
    """The same event delivered again (a new event id: the HRIS sent it twice)."""
    return original.model_copy(update={"event_id": uuid7()})


@asynccontextmanager
async def running(database_url: str, amqp_url: str) -> AsyncIterator[Staffing]:
    """The sandbox PSA and ERP, and staffing-sync's api and worker on them."""
    await apply_migrations(database_url, [*DEFINITION.migrations, SANDBOX_MIGRATIONS])
    sandbox_settings = SandboxSettings(database_url=database_url, base_port=0)
    async with run_sandbox(sandbox_settings) as sandbox:
        urls = sandbox.urls
        values: dict[str, Any] = {
            "database_url": database_url, "amqp_url": amqp_url, "http_port": free_port(),
            "worker_http_port": 0, "api_keys": {KEY: ["staffing:read", "links:write"]},
            "psa_instances": {"psa": {"url": urls["psa"]}},
            "erp_instances": {"erp": {"kind": "rest", "url": urls["erp"]}},
            "erp_by_region": {"eu": "erp"}, "default_region": "eu", "probe_max_s": 0.5,
        }  # fmt: skip
        settings = Settings(**values)
        erp_port = RestErp(HttpTarget(urls["erp"], downstream="erp:test"), instance="erp")
        await erp_port.ensure_legal_entity(GERMANY, key=GERMANY.id)
        async with _service(settings, urls, erp_port) as staffing:
            yield staffing


@asynccontextmanager
async def _service(
    settings: Settings, urls: dict[str, str], erp_port: RestErp
) -> AsyncIterator[Staffing]:
    api_url = f"http://127.0.0.1:{settings.http_port}"
    try:
        async with (
            harness.serving(settings) as pool,
            httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": KEY}, timeout=10) as api,
            httpx.AsyncClient(base_url=urls["psa"], timeout=10) as psa,
            httpx.AsyncClient(base_url=urls["erp"], timeout=10) as erp,
        ):
            yield Staffing(api, psa, erp, pool, erp_port)
    finally:
        await erp_port.aclose()


# -- the stories ------------------------------------------------------------------------------


async def test_a_worker_lives_once_in_the_psa_and_the_erp_through_its_changes(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url) as staffing:
        hire = worker("w-1")
        first = onboarded(hire, cost=rate("w-1", "80.00", date(2026, 1, 5)))
        # The hire is delivered twice: one resource, one employee, one cost rate.
        await staffing.announce(first, again(first))
        status = await staffing.reaches("w-1", worker_number="W-w-1")
        await eventually(lambda: _synced_both(staffing, "w-1"), what="w-1 in the PSA and ERP")
        status = await staffing.reaches("w-1")
        [resource] = await staffing.resources("w-1")
        assert resource["id"] == status["psa"]["ref"]
        assert resource["name"] == "W-w-1"  # the worker number, no personal data
        assert (resource["role"], resource["country"], resource["calendar_id"]) == (
            "r-consultant", "DE", "cal-de",
        )  # fmt: skip
        employee = await staffing.employee(status["erp"]["ref"])
        assert employee["name"] == "W-w-1"
        assert [(c["amount"], c["effective_from"]) for c in employee["cost_rates"]] == [
            ("80.00", "2026-01-05")
        ]
        employees = await ok(await staffing.erp.get("/v1/employees"))
        assert [e["id"] for e in employees["items"]] == [status["erp"]["ref"]]

        # A cost-rate change effective mid-month lands dated beside the first one.
        change = CostRateChanged(cost_rate=rate("w-1", "95.00", date(2026, 6, 15)))
        await staffing.announce(envelope(change, 1))

        async def two_rates() -> bool:
            return len((await staffing.employee(status["erp"]["ref"]))["cost_rates"]) == 2

        await eventually(two_rates, what="the second cost rate in the ERP", within=20)
        dated = (await staffing.employee(status["erp"]["ref"]))["cost_rates"]
        assert [(c["amount"], c["effective_from"]) for c in dated] == [
            ("80.00", "2026-01-05"), ("95.00", "2026-06-15"),
        ]  # fmt: skip

        # A newer change, then an older one after it: the older changes nothing.
        newer = updated(worker("w-1", org_unit_id="ou-cloud"), 3, "org_unit_id")
        older = updated(worker("w-1", org_unit_id="ou-legacy"), 2, "org_unit_id")
        await staffing.announce(newer)
        await staffing.reaches("w-1", within=20, hris={**status["hris"], "version": 3})
        await staffing.announce(older)
        # The termination after it shows the older one was passed over on the way.
        last_day = date(2026, 9, 30)
        leaving = WorkerTerminated(
            worker_id="w-1", legal_entity_id="le-de", last_day=last_day,
            terminated_at=datetime.now(UTC),
        )  # fmt: skip
        await staffing.announce(envelope(leaving, 4))
        ended = await staffing.reaches("w-1", within=20, last_day=str(last_day))
        assert ended["hris"]["version"] == 4
        [resource] = await staffing.resources("w-1")
        assert resource["cost_center"] == "ou-cloud"
        assert resource["end_date"] == "2026-09-30"
        assert ended["psa"]["synced_version"] == 4
        # The ERP employee ends at the last day too: the ERP refuses its time after it.
        assert ended["erp"]["synced_version"] == 4
        assert ended["erp"]["ref"] == status["erp"]["ref"]
        assert (await staffing.employee(ended["erp"]["ref"]))["end_date"] == "2026-09-30"
        assert ended["failure"] is None


async def test_a_transfer_ends_the_old_employee_and_a_known_last_day_ends_the_new_one(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url) as staffing:
        france = LegalEntity(
            id="le-fr", name="Acme France SAS", country="FR", functional_currency="EUR",
            data_residency_region="eu",
        )  # fmt: skip
        await staffing.erp_port.ensure_legal_entity(france, key="le-fr")
        await staffing.announce(
            onboarded(worker("w-5"), cost=rate("w-5", "80.00", date(2026, 1, 5)))
        )
        await eventually(lambda: _synced_both(staffing, "w-5"), what="w-5 synced", within=20)
        hired = await staffing.reaches("w-5")
        old = hired["erp"]["ref"]

        # Transferred to France from 1 May (the event's effective date), redelivered once.
        moved = updated(worker("w-5", entity="le-fr"), 2, "legal_entity_id")
        await staffing.announce(moved, again(moved))
        transferred = await staffing.reaches("w-5", within=20, hris={**hired["hris"], "version": 2})
        new = transferred["erp"]["ref"]
        assert new != old
        assert (await staffing.employee(old))["end_date"] == "2026-04-30"  # the day before
        employee = await staffing.employee(new)
        assert employee.get("end_date") is None
        assert employee["subsidiary_id"] != (await staffing.employee(old))["subsidiary_id"]
        # Every dated cost kept comes along to the new employee.
        assert [c["effective_from"] for c in employee["cost_rates"]] == ["2026-01-05"]

        # Terminated in France: the new employee ends, the old one keeps its end.
        leaving = WorkerTerminated(
            worker_id="w-5", legal_entity_id="le-fr", last_day=date(2026, 8, 31),
            terminated_at=datetime.now(UTC),
        )  # fmt: skip
        await staffing.announce(envelope(leaving, 3, "le-fr"))
        ended = await staffing.reaches("w-5", within=20, last_day="2026-08-31")
        assert (ended["erp"]["ref"], ended["erp"]["synced_version"]) == (new, 3)
        assert (await staffing.employee(new))["end_date"] == "2026-08-31"
        assert (await staffing.employee(old))["end_date"] == "2026-04-30"

        # Rehired in France after the last day: the employee is open again for its time.
        back = worker("w-5", entity="le-fr", hire_date=date(2026, 10, 1))
        await staffing.announce(updated(back, 4, "hire_date", "termination_date", "status"))
        rehired = await staffing.reaches("w-5", within=20, last_day=None)
        assert (rehired["erp"]["ref"], rehired["erp"]["synced_version"]) == (new, 4)
        assert (await staffing.employee(new))["end_date"] is None
        assert (await staffing.employee(old))["end_date"] == "2026-04-30"

        # A worker first seen with a last day gets an employee ended at it.
        fixed_term = worker("w-6", termination_date=date(2026, 6, 30))
        await staffing.announce(onboarded(fixed_term))
        await eventually(lambda: _synced_both(staffing, "w-6"), what="w-6 synced", within=20)
        short = await staffing.reaches("w-6")
        assert (await staffing.employee(short["erp"]["ref"]))["end_date"] == "2026-06-30"


async def test_a_worker_waits_for_its_entitys_company_and_an_invalid_one_is_parked(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url) as staffing:
        # A hire in an entity with no company in the ERP waits for it.
        await staffing.announce(onboarded(worker("w-2", entity="le-fr")))
        waiting = await staffing.reaches("w-2", within=20, pipeline="waiting")
        assert waiting["failure"]["waiting_for"] == "legal-entity-in-erp:erp:le-fr"
        assert waiting["erp"] is None
        listed = await ok(await staffing.api.get("/v1/workers", params={"status": "waiting"}))
        assert [item["worker_id"] for item in listed["items"]] == ["w-2"]
        # An onboarding whose cost rate names another worker is parked with its reason ...
        wrong = onboarded(worker("w-3"), cost=rate("w-9", "70.00", date(2026, 1, 5)))
        # ... and valid traffic carries on behind it.
        await staffing.announce(wrong, onboarded(worker("w-4")))
        await eventually(lambda: _synced_both(staffing, "w-4"), what="w-4 synced", within=20)
        parked = await staffing.reaches("w-3", within=20, pipeline="failed")
        assert parked["failure"]["reason"] == "invalid_onboarding"
        assert "w-9" in parked["failure"]["detail"]
        reason = await staffing.pool.fetchval(
            "SELECT reason FROM messaging.parked WHERE event_id = $1", wrong.event_id
        )
        assert reason == "invalid_onboarding"
        assert await staffing.resources("w-3") == []

        # The company is set up and linked: the waiting hire proceeds.
        france = LegalEntity(
            id="le-fr", name="Acme France SAS", country="FR", functional_currency="EUR",
            data_residency_region="eu",
        )  # fmt: skip
        company = await staffing.erp_port.ensure_legal_entity(france, key="le-fr")
        link = {"instance": "erp", "company": company.external_id, "why": "set up in the ERP"}
        linked = await staffing.api.put("/v1/legal-entities/le-fr/erp-company", json=link)
        assert linked.status_code == 200, linked.text
        await eventually(lambda: _synced_both(staffing, "w-2"), what="w-2 synced", within=20)
        proceeded = await staffing.reaches("w-2")
        assert proceeded["failure"] is None
        employee = await staffing.employee(proceeded["erp"]["ref"])
        assert employee["subsidiary_id"] == company.external_id
        assert len(await staffing.resources("w-2")) == 1


async def _synced_both(staffing: Staffing, worker_id: str) -> bool:
    status = await staffing.status(worker_id)
    return status is not None and status["psa"] is not None and status["erp"] is not None
