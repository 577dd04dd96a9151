"""The HTTP ERP's expense-line reversal and lookup by external id, over HTTP and through RestErp."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tandem_connectors import NotFound, PeriodClosed, RequestRejected
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.ports import ErpObject, ExpensePosting, ExpenseReversal
from tandem_connectors.rest import RestErp
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
    Role,
    TaxProfile,
    Worker,
    WorkerStatus,
    WorkItem,
    WorkItemType,
)
from tandem_sandbox import Sandbox

THIS_YEAR = date.today().year
DAY = date(THIS_YEAR, 3, 10)
DE = LegalEntity(
    id="le-de",
    name="Acme Consulting GmbH",
    country="DE",
    functional_currency="EUR",
    data_residency_region="eu",
)


@pytest.fixture
async def erp(sandbox: Sandbox) -> AsyncIterator[RestErp]:
    retry = RetryPolicy(attempts=3, first_wait=0.05, max_wait=2.0)
    adapter = RestErp(
        HttpTarget(sandbox.urls["erp"], downstream="erp:sandbox", retry=retry), instance="eu"
    )
    yield adapter
    await adapter.aclose()


async def test_an_expense_line_is_reversed_once_by_a_linked_negative_line(
    sandbox: Sandbox,
) -> None:
    erp = sandbox.urls["erp"]
    async with httpx.AsyncClient(base_url=erp) as client:
        world = await _world(client)
        march = await _period(client, world["subsidiary"], 3, "open")
        await _period(client, world["subsidiary"], 4, "closed")
        [line, other] = [
            (await client.post("/v1/expense-lines", json=_line(world, key, amount))).json()
            for key, amount in (("ex-1", "84.20"), ("ex-2", "19.99"))
        ]
        first = await _reverse(client, line["id"], "r-1")
        again = await _reverse(client, line["id"], "r-1")
        original = (await client.get(f"/v1/expense-lines/{line['id']}")).json()
        # Reversed again under another key, and the reversal itself: both refused.
        refused = [
            await _reverse(client, line["id"], "r-x"),
            await _reverse(client, first.json()["id"], "r-y"),
        ]
        in_closed = await _reverse(client, other["id"], "r-2", date=f"{THIS_YEAR}-04-02")
        unknown = await _reverse(client, "exl_nope", "r-3")
        # A project closed to new expenses still takes the reversal of one it took before.
        await client.patch(f"/v1/projects/{world['project']}", json={"allow_expenses": False})
        late = await _reverse(client, other["id"], "r-2")
        lines = (await client.get("/v1/expense-lines")).json()["items"]
    reversal = first.json()
    assert march["status"] == "open"
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == reversal["id"]
    assert reversal["amount"] == "-84.20"
    assert (reversal["reverses"], reversal["reversed_by"]) == (line["id"], None)
    assert (reversal["date"], reversal["invoice_id"]) == (line["date"], None)
    assert reversal["external_id"] == "r-1"
    assert original["reversed_by"] == reversal["id"]
    assert original["amount"] == "84.20"  # never edited in place
    assert [r.status_code for r in refused] == [409, 409]
    assert {r.json()["code"] for r in refused} == {"ALREADY_REVERSED"}
    assert (in_closed.status_code, in_closed.json()["code"]) == (409, "PERIOD_CLOSED")
    assert unknown.status_code == 404
    assert late.status_code == 201
    assert late.json()["amount"] == "-19.99"
    assert sorted(item["external_id"] for item in lines) == ["ex-1", "ex-2", "r-1", "r-2"]


async def test_a_collection_answers_the_record_holding_an_external_id(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.urls["erp"]) as client:
        world = await _world(client)
        found = await client.get("/v1/projects", params={"external_id": "prj-1"})
        filtered = await client.get(
            "/v1/projects", params={"external_id": "prj-1", "status": "pending"}
        )
        mismatched = await client.get(
            "/v1/projects", params={"external_id": "prj-1", "status": "closed"}
        )
        unknown = await client.get("/v1/projects", params={"external_id": "prj-9"})
        other_collection = await client.get("/v1/customers", params={"external_id": "prj-1"})
    assert [item["id"] for item in found.json()["items"]] == [world["project"]]
    assert found.json()["next_page_token"] is None
    assert [item["id"] for item in filtered.json()["items"]] == [world["project"]]
    assert mismatched.json()["items"] == []
    assert unknown.json() == {"items": [], "next_page_token": None}
    assert other_collection.json()["items"] == []


async def test_rest_erp_finds_each_kind_by_the_key_its_write_used(erp: RestErp) -> None:
    ids = await _rest_world(erp)
    found = {kind: await erp.find(kind, key) for kind, key in _KEYS.items()}
    missing = [await erp.find(kind, "nobody") for kind in _KEYS]
    crossed = [await erp.find(ErpObject.CUSTOMER, "w-1"), await erp.find(ErpObject.TASK, "p-1")]
    with pytest.raises(RequestRejected) as unsupported:
        await erp.find(ErpObject.EXPENSE_LINE, "x:1")
    assert {kind: ref.external_id if ref else None for kind, ref in found.items()} == ids
    assert all(ref and ref.object_type == kind.value for kind, ref in found.items())
    assert all(ref and ref.instance == "eu" for ref in found.values())
    assert missing == [None] * len(_KEYS)
    assert crossed == [None, None]
    assert unsupported.value.reason == "unsupported"


async def test_rest_erp_reverses_a_posted_expense_once(erp: RestErp) -> None:
    ids = await _rest_world(erp)
    expense = _expense("84.20")
    posting = ExpensePosting(expense, ids[ErpObject.EMPLOYEE], ids[ErpObject.PROJECT], "x:1")
    [posted] = await erp.post_expenses([posting])
    reversal = ExpenseReversal(posted.external_id, expense, "x:1:reversal")
    first = await erp.reverse_expense(reversal)
    again = await erp.reverse_expense(reversal)
    with pytest.raises(RequestRejected) as twice:
        await erp.reverse_expense(ExpenseReversal(posted.external_id, expense, "x:1:again"))
    with pytest.raises(RequestRejected) as undo:
        await erp.reverse_expense(ExpenseReversal(first.external_id, expense, "x:1:undo"))
    with pytest.raises(NotFound):
        await erp.reverse_expense(ExpenseReversal("exl_nope", expense, "x:9:reversal"))
    changes = await erp.change_source(ErpObject.EXPENSE_LINE).changes(None, _later(), 100)
    assert first.created
    assert first.ref.object_type == ErpObject.EXPENSE_LINE
    assert (again.external_id, again.created) == (first.external_id, False)
    assert (twice.value.reason, undo.value.reason) == ("already_reversed", "already_reversed")
    amounts = {change.data["external_id"]: change.data["amount"] for change in changes}
    assert amounts == {"x:1": "84.20", "x:1:reversal": "-84.20"}


async def test_rest_erp_reversal_in_a_closed_period_is_period_closed(erp: RestErp) -> None:
    ids = await _rest_world(erp)
    expense = _expense("12.00")
    posting = ExpensePosting(expense, ids[ErpObject.EMPLOYEE], ids[ErpObject.PROJECT], "x:2")
    [posted] = await erp.post_expenses([posting])
    [march] = await erp.list_periods(
        company=ids[ErpObject.COMPANY], legal_entity_id="le-de", start=DAY, end=DAY
    )
    await erp.close_period(march.refs[0].external_id)
    with pytest.raises(PeriodClosed):
        await erp.reverse_expense(ExpenseReversal(posted.external_id, expense, "x:2:reversal"))


_KEYS = {
    ErpObject.COMPANY: "le-de",
    ErpObject.CUSTOMER: "c-1",
    ErpObject.SERVICE: "r-senior",
    ErpObject.EMPLOYEE: "w-1",
    ErpObject.PROJECT: "p-1",
    ErpObject.TASK: "wi-1",
}


async def _rest_world(erp: RestErp) -> dict[ErpObject, str]:
    """Write one record of each findable kind under the keys of ``_KEYS``; answer their ids."""
    company = (await erp.ensure_legal_entity(DE, key="le-de")).external_id
    tax = TaxProfile(country="DE", vat_id="DE123456789")
    customer = Customer(
        id="c-1", name="Globex AG", legal_entity_id="le-de", country="DE", currency="EUR",
        tax_profile=tax,
    )  # fmt: skip
    party = (await erp.upsert_customer(customer, company=company, key="c-1")).external_id
    role = Role(id="r-senior", name="Senior Consultant")
    service = (await erp.upsert_service(role, Money.of("120", "EUR"), key="r-senior")).external_id
    worker = Worker(
        id="w-1", worker_number="W0001", legal_entity_id="le-de",
        employment_type=EmploymentType.EMPLOYEE, status=WorkerStatus.ACTIVE,
        hire_date=date(2020, 1, 1), work_country="DE", home_currency="EUR",
    )  # fmt: skip
    cost = CostRate(hourly_cost=Money.of("60", "EUR"), effective_from=date(2020, 1, 1))
    employee = await erp.upsert_employee(worker, [cost], company=company, key="w-1")
    project = Project(
        id="p-1", name="Data platform", customer_id="c-1", legal_entity_id="le-de",
        currency="EUR", billing_model=BillingModel.TIME_AND_MATERIALS,
        status=ProjectStatus.ACTIVE,
    )  # fmt: skip
    shell = await erp.create_project(
        project, company=company, customer=party, service=service, key="p-1"
    )
    item = WorkItem(id="wi-1", project_id="p-1", type=WorkItemType.TASK, name="Discovery")
    task = await erp.create_task(item, project=shell.external_id, key="wi-1")
    return {
        ErpObject.COMPANY: company,
        ErpObject.CUSTOMER: party,
        ErpObject.SERVICE: service,
        ErpObject.EMPLOYEE: employee.external_id,
        ErpObject.PROJECT: shell.external_id,
        ErpObject.TASK: task.external_id,
    }


def _expense(amount: str) -> Expense:
    return Expense(
        id="x-1", worker_id="w-1", project_id="p-1", project_legal_entity_id="le-de",
        category="travel", expense_date=DAY, amount=Money.of(amount, "EUR"), billable=True,
        status=ExpenseStatus.APPROVED,
    )  # fmt: skip


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


async def _world(client: httpx.AsyncClient) -> dict[str, str]:
    sub = await client.post(
        "/v1/subsidiaries",
        json={"external_id": "le-de", "name": "Acme GmbH", "country": "DE", "currency": "EUR"},
    )
    customer = await client.post(
        "/v1/customers",
        json={
            "external_id": "cus-1", "name": "Globex", "subsidiary_id": sub.json()["id"],
            "currency": "EUR", "country": "DE",
        },
    )  # fmt: skip
    employee = await client.post(
        "/v1/employees",
        json={"external_id": "wrk-1", "name": "Ada", "subsidiary_id": sub.json()["id"]},
    )
    project = await client.post(
        "/v1/projects",
        json={
            "external_id": "prj-1", "name": "Migration", "customer_id": customer.json()["id"],
            "currency": "EUR",
        },
    )  # fmt: skip
    assert project.status_code == 201, project.text
    return {
        "subsidiary": sub.json()["id"],
        "employee": employee.json()["id"],
        "project": project.json()["id"],
    }


async def _period(
    client: httpx.AsyncClient, subsidiary: str, month: int, status: str
) -> dict[str, Any]:
    end = 30 if month == 4 else 31
    answer = await client.post(
        "/v1/accounting-periods",
        json={
            "subsidiary_id": subsidiary, "name": f"{THIS_YEAR}-{month:02d}", "status": status,
            "start_date": f"{THIS_YEAR}-{month:02d}-01",
            "end_date": f"{THIS_YEAR}-{month:02d}-{end}",
        },
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _reverse(client: httpx.AsyncClient, line: str, key: str, **body: str) -> httpx.Response:
    return await client.post(
        f"/v1/expense-lines/{line}/reversal", json={"external_id": key, **body}
    )


def _line(world: dict[str, str], key: str, amount: str) -> dict[str, Any]:
    return {
        "external_id": key,
        "employee_id": world["employee"],
        "project_id": world["project"],
        "date": DAY.isoformat(),
        "category": "travel",
        "amount": amount,
        "currency": "EUR",
    }
