"""The sandbox ERP's employees: dated costs merged by date on upsert (two writers never lose a
rate), and an end date after which time bills are refused, over HTTP and through the port."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest

from tandem_connectors import RequestRejected
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.ports import TimePosting
from tandem_connectors.rest import RestErp
from tandem_contracts.entities import TimeEntry, TimeEntryStatus
from tandem_sandbox import Sandbox


def cost(amount: str, since: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR", "effective_from": since}


async def _world(client: httpx.AsyncClient) -> dict[str, str]:
    """A subsidiary, an employee with no rate yet and an open project."""
    sub = await client.post(
        "/v1/subsidiaries",
        json={"external_id": "le-de", "name": "Acme GmbH", "country": "DE", "currency": "EUR"},
    )
    customer = await client.post(
        "/v1/customers",
        json={"external_id": "cus-1", "name": "Globex", "subsidiary_id": sub.json()["id"],
              "currency": "EUR", "country": "DE"},
    )  # fmt: skip
    employee = await client.post(
        "/v1/employees",
        json={"external_id": "employee:w-1", "name": "W-1", "subsidiary_id": sub.json()["id"]},
    )
    project = await client.post(
        "/v1/projects",
        json={"external_id": "prj-1", "name": "Migration", "customer_id": customer.json()["id"],
              "currency": "EUR", "status": "in_progress"},
    )  # fmt: skip
    assert employee.status_code == project.status_code == 201, (employee.text, project.text)
    return {
        "subsidiary": sub.json()["id"],
        "employee": employee.json()["id"],
        "project": project.json()["id"],
    }


def _bill(world: dict[str, str], key: str, day: str) -> dict[str, Any]:
    return {
        "external_id": key, "employee_id": world["employee"], "project_id": world["project"],
        "date": day, "minutes": 60, "rate": "100.00", "currency": "EUR",
    }  # fmt: skip


async def test_two_writers_upserting_an_employee_never_lose_a_dated_cost(
    sandbox: Sandbox,
) -> None:
    async with httpx.AsyncClient(base_url=sandbox.urls["erp"]) as client:
        world = await _world(client)

        async def upsert(*rates: dict[str, str]) -> httpx.Response:
            body = {"external_id": "employee:w-1", "name": "W-1",
                    "subsidiary_id": world["subsidiary"], "cost_rates": list(rates)}  # fmt: skip
            return await client.post("/v1/employees", json=body)

        # staffing-sync gives the whole series; time-expense, at onboarding, the one rate it knows.
        series = await upsert(cost("80.00", "2026-01-05"), cost("95.00", "2026-06-15"))
        onboarding = await upsert(cost("80.00", "2026-01-05"))
        # A correction of a held date replaces that rate only; a new date is added in order.
        corrected = await upsert(cost("82.00", "2026-01-05"), cost("90.00", "2026-03-01"))
        unchanged = await upsert()
    assert (series.status_code, onboarding.status_code, corrected.status_code) == (200, 200, 200)
    assert series.json()["id"] == corrected.json()["id"] == world["employee"]
    assert [(c["amount"], c["effective_from"]) for c in onboarding.json()["cost_rates"]] == [
        ("80.00", "2026-01-05"), ("95.00", "2026-06-15"),
    ]  # fmt: skip
    assert [(c["amount"], c["effective_from"]) for c in corrected.json()["cost_rates"]] == [
        ("82.00", "2026-01-05"), ("90.00", "2026-03-01"), ("95.00", "2026-06-15"),
    ]  # fmt: skip
    # An upsert that changes nothing is no new version.
    assert unchanged.json()["version"] == corrected.json()["version"]


async def test_an_ended_employee_takes_no_time_after_the_last_day(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.urls["erp"]) as client:
        world = await _world(client)
        path = f"/v1/employees/{world['employee']}"
        ended = await client.patch(path, json={"end_date": "2026-03-31"})
        on_last_day = await client.post("/v1/time-bills", json=_bill(world, "tb-1", "2026-03-31"))
        after = await client.post("/v1/time-bills", json=_bill(world, "tb-2", "2026-04-01"))
        bulk = await client.post(
            "/v1/time-bills/bulk", json={"items": [_bill(world, "tb-3", "2026-04-02")]}
        )
        # An upsert (a writer that knows nothing of the termination) keeps the end date.
        upsert = await client.post(
            "/v1/employees",
            json={"external_id": "employee:w-1", "name": "W-1 renamed",
                  "subsidiary_id": world["subsidiary"]},
        )  # fmt: skip
        reopened = await client.patch(path, json={"end_date": None})
        later = await client.post("/v1/time-bills", json=_bill(world, "tb-4", "2026-04-01"))
    assert ended.status_code == 200, ended.text
    assert ended.json()["end_date"] == "2026-03-31"
    assert on_last_day.status_code == 201, on_last_day.text
    assert after.status_code == 409
    assert after.json()["code"] == "EMPLOYEE_ENDED"
    [result] = bulk.json()["results"]
    assert (result["status"], result["error"]["code"]) == ("error", "EMPLOYEE_ENDED")
    assert upsert.json()["end_date"] == "2026-03-31"
    assert reopened.json()["end_date"] is None
    assert later.status_code == 201, later.text


async def test_the_port_ends_the_employee_once_and_its_time_after_is_refused(
    sandbox: Sandbox,
) -> None:
    retry = RetryPolicy(attempts=3, first_wait=0.05, max_wait=1.0)
    erp = RestErp(HttpTarget(sandbox.urls["erp"], downstream="erp:t", retry=retry), instance="e")
    try:
        async with httpx.AsyncClient(base_url=sandbox.urls["erp"]) as client:
            world = await _world(client)
        employee, last_day = world["employee"], date(2026, 3, 31)
        ended = await erp.end_employee(employee, last_day=last_day, key="employee:w-1:ends")
        again = await erp.end_employee(employee, last_day=last_day, key="employee:w-1:ends")
        with pytest.raises(RequestRejected) as refused:
            await erp.post_time([_posting(world, date(2026, 4, 1))])
    finally:
        await erp.aclose()
    assert (ended.external_id, ended.created) == (employee, False)
    assert again.ref.external_version == ended.ref.external_version  # no second write
    assert refused.value.reason == "employee_ended"


def _posting(world: dict[str, str], day: date) -> TimePosting:
    entry = TimeEntry(
        id="te-1", worker_id="w-1", worker_legal_entity_id="le-de", project_id="p-1",
        project_legal_entity_id="le-de", work_date=day, duration_minutes=60, billable=True,
        status=TimeEntryStatus.APPROVED,
    )  # fmt: skip
    return TimePosting(entry, employee=world["employee"], work=world["project"], key="te-1")
