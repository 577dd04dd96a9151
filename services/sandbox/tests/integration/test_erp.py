import asyncio
from typing import Any

import httpx

from tandem_sandbox import Sandbox
from tandem_sandbox._collections import create_record
from tandem_sandbox._erp import CUSTOMERS


async def _world(client: httpx.AsyncClient, erp: str) -> dict[str, str]:
    sub = await client.post(
        f"{erp}/v1/subsidiaries",
        json={"external_id": "le-de", "name": "Acme GmbH", "country": "DE", "currency": "EUR"},
    )
    customer = await client.post(
        f"{erp}/v1/customers",
        json={
            "external_id": "cus-1",
            "name": "Globex",
            "subsidiary_id": sub.json()["id"],
            "currency": "EUR",
            "country": "DE",
        },
    )
    employee = await client.post(
        f"{erp}/v1/employees",
        json={"external_id": "wrk-1", "name": "Ada", "subsidiary_id": sub.json()["id"]},
    )
    project = await client.post(
        f"{erp}/v1/projects",
        json={
            "external_id": "prj-1",
            "name": "Migration",
            "customer_id": customer.json()["id"],
            "currency": "EUR",
        },
    )
    assert project.status_code == 201, project.text
    return {
        "subsidiary": sub.json()["id"],
        "employee": employee.json()["id"],
        "project": project.json()["id"],
        "code": project.json()["code"],
    }


def _bill(world: dict[str, str], key: str, day: str, minutes: int = 90) -> dict[str, Any]:
    return {
        "external_id": key,
        "employee_id": world["employee"],
        "project_id": world["project"],
        "date": day,
        "minutes": minutes,
        "rate": "120.00",
        "currency": "EUR",
    }


async def test_upsert_by_external_id_keeps_one_record_and_answers_the_same_id(
    sandbox: Sandbox,
) -> None:
    erp = sandbox.urls["erp"]
    async with httpx.AsyncClient() as client:
        world = await _world(client, erp)
        again = await client.post(
            f"{erp}/v1/projects",
            json={
                "external_id": "prj-1",
                "name": "Migration",
                "customer_id": (await client.get(f"{erp}/v1/customers")).json()["items"][0]["id"],
                "currency": "EUR",
            },
        )
        first = await client.post(f"{erp}/v1/time-bills", json=_bill(world, "tb-1", "2026-03-02"))
        second = await client.post(f"{erp}/v1/time-bills", json=_bill(world, "tb-1", "2026-03-02"))
        bills = (await client.get(f"{erp}/v1/time-bills")).json()["items"]
    assert world["code"] == "PRJ-00001"
    assert again.status_code == 200
    assert again.json()["id"] == world["project"]
    assert again.json()["code"] == world["code"]
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert [bill["id"] for bill in bills] == [first.json()["id"]]
    assert first.json()["amount"] == "180.00"


async def test_a_second_writer_of_a_new_external_id_waits_for_the_first_and_finds_its_record(
    sandbox: Sandbox,
) -> None:
    # Two workers making the same customer at once (a redelivery racing its original): the
    # second's lookup waits until the first commits, then finds its record. Without that both
    # find nothing, both insert, and one gets a unique violation: a 500 to a caller.
    erp = sandbox.urls["erp"]
    async with httpx.AsyncClient(timeout=30) as client:
        world = await _world(client, erp)
    body = {"name": "Initech", "subsidiary_id": world["subsidiary"], "currency": "EUR",
            "country": "DE", "terms_days": 30}  # fmt: skip

    async def upsert() -> tuple[str, bool]:
        async with sandbox.store.tx("erp") as tx:
            record, created = await create_record(
                tx, CUSTOMERS, {"external_id": "cus-race", **body}
            )
        return record.id, created

    async with sandbox.store.tx("erp") as first:
        assert await first.by_external_id(CUSTOMERS.path, "cus-race") is None
        second = asyncio.create_task(upsert())
        done, _ = await asyncio.wait({second}, timeout=1.0)
        assert not done, "the second writer went ahead while the first held the external id"
        made, created = await create_record(first, CUSTOMERS, {"external_id": "cus-race", **body})
        assert created
    assert await asyncio.wait_for(second, timeout=10) == (made.id, False)
    async with sandbox.store.tx("erp") as tx:
        assert (await tx.by_external_id(CUSTOMERS.path, "cus-race")).id == made.id  # type: ignore[union-attr]


