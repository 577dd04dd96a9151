"""The connectors' project-lifecycle and customer-lookup calls against the running sandbox:
RestErp (find a customer by key or tax id; activate, cancel, close for time; activity),
RestPsa (cancel, close, activity) and RestCrm (an account's tax id; the ERP customer written
back)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tandem_connectors import NotFound, RequestRejected
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.ports import (
    ExpensePosting,
    ProjectActivity,
    PsaProjectActivity,
    TimePosting,
)
from tandem_connectors.rest import RestCrm, RestErp, RestPsa
from tandem_contracts import Money
from tandem_contracts.entities import (
    BillingModel,
    CostRate,
    Customer,
    EmploymentType,
    Expense,
    ExpenseStatus,
    LegalEntity,
    Project,
    ProjectStatus,
    TaxProfile,
    TimeEntry,
    TimeEntryStatus,
    Worker,
    WorkerStatus,
)
from tandem_sandbox import Sandbox

FAST = RetryPolicy(attempts=3, first_wait=0.05, max_wait=2.0)
DAY = date(date.today().year, 3, 10)


def _entity(key: str, country: str) -> LegalEntity:
    return LegalEntity(
        id=key, name=f"Acme {country}", country=country, functional_currency="EUR",
        data_residency_region="eu",
    )  # fmt: skip


def customer(key: str, vat: str | None) -> Customer:
    return Customer(
        id=key, name=f"Customer {key}", legal_entity_id="le-de", country="DE", currency="EUR",
        tax_profile=TaxProfile(country="DE", vat_id=vat),
    )  # fmt: skip


def project(key: str) -> Project:
    return Project(
        id=key, name=f"Project {key}", customer_id="cu-1", legal_entity_id="le-de",
        currency="EUR", billing_model=BillingModel.TIME_AND_MATERIALS,
        status=ProjectStatus.SHELL,
    )  # fmt: skip


def time_on(project_id: str, n: int, day: date) -> TimeEntry:
    return TimeEntry(
        id=f"te-{n}", worker_id="w-1", worker_legal_entity_id="le-de", project_id="p",
        project_legal_entity_id="le-de", work_date=day, duration_minutes=60, billable=True,
        bill_rate=Money.of("120", "EUR"), status=TimeEntryStatus.APPROVED,
    )  # fmt: skip


def expense_on(n: int, day: date) -> Expense:
    return Expense(
        id=f"ex-{n}", worker_id="w-1", project_id="p", project_legal_entity_id="le-de",
        category="Travel", expense_date=day, amount=Money.of("80", "EUR"), billable=True,
        status=ExpenseStatus.APPROVED,
    )  # fmt: skip


@dataclass
class World:
    erp: RestErp
    http: httpx.AsyncClient
    company: str
    customer: str
    employee: str

    async def project(self, key: str) -> str:
        made = await self.erp.create_project(
            project(key), company=self.company, customer=self.customer, service=None, key=key
        )
        return made.external_id

    def time(self, project_id: str, n: int, day: date) -> TimePosting:
        return TimePosting(time_on(project_id, n, day), self.employee, project_id, f"te-{n}")

    def expense(self, project_id: str, n: int, day: date) -> ExpensePosting:
        return ExpensePosting(expense_on(n, day), self.employee, project_id, f"ex-{n}")

    async def record(self, project_id: str) -> dict[str, Any]:
        answer = await self.http.get(f"/v1/projects/{project_id}")
        assert answer.status_code == 200, answer.text
        record: dict[str, Any] = answer.json()
        return record


@pytest.fixture
async def world(sandbox: Sandbox) -> AsyncIterator[World]:
    erp = RestErp(HttpTarget(sandbox.urls["erp"], downstream="erp:sb", retry=FAST), instance="eu")
    async with httpx.AsyncClient(base_url=sandbox.urls["erp"]) as http:
        company = (await erp.ensure_legal_entity(_entity("le-de", "DE"), key="le-de")).external_id
        made = await erp.upsert_customer(customer("cu-1", None), company=company, key="cu-1")
        worker = Worker(
            id="w-1", worker_number="W1", legal_entity_id="le-de",
            employment_type=EmploymentType.EMPLOYEE, status=WorkerStatus.ACTIVE,
            hire_date=date(2020, 1, 1), work_country="DE", home_currency="EUR",
        )  # fmt: skip
        rates = [CostRate(hourly_cost=Money.of("60", "EUR"), effective_from=date(2020, 1, 1))]
        employee = await erp.upsert_employee(worker, rates, company=company, key="w-1")
        yield World(erp, http, company, made.external_id, employee.external_id)
    await erp.aclose()


@pytest.fixture
async def psa(sandbox: Sandbox) -> AsyncIterator[RestPsa]:
    adapter = RestPsa(
        HttpTarget(sandbox.urls["psa"], downstream="psa:sb", retry=FAST), instance="sb"
    )
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def crm(sandbox: Sandbox) -> AsyncIterator[RestCrm]:
    adapter = RestCrm(
        HttpTarget(sandbox.urls["crm"], downstream="crm:sb", retry=FAST), instance="sb"
    )
    yield adapter
    await adapter.aclose()


async def rejection(call: Any) -> str:
    with pytest.raises(RequestRejected) as refused:
        await call
    return refused.value.reason


async def test_find_customer_by_key_else_by_tax_id_within_the_subsidiary(world: World) -> None:
    erp = world.erp
    other = (await erp.ensure_legal_entity(_entity("le-fr", "FR"), key="le-fr")).external_id
    vat = await erp.upsert_customer(
        customer("cu-vat", "de 136.695.976"), company=world.company, key="cu-vat"
    )
    await erp.upsert_customer(customer("cu-fr", "FR40303265045"), company=other, key="cu-fr")
    stored = (await world.http.get(f"/v1/customers/{vat.external_id}")).json()
    by_key = await erp.find_customer(key="cu-vat", tax_id=None, company=world.company)
    by_tax = await erp.find_customer(key="cu-new", tax_id="DE136695976", company=world.company)
    typed = await erp.find_customer(key=None, tax_id="DE 136-695-976", company=world.company)
    elsewhere = await erp.find_customer(key=None, tax_id="FR40303265045", company=world.company)
    assert stored["vat_id"] == "DE136695976"  # the ERP keeps it compact
    assert by_key is not None
    assert (by_key.object_type, by_key.external_id) == ("customer", vat.external_id)
    assert by_tax == typed == by_key
    assert elsewhere is None  # another subsidiary's customer
    assert await erp.find_customer(key=None, tax_id=None, company=world.company) is None
    # A second customer of the subsidiary with the same number: a duplicate, never a guess.
    await erp.upsert_customer(customer("cu-dup", "DE136695976"), company=world.company, key="d")
    reason = await rejection(
        erp.find_customer(key=None, tax_id="DE136695976", company=world.company)
    )
    assert reason == "ambiguous_tax_id"
    assert await erp.find_customer(key="cu-vat", tax_id="DE136695976", company=world.company)


async def test_a_shell_nothing_was_booked_on_is_cancelled_once_and_takes_nothing(
    world: World,
) -> None:
    erp, shell = world.erp, await world.project("p-shell")
    active = await erp.activate_project(shell, key="p-shell:activate")
    again = await erp.activate_project(shell, key="p-shell:activate")
    opened = await world.record(shell)
    assert (active.external_id, active.created) == (shell, False)
    assert active.code is not None
    assert active.code.startswith("PRJ-")
    assert again.ref == active.ref  # the same version: the repeat changed nothing
    assert (opened["status"], opened["allow_time"], opened["allow_expenses"]) == (
        "in_progress", True, True,
    )  # fmt: skip
    assert (await erp.project_activity(shell)).empty

    first = await erp.cancel_project(shell, reason="opportunity lost", key="p-shell:cancel")
    repeat = await erp.cancel_project(shell, reason="again", key="p-shell:cancel:2")
    cancelled = await world.record(shell)
    assert repeat.ref == first.ref
    assert (first.created, first.code) == (False, active.code)
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancellation"]["reason"] == "opportunity lost"  # the first reason kept
    assert (cancelled["allow_time"], cancelled["allow_expenses"]) == (False, False)
    reasons = [
        await rejection(call)
        for call in (
            erp.post_time([world.time(shell, 1, DAY)]),
            erp.post_expenses([world.expense(shell, 1, DAY)]),
            erp.activate_project(shell, key="p-shell:activate:2"),
            erp.close_project_for_time(shell, closed_from=DAY, key="p-shell:close"),
        )
    ]
    assert reasons == [
        "project_closed_for_time",
        "project_closed_for_expenses",
        "project_cancelled",
        "project_cancelled",
    ]
    assert (await erp.project_activity(shell)).empty
    for call in (
        erp.activate_project("job_404", key="k"),
        erp.cancel_project("job_404", reason="r", key="k"),
        erp.close_project_for_time("job_404", closed_from=DAY, key="k"),
        erp.project_activity("job_404"),
    ):
        with pytest.raises(NotFound):
            await call


async def test_a_project_with_time_is_closed_for_time_from_a_date_and_never_cancelled(
    world: World,
) -> None:
    erp, booked = world.erp, await world.project("p-booked")
    await erp.activate_project(booked, key="p-booked:activate")
    await erp.post_time([world.time(booked, 1, DAY)])
    await erp.post_expenses([world.expense(booked, 1, DAY)])
    assert await erp.project_activity(booked) == ProjectActivity(
        time_lines=1, expense_lines=1, invoiced=False
    )
    assert await rejection(erp.cancel_project(booked, reason="lost", key="c")) == (
        "project_has_activity"
    )
    assert (await world.record(booked))["status"] == "in_progress"

    closed_from = DAY + timedelta(days=1)
    closed = await erp.close_project_for_time(booked, closed_from=closed_from, key="close")
    again = await erp.close_project_for_time(booked, closed_from=DAY, key="close:2")
    record = await world.record(booked)
    assert again.ref == closed.ref
    assert (record["status"], record["closed_from"]) == ("closed", closed_from.isoformat())
    # Work done before the close still posts; anything dated from it on is refused.
    [late] = await erp.post_time([world.time(booked, 2, DAY)])
    [late_expense] = await erp.post_expenses([world.expense(booked, 2, DAY)])
    assert (late.created, late_expense.created) == (True, True)
    reasons = [
        await rejection(call)
        for call in (
            erp.post_time([world.time(booked, 3, closed_from)]),
            erp.post_expenses([world.expense(booked, 3, closed_from + timedelta(days=9))]),
            erp.activate_project(booked, key="p-booked:activate:2"),
        )
    ]
    assert reasons == ["project_closed_for_time", "project_closed_for_expenses", "project_closed"]
    await erp.create_draft_invoice(project=booked, key="inv-1")
    activity = await erp.project_activity(booked)
    assert (activity.time_lines, activity.expense_lines, activity.invoiced) == (2, 2, True)


async def test_a_cancel_racing_a_posting_never_lets_both_through(world: World) -> None:
    projects = [await world.project(f"p-race-{n}") for n in range(8)]

    async def outcome(call: Any) -> bool:
        try:
            await call
        except RequestRejected:
            return False
        return True

    results = await asyncio.gather(
        *(
            asyncio.gather(
                outcome(world.erp.cancel_project(p, reason="lost", key=f"{p}:cancel")),
                outcome(world.erp.post_time([world.time(p, n, DAY)])),
            )
            for n, p in enumerate(projects)
        )
    )
    # Exactly one of the two wins on each project, whichever came first.
    assert all(cancelled != posted for cancelled, posted in results), results
    for p, (cancelled, _) in zip(projects, results, strict=True):
        activity = await world.erp.project_activity(p)
        assert activity.time_lines == (0 if cancelled else 1)


async def test_psa_cancels_an_unbooked_project_and_closes_a_booked_one(
    sandbox: Sandbox, psa: RestPsa
) -> None:
    booked = (await psa.create_project(project("p-1"), key="p-1")).external_id
    empty = (await psa.create_project(project("p-2"), key="p-2")).external_id
    await psa.activate_project(booked, key="p-1:activate")
    again = await psa.activate_project(booked, key="p-1:activate")
    async with httpx.AsyncClient(base_url=sandbox.urls["psa"]) as client:
        resource = (await client.post("/v1/resources", json={"name": "Ada"})).json()
        entry = await client.post(
            "/v1/time-entries",
            json={"resource_id": resource["id"], "project_id": booked, "date": str(DAY),
                  "minutes": 90},
        )  # fmt: skip
        assert entry.status_code == 201, entry.text
        activity = await psa.project_activity(booked)
        refused = await rejection(psa.cancel_project(booked, key="p-1:cancel"))
        closed = await psa.close_project(booked, key="p-1:close")
        closed_again = await psa.close_project(booked, key="p-1:close")
        cancelled = await psa.cancel_project(empty, key="p-2:cancel")
        cancelled_again = await psa.cancel_project(empty, key="p-2:cancel")
        after = await client.post(
            "/v1/time-entries",
            json={"resource_id": resource["id"], "project_id": empty, "date": str(DAY),
                  "minutes": 30},
        )  # fmt: skip
        records = {p: (await client.get(f"/v1/projects/{p}")).json() for p in (booked, empty)}
    assert again.external_id == booked
    assert activity == PsaProjectActivity(time_entries=1, approved_time_entries=0, expenses=0)
    assert refused == "project_has_activity"
    assert closed_again.ref == closed.ref  # nothing written the second time
    assert cancelled_again.ref == cancelled.ref
    assert after.status_code == 409
    assert after.json()["code"] == "PROJECT_CLOSED_FOR_TIME"
    assert [(r["status"], r["open_for_time"]) for r in records.values()] == [
        ("completed", False),
        ("cancelled", False),
    ]
    reasons = [
        await rejection(call)
        for call in (
            psa.activate_project(empty, key="p-2:activate"),
            psa.close_project(empty, key="p-2:close"),
            psa.activate_project(booked, key="p-1:activate:2"),
        )
    ]
    assert reasons == ["project_cancelled", "project_cancelled", "project_closed"]
    with pytest.raises(NotFound):
        await psa.project_activity("prj_404")


async def test_crm_account_tax_id_is_read_fixed_and_its_erp_customer_written_back(
    sandbox: Sandbox, crm: RestCrm
) -> None:
    async with httpx.AsyncClient(base_url=sandbox.urls["crm"]) as client:
        made = await client.post(
            "/v1/accounts",
            json={"name": "Globex AG", "country": "DE", "currency": "EUR", "tax_id": "DE123"},
        )
        assert made.status_code == 201, made.text
        account = made.json()["id"]
        wrong = await crm.account(account)
        fixed = await client.patch(f"/v1/accounts/{account}", json={"tax_id": "DE136695976"})
        assert fixed.status_code == 200, fixed.text
        right = await crm.read_account(fixed.json())
        linked = await crm.link_customer(account, erp_customer_id="cus_1", key="link-1")
        again = await crm.link_customer(account, erp_customer_id="cus_1", key="link-1")
        reason = await rejection(crm.link_customer(account, erp_customer_id="cus_2", key="l-2"))
        now = await crm.account(account)
    assert (wrong.tax_id, right.tax_id) == ("DE123", "DE136695976")
    assert (linked.ref.object_type, linked.external_id, linked.created) == (
        "account", account, False,
    )  # fmt: skip
    assert again.ref == linked.ref  # the same version: nothing written again
    assert reason == "account_linked"
    assert (now.erp_customer_id, now.version) == ("cus_1", right.version + 1)
    with pytest.raises(NotFound):
        await crm.link_customer("acc_404", erp_customer_id="cus_1", key="link-3")


async def test_a_psa_cancel_racing_a_first_time_entry_never_lets_both_through(
    sandbox: Sandbox, psa: RestPsa
) -> None:
    projects = [(await psa.create_project(project(f"r-{n}"), key=f"r-{n}")).external_id
                for n in range(8)]  # fmt: skip
    for p in projects:
        await psa.activate_project(p, key=f"{p}:activate")
    async with httpx.AsyncClient(base_url=sandbox.urls["psa"]) as client:
        resource = (await client.post("/v1/resources", json={"name": "Ada"})).json()["id"]

        async def cancelled(p: str) -> bool:
            try:
                await psa.cancel_project(p, key=f"{p}:cancel")
            except RequestRejected:
                return False
            return True

        async def entered(p: str) -> bool:
            body = {"resource_id": resource, "project_id": p, "date": str(DAY), "minutes": 60}
            answer = await client.post("/v1/time-entries", json=body)
            assert answer.status_code in (201, 409), answer.text
            return answer.status_code == 201

        results = await asyncio.gather(
            *(asyncio.gather(cancelled(p), entered(p)) for p in projects)
        )
    assert all(won_cancel != won_entry for won_cancel, won_entry in results), results
