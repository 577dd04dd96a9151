"""The sandbox PSA's change orders (draft → submitted → approved | rejected, final once
approved, in the project's currency) and milestone fees, and RestPsa reading what the PSA sends
of projects, tasks and change orders (its feeds included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from tandem_connectors.http import HttpTarget
from tandem_connectors.rest import RestPsa
from tandem_contracts import Money
from tandem_sandbox import Sandbox


async def test_a_change_order_is_approved_once_and_then_final(sandbox: Sandbox) -> None:
    psa = sandbox.urls["psa"]
    async with httpx.AsyncClient(base_url=psa) as client:
        project = (
            await client.post("/v1/projects", json={"name": "Roll-out", "currency": "EUR"})
        ).json()
        body = {"project_id": project["id"], "budget_amount": "150000.00", "cap": "160000.00",
                "effective_from": "2026-12-01", "description": "Phase 2"}  # fmt: skip
        made = await client.post("/v1/change-orders", json=body)
        order = made.json()
        wrong = await client.post("/v1/change-orders", json={**body, "currency": "USD"})
        early = await client.post(f"/v1/change-orders/{order['id']}/approve", json={})
        edited = await client.patch(f"/v1/change-orders/{order['id']}", json={"cap": "170000.00"})
        submitted = await client.post(f"/v1/change-orders/{order['id']}/submit")
        approved = await client.post(f"/v1/change-orders/{order['id']}/approve", json={})
        rejected = await client.post(f"/v1/change-orders/{order['id']}/reject", json={})
        locked = await client.patch(f"/v1/change-orders/{order['id']}", json={"cap": "1.00"})
        listed = await client.get("/v1/change-orders", params={"status": "approved"})
        events = (await client.get("/v1/events", params={"limit": 200})).json()["events"]

    assert made.status_code == 201
    assert order["status"] == "draft"
    assert order["currency"] == "EUR"  # the project's
    assert wrong.json()["code"] == "CURRENCY_MISMATCH"
    assert early.json()["code"] == "INVALID_TRANSITION"
    assert edited.json()["cap"] == "170000.00"
    assert submitted.json()["status"] == "submitted"
    assert approved.json()["status"] == "approved"
    assert rejected.json()["code"] == "INVALID_TRANSITION"  # approval is final
    assert locked.json()["code"] == "CHANGE_ORDER_LOCKED"
    assert [item["id"] for item in listed.json()["items"]] == [order["id"]]
    types = [event["type"] for event in events]
    assert types.count("change_order.approved") == 1
    assert types.count("change_order.created") == 1


async def test_rest_psa_reads_projects_tasks_and_change_orders(sandbox: Sandbox) -> None:
    psa_url = sandbox.urls["psa"]
    port = RestPsa(HttpTarget(psa_url, downstream="psa:test"), instance="psa")
    today = datetime.now(UTC).date()
    try:
        async with httpx.AsyncClient(base_url=psa_url) as client:
            project = (
                await client.post(
                    "/v1/projects",
                    json={
                        "name": "Audit",
                        "currency": "GBP",
                        "code": "P-7",
                        "end_date": str(today),
                    },
                )
            ).json()
            closed = {"status": "completed", "open_for_time": False}
            project = (await client.patch(f"/v1/projects/{project['id']}", json=closed)).json()
            task = {"project_id": project["id"], "type": "milestone", "name": "Sign-off",
                    "billing_amount": "9000.00", "due_date": str(today)}  # fmt: skip
            task = (await client.post("/v1/tasks", json=task)).json()
            order = {"project_id": project["id"], "budget_minutes": 6000,
                     "total_value": "50000.00", "effective_from": str(today)}  # fmt: skip
            order = (await client.post("/v1/change-orders", json=order)).json()

        read_project = await port.read_project(project)
        read_task = await port.read_task(task)
        read_order = await port.read_change_order(order)
        since = datetime.now(UTC) + timedelta(seconds=5)
        fed = await port.change_source("change-orders").changes(None, since, 10)
    finally:
        await port.aclose()

    assert read_project.status == "completed"
    assert read_project.open_for_time is False
    assert read_project.end_date == today
    assert read_project.code == "P-7"
    assert read_task.type == "milestone"
    assert read_task.billing_amount == Money(amount=Decimal("9000.00"), currency="GBP")
    assert read_task.due_date == today
    assert read_order.budget_minutes == 6000
    assert read_order.total_value == Money(amount=Decimal("50000.00"), currency="GBP")
    assert read_order.budget_amount is None
    assert read_order.effective_from == today
    assert read_order.status == "draft"
    assert [change.record_key for change in fed] == [order["id"]]