async def test_a_posting_in_a_closed_period_is_refused_with_its_code(sandbox: Sandbox) -> None:
    erp = sandbox.urls["erp"]
    async with httpx.AsyncClient() as client:
        world = await _world(client, erp)
        period = await client.post(
            f"{erp}/v1/accounting-periods",
            json={
                "subsidiary_id": world["subsidiary"],
                "name": "2026-02",
                "start_date": "2026-02-01",
                "end_date": "2026-02-28",
            },
        )
        closed = await client.post(f"{erp}/v1/accounting-periods/{period.json()['id']}/close")
        refused = await client.post(f"{erp}/v1/time-bills", json=_bill(world, "tb-2", "2026-02-10"))
        accepted = await client.post(
            f"{erp}/v1/time-bills", json=_bill(world, "tb-3", "2026-03-10")
        )
        bulk = await client.post(
            f"{erp}/v1/time-bills/bulk",
            json={
                "items": [_bill(world, "tb-4", "2026-02-11"), _bill(world, "tb-5", "2026-03-11")]
            },
        )
        too_many = await client.post(
            f"{erp}/v1/time-bills/bulk",
            json={"items": [_bill(world, f"k{n}", "2026-03-11") for n in range(301)]},
        )
    assert closed.json()["status"] == "closed"
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "PERIOD_CLOSED"
    assert accepted.status_code == 201
    results = bulk.json()["results"]
    assert [r["status"] for r in results] == ["error", "created"]
    assert results[0]["error"]["code"] == "PERIOD_CLOSED"
    assert too_many.status_code == 413
    assert too_many.json()["code"] == "BULK_LIMIT_EXCEEDED"


async def test_a_bulk_answers_each_item_and_keeps_only_what_it_created(sandbox: Sandbox) -> None:
    erp = sandbox.urls["erp"]
    async with httpx.AsyncClient() as client:
        world = await _world(client, erp)
        period = await client.post(
            f"{erp}/v1/accounting-periods",
            json={"subsidiary_id": world["subsidiary"], "name": "2026-02",
                  "start_date": "2026-02-01", "end_date": "2026-02-28"},
        )  # fmt: skip
        await client.post(f"{erp}/v1/accounting-periods/{period.json()['id']}/close")
        earlier = await client.post(f"{erp}/v1/time-bills", json=_bill(world, "b-0", "2026-03-02"))
        items = [
            _bill(world, "b-0", "2026-03-02"),  # created by an earlier request
            _bill(world, "b-1", "2026-03-03"),
            _bill(world, "b-1", "2026-03-03"),  # the same item twice in one request
            {**_bill(world, "b-2", "2026-03-04"), "minutes": 0},  # invalid
            _bill(world, "b-3", "2026-02-10"),  # in the closed period
            {**_bill(world, "b-4", "2026-03-05"), "employee_id": "emp_nobody"},
            _bill(world, "b-5", "2026-03-06", minutes=30),
        ]
        first = (await client.post(f"{erp}/v1/time-bills/bulk", json={"items": items})).json()
        again = (await client.post(f"{erp}/v1/time-bills/bulk", json={"items": items})).json()
        bills = (await client.get(f"{erp}/v1/time-bills", params={"limit": 50})).json()["items"]
    statuses = [r["status"] for r in first["results"]]
    assert statuses == ["existing", "created", "existing", "error", "error", "error", "created"]
    assert [r["index"] for r in first["results"]] == list(range(len(items)))
    errors = [r["error"]["code"] for r in first["results"] if r["status"] == "error"]
    assert errors == ["VALIDATION_ERROR", "PERIOD_CLOSED", "INVALID_REFERENCE"]
    records = [r.get("record", {}).get("id") for r in first["results"]]
    assert records[0] == earlier.json()["id"]
    assert records[1] == records[2]
    assert first["results"][6]["record"]["amount"] == "60.00"
    assert [r["status"] for r in again["results"]] == [
        "existing", "existing", "existing", "error", "error", "error", "existing"
    ]  # fmt: skip
    assert sorted(b["external_id"] for b in bills) == ["b-0", "b-1", "b-5"]


async def test_invoice_drafted_from_unbilled_time_and_posted_with_a_number(
    sandbox: Sandbox,
) -> None:
    erp = sandbox.urls["erp"]
    async with httpx.AsyncClient() as client:
        world = await _world(client, erp)
        for n in range(3):
            await client.post(f"{erp}/v1/time-bills", json=_bill(world, f"tb-{n}", "2026-03-02"))
        draft = await client.post(
            f"{erp}/v1/invoices/drafts", json={"project_id": world["project"]}
        )
        nothing = await client.post(
            f"{erp}/v1/invoices/drafts", json={"project_id": world["project"]}
        )
        posted = await client.post(
            f"{erp}/v1/invoices/{draft.json()['id']}/post", json={"invoice_date": "2026-03-31"}
        )
        twice = await client.post(
            f"{erp}/v1/invoices/{draft.json()['id']}/post", json={"invoice_date": "2026-03-31"}
        )
        invalid = await client.post(f"{erp}/v1/time-bills", json={"minutes": "lots"})
    assert draft.status_code == 201
    assert draft.json()["total"] == "540.00"
    assert len(draft.json()["lines"]) == 3
    assert nothing.json()["code"] == "NOTHING_TO_INVOICE"
    assert posted.json()["status"] == "posted"
    assert posted.json()["number"] == "INV-000001"
    assert twice.json()["code"] == "INVALID_TRANSITION"
    assert invalid.status_code == 422
    assert {e["field"] for e in invalid.json()["errors"]} >= {"minutes", "project_id"}
