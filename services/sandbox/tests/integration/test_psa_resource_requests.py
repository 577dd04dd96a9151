"""The sandbox PSA's resource requests: made open on a live project, changed while open,
cancelled or filled once (then final), bad input refused with its reason; every version in the
change feed and read back through ``RestPsa`` (its ``resource-requests`` feed included)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tandem_connectors.http import HttpTarget
from tandem_connectors.rest import RestPsa
from tandem_sandbox import Sandbox

BODY = {"role": "senior-consultant", "required_skills": ["sk-python"], "minutes": 4800,
        "start_date": "2026-04-06", "end_date": "2026-04-17"}  # fmt: skip


async def _project(client: httpx.AsyncClient, **more: Any) -> str:
    body = {"name": "Rollout", "currency": "EUR", "status": "in_progress"} | more
    made = await client.post("/v1/projects", json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def test_a_request_is_made_open_changed_and_then_cancelled_once(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.urls["psa"]) as client:
        project = await _project(client)
        made = await client.post(
            "/v1/resource-requests", json={**BODY, "project_id": project, "external_id": "rq-1"}
        )
        request = made.json()
        again = await client.post(
            "/v1/resource-requests", json={**BODY, "project_id": project, "external_id": "rq-1"}
        )
        path = f"/v1/resource-requests/{request['id']}"
        longer = await client.patch(path, json={"minutes": 9600, "end_date": "2026-04-24"})
        backwards = await client.patch(path, json={"end_date": "2026-04-01"})
        cancelled = await client.patch(path, json={"status": "cancelled"})
        once_more = await client.patch(path, json={"status": "cancelled"})
        edited = await client.patch(path, json={"minutes": 60})
        filled = await client.patch(path, json={"status": "filled"})
        listed = await client.get("/v1/resource-requests", params={"status": "cancelled"})
        events = (await client.get("/v1/events", params={"limit": 200})).json()["events"]

    assert made.status_code == 201
    assert request["id"].startswith("rrq_")
    assert (request["status"], request["version"], request["filled_by_assignment"]) == (
        "open", 1, None,
    )  # fmt: skip
    assert (request["project_id"], request["role"], request["required_skills"]) == (
        project, "senior-consultant", ["sk-python"],
    )  # fmt: skip
    assert request["priority"] == 3
    assert (again.status_code, again.json()["id"]) == (200, request["id"])  # once by external id
    assert (longer.json()["minutes"], longer.json()["version"]) == (9600, 2)
    assert (backwards.status_code, backwards.json()["code"]) == (422, "INVALID_DATES")
    assert (cancelled.json()["status"], cancelled.json()["version"]) == ("cancelled", 3)
    assert once_more.json()["version"] == 3  # the same cancellation writes nothing
    assert (edited.status_code, edited.json()["code"]) == (409, "REQUEST_CLOSED")
    assert (filled.status_code, filled.json()["code"]) == (409, "INVALID_TRANSITION")
    assert [item["id"] for item in listed.json()["items"]] == [request["id"]]
    mine = [e["type"] for e in events if e["subject"]["type"] == "resource_request"]
    assert mine == [
        "resource_request.created", "resource_request.updated",
        "resource_request.cancelled", "resource_request.updated",
    ]  # fmt: skip


async def test_a_request_is_filled_by_a_booking_of_its_project_only(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.urls["psa"]) as client:
        project, other = await _project(client), await _project(client)
        resource = (await client.post("/v1/resources", json={"name": "W-1"})).json()["id"]
        dates = {"start_date": "2026-04-06", "end_date": "2026-04-17"}
        booked = (await client.post("/v1/assignments", json={
            "project_id": project, "resource_id": resource, **dates,
        })).json()  # fmt: skip
        elsewhere = (await client.post("/v1/assignments", json={
            "project_id": other, "resource_id": resource, **dates,
        })).json()  # fmt: skip
        request = (
            await client.post("/v1/resource-requests", json={**BODY, "project_id": project})
        ).json()
        path = f"/v1/resource-requests/{request['id']}"
        unnamed = await client.patch(path, json={"filled_by_assignment": booked["id"]})
        wrong = await client.patch(
            path, json={"status": "filled", "filled_by_assignment": elsewhere["id"]}
        )
        missing = await client.patch(path, json={"status": "filled", "filled_by_assignment": "x"})
        filled = await client.patch(
            path, json={"status": "filled", "filled_by_assignment": booked["id"]}
        )
        cancelled = await client.patch(path, json={"status": "cancelled"})

    assert unnamed.status_code == 422  # a booking is named only when filling
    assert "filled_by_assignment" in unnamed.json()["detail"] + str(unnamed.json()["errors"])
    assert (wrong.status_code, wrong.json()["code"]) == (409, "ASSIGNMENT_OTHER_PROJECT")
    assert (missing.status_code, missing.json()["code"]) == (400, "INVALID_REFERENCE")
    assert (filled.json()["status"], filled.json()["filled_by_assignment"]) == (
        "filled", booked["id"],
    )  # fmt: skip
    assert (cancelled.status_code, cancelled.json()["code"]) == (409, "INVALID_TRANSITION")


async def test_bad_requests_are_refused_with_their_reason(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.urls["psa"]) as client:
        project = await _project(client)
        closed = await _project(client, status="completed")
        backwards = await client.post("/v1/resource-requests", json={
            **BODY, "project_id": project, "end_date": "2026-04-01",
        })  # fmt: skip
        no_role = await client.post(
            "/v1/resource-requests", json={**BODY, "project_id": project, "role": ""}
        )
        nowhere = await client.post("/v1/resource-requests", json={**BODY, "project_id": "prj_x"})
        on_closed = await client.post("/v1/resource-requests", json={**BODY, "project_id": closed})
        status_at_birth = await client.post(
            "/v1/resource-requests", json={**BODY, "project_id": project, "status": "filled"}
        )
    assert backwards.status_code == 422
    assert "end_date must not be before start_date" in str(backwards.json()["errors"])
    assert (no_role.status_code, no_role.json()["errors"][0]["field"]) == (422, "role")
    assert (nowhere.status_code, nowhere.json()["code"]) == (400, "INVALID_REFERENCE")
    assert (on_closed.status_code, on_closed.json()["code"]) == (409, "PROJECT_CLOSED")
    assert status_at_birth.status_code == 422  # a request is born open


async def test_rest_psa_reads_requests_from_records_and_from_the_feed(sandbox: Sandbox) -> None:
    psa_url = sandbox.urls["psa"]
    port = RestPsa(HttpTarget(psa_url, downstream="psa:test"), instance="psa")
    try:
        async with httpx.AsyncClient(base_url=psa_url) as client:
            project = await _project(client)
            record = (
                await client.post("/v1/resource-requests", json={**BODY, "project_id": project})
            ).json()
            record = (
                await client.patch(
                    f"/v1/resource-requests/{record['id']}", json={"status": "cancelled"}
                )
            ).json()
        read = await port.read_resource_request(record)
        since = datetime.now(UTC) + timedelta(seconds=5)
        fed = await port.change_source("resource-requests").changes(None, since, 10)
        again = await port.read_resource_request(
            await port.record("resource-requests", read.external_id)
        )
    finally:
        await port.aclose()
    assert (read.project_id, read.role, read.required_skills) == (
        project, "senior-consultant", ("sk-python",),
    )  # fmt: skip
    assert (read.minutes, read.start_date, read.end_date) == (
        4800, date(2026, 4, 6), date(2026, 4, 17),
    )  # fmt: skip
    assert (read.status, read.version, read.priority) == ("cancelled", 2, 3)
    assert [change.record_key for change in fed] == [read.external_id]
    assert again == read
