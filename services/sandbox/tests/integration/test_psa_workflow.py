import httpx

from tandem_sandbox import Sandbox


async def test_timesheet_approve_reject_after_approval_resubmit_and_adjust(
    sandbox: Sandbox,
) -> None:
    psa = sandbox.urls["psa"]
    async with httpx.AsyncClient() as client:
        project = (
            await client.post(f"{psa}/v1/projects", json={"name": "Migration", "currency": "EUR"})
        ).json()
        resource = (await client.post(f"{psa}/v1/resources", json={"name": "Ada"})).json()
        entry = {"resource_id": resource["id"], "project_id": project["id"], "minutes": 240}
        closed = await client.post(f"{psa}/v1/time-entries", json={**entry, "date": "2026-03-02"})
        await client.patch(f"{psa}/v1/projects/{project['id']}", json={"open_for_time": True})
        monday = await client.post(f"{psa}/v1/time-entries", json={**entry, "date": "2026-03-02"})
        tuesday = await client.post(f"{psa}/v1/time-entries", json={**entry, "date": "2026-03-03"})
        sheet = await client.post(
            f"{psa}/v1/timesheets",
            json={
                "resource_id": resource["id"],
                "period_start": "2026-03-02",
                "period_end": "2026-03-08",
            },
        )
        base = f"{psa}/v1/timesheets/{sheet.json()['id']}"
        early = await client.post(f"{base}/approve", json={})
        submitted = await client.post(f"{base}/submit")
        approved = await client.post(f"{base}/approve", json={"approver": "pm-1"})
        locked = await client.patch(
            f"{psa}/v1/time-entries/{monday.json()['id']}", json={"minutes": 60}
        )
        rejected = await client.post(f"{base}/reject", json={"comment": "wrong project"})
        resubmitted = await client.post(f"{base}/submit")
        reapproved = await client.post(f"{base}/approve", json={})
        adjusted = await client.post(
            f"{psa}/v1/time-entries/{tuesday.json()['id']}/adjustments",
            json={"minutes": 180, "reason": "typo"},
        )
        events = (await client.get(f"{psa}/v1/events", params={"limit": 200})).json()["events"]
    assert closed.json()["code"] == "PROJECT_CLOSED_FOR_TIME"
    assert early.json()["code"] == "INVALID_TRANSITION"
    assert submitted.json()["status"] == "submitted"
    assert sorted(submitted.json()["entry_ids"]) == sorted(
        [monday.json()["id"], tuesday.json()["id"]]
    )
    assert approved.json()["status"] == "approved"
    assert locked.json()["code"] == "ENTRY_LOCKED"
    assert rejected.json()["status"] == "rejected"
    assert resubmitted.json()["status"] == "submitted"
    assert reapproved.json()["status"] == "approved"
    assert [step["decision"] for step in reapproved.json()["approvals"]] == [
        "submitted",
        "approved",
        "rejected",
        "submitted",
        "approved",
    ]
    adjusted_entry = adjusted.json()
    assert adjusted_entry["minutes"] == 180
    assert adjusted_entry["revision"] == 2
    assert adjusted_entry["adjustment"]["previous"]["minutes"] == 240
    assert adjusted_entry["status"] == "approved"
    types = [event["type"] for event in events]
    assert types.count("time_entry.approved") == 4
    assert types.count("time_entry.rejected") == 2
    assert types.count("time_entry.adjusted") == 1


async def test_expense_approval_and_rejection_after_approval(sandbox: Sandbox) -> None:
    psa = sandbox.urls["psa"]
    async with httpx.AsyncClient() as client:
        project = await client.post(
            f"{psa}/v1/projects",
            json={"name": "Audit", "currency": "GBP", "open_for_expenses": True},
        )
        resource = (await client.post(f"{psa}/v1/resources", json={"name": "Bo"})).json()
        expense = await client.post(
            f"{psa}/v1/expenses",
            json={
                "resource_id": resource["id"],
                "project_id": project.json()["id"],
                "date": "2026-03-04",
                "category": "travel",
                "amount": "84.50",
                "currency": "GBP",
            },
        )
        base = f"{psa}/v1/expenses/{expense.json()['id']}"
        statuses = [
            (await client.post(f"{base}/{a}")).json()["status"]
            for a in ("submit", "approve", "reject")
        ]
    assert expense.json()["amount"] == "84.50"
    assert statuses == ["submitted", "approved", "rejected"]
