"""A worker's resource in the sandbox PSA through the PSA port: made once under its key,
brought up to date, ended at the last day and not bookable after it."""

import asyncio
from dataclasses import replace
from datetime import date

import httpx

from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.ports import PsaResource
from tandem_connectors.rest import RestPsa
from tandem_sandbox import Sandbox

RESOURCE = PsaResource(
    worker_id="w-17", worker_number="W-0017", role_id="r-consultant", country="DE",
    skills=(("sk-python", 4),), calendar_id="cal-de", cost_center="ou-7",
    start_date=date(2026, 3, 1),
)  # fmt: skip


async def test_a_resource_is_upserted_once_and_ends_at_its_last_day(sandbox: Sandbox) -> None:
    url = sandbox.urls["psa"]
    http = HttpTarget(url, downstream="psa:sandbox", retry=RetryPolicy(2, 0.01, 0.05))
    psa = RestPsa(http, instance="psa")
    try:
        made = await psa.upsert_resource(RESOURCE, key="resource:w-17")
        again = await psa.upsert_resource(RESOURCE, key="resource:w-17")
        moved = await psa.upsert_resource(replace(RESOURCE, country="FR"), key="resource:w-17")
        ended = await psa.end_resource(made.external_id, last_day=date(2026, 6, 30), key="end")
        once_more = await psa.end_resource(made.external_id, last_day=date(2026, 6, 30), key="e")
    finally:
        await psa.aclose()
    assert (made.created, again.created, moved.created) == (True, False, False)
    assert made.external_id == again.external_id == moved.external_id == ended.external_id
    assert ended.ref.external_version == once_more.ref.external_version  # nothing rewritten
    async with httpx.AsyncClient(base_url=url) as client:
        record = (await client.get(f"/v1/resources/{made.external_id}")).json()
        listed = (await client.get("/v1/resources", params={"worker_ref": "w-17"})).json()
        project = (await client.post("/v1/projects", json={"name": "P", "currency": "EUR"})).json()
        booking = {"project_id": project["id"], "resource_id": made.external_id}
        inside = await client.post(
            "/v1/assignments",
            json={**booking, "start_date": "2026-06-01", "end_date": "2026-06-30"},
        )
        after = await client.post(
            "/v1/assignments",
            json={**booking, "start_date": "2026-06-15", "end_date": "2026-07-15"},
        )
        before = await client.post(
            "/v1/assignments",
            json={**booking, "start_date": "2026-02-15", "end_date": "2026-03-15"},
        )
    assert len(listed["items"]) == 1
    assert record["name"] == "W-0017"  # the worker number, no personal data
    assert (record["worker_ref"], record["role"], record["country"]) == (
        "w-17", "r-consultant", "FR",
    )  # fmt: skip
    assert record["skills"] == [{"skill": "sk-python", "level": 4}]
    assert (record["start_date"], record["end_date"]) == ("2026-03-01", "2026-06-30")
    assert inside.status_code == 201
    assert (after.status_code, after.json()["code"]) == (409, "RESOURCE_NOT_BOOKABLE")
    assert (before.status_code, before.json()["code"]) == (409, "RESOURCE_NOT_BOOKABLE")


async def test_the_same_external_id_posted_at_once_makes_one_record_and_no_error(
    sandbox: Sandbox,
) -> None:
    # Two writers racing on one key (a redelivery beside the first delivery) are answered as
    # the upsert answers a second one, never with a 500.
    body = {"external_id": "resource:w-race", "name": "W-RACE", "worker_ref": "w-race",
            "role": "consultant",
            "country": "DE", "start_date": "2026-03-01"}  # fmt: skip
    async with httpx.AsyncClient(base_url=sandbox.urls["psa"]) as client:
        answers = await asyncio.gather(*(client.post("/v1/resources", json=body) for _ in range(8)))
        listed = (await client.get("/v1/resources", params={"worker_ref": "w-race"})).json()
    assert sorted(a.status_code for a in answers)[-1] < 300, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(listed["items"]) == 1
