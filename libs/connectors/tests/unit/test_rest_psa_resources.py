"""A worker's resource through the REST PSA port: the body it sends, the upsert by key, the
last day set once."""

import json
from dataclasses import replace
from datetime import date
from typing import Any

import httpx

from tandem_connectors.fakes import FakePsa
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.ports import PsaResource
from tandem_connectors.rest import RestPsa
from tandem_connectors.rest._psa import psa_resource_body

RESOURCE = PsaResource(
    worker_id="w-1", worker_number="W-0001", role_id="r-senior", country="DE",
    capacity_minutes_per_day=420, skills=(("sk-sap", 3), ("sk-python", 5)),
    calendar_id="cal-de", cost_center="ou-1", start_date=date(2026, 4, 1),
)  # fmt: skip


def test_the_body_names_the_worker_by_number_with_its_dates() -> None:
    assert psa_resource_body(RESOURCE) == {
        "name": "W-0001", "worker_ref": "w-1", "role": "r-senior",
        "skills": [{"skill": "sk-sap", "level": 3}, {"skill": "sk-python", "level": 5}],
        "capacity_minutes_per_day": 420, "bookable": True, "country": "DE",
        "calendar_id": "cal-de", "cost_center": "ou-1", "start_date": "2026-04-01",
        "end_date": None,
    }  # fmt: skip
    ended = psa_resource_body(replace(RESOURCE, end_date=date(2026, 9, 30), bookable=False))
    assert (ended["end_date"], ended["bookable"]) == ("2026-09-30", False)


class Resources:
    """Answers the sandbox PSA's resource routes; keeps what was sent."""

    def __init__(self) -> None:
        self.record: dict[str, Any] = {}
        self.sent: list[tuple[str, dict[str, Any] | None]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        body: dict[str, Any] | None = json.loads(request.content) if request.content else None
        self.sent.append((request.method, body))
        if request.method == "POST":
            created = not self.record
            version = int(self.record.get("version", 0)) + 1
            self.record = {**self.record, **(body or {}), "id": "usr_1", "version": version}
            return httpx.Response(201 if created else 200, json=self.record)
        if request.method == "PATCH":
            version = int(self.record["version"]) + 1
            self.record = {**self.record, **(body or {}), "version": version}
        return httpx.Response(200, json=self.record)


async def test_the_resource_is_upserted_by_key_and_ended_once() -> None:
    fake = Resources()
    target = HttpTarget(
        "http://psa.test", downstream="psa:test", retry=RetryPolicy(1, 0.01, 0.01),
        transport=httpx.MockTransport(fake.handle),
    )  # fmt: skip
    psa = RestPsa(target, instance="psa")
    try:
        made = await psa.upsert_resource(RESOURCE, key="resource:w-1")
        again = await psa.upsert_resource(RESOURCE, key="resource:w-1")
        ended = await psa.end_resource("usr_1", last_day=date(2026, 9, 30), key="end:w-1")
        still = await psa.end_resource("usr_1", last_day=date(2026, 9, 30), key="end:w-1")
    finally:
        await psa.aclose()
    assert (made.created, again.created, ended.created) == (True, False, False)
    assert made.ref.object_type == "resource"
    assert made.external_id == ended.external_id == "usr_1"
    posted = [body for method, body in fake.sent if method == "POST"]
    assert posted[0] is not None
    assert posted[0]["external_id"] == "resource:w-1"
    assert [method for method, _ in fake.sent] == ["POST", "POST", "GET", "PATCH", "GET"]
    assert fake.sent[3][1] == {"end_date": "2026-09-30"}
    assert still.ref.external_version == ended.ref.external_version


async def test_the_fake_keeps_the_resource_under_its_key_and_counts_changes() -> None:
    psa = FakePsa()
    made = await psa.upsert_resource(RESOURCE, key="resource:w-1")
    await psa.upsert_resource(RESOURCE, key="resource:w-1")
    await psa.end_resource(made.external_id, last_day=date(2026, 9, 30), key="end")
    await psa.end_resource(made.external_id, last_day=date(2026, 9, 30), key="end")
    assert psa.resources["resource:w-1"].end_date == date(2026, 9, 30)
    assert psa.resource_writes["resource:w-1"] == 2
