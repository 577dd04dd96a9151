"""Bookings through the PSA port: a sandbox record read as ``PsaAssignment`` (with its
resource's worker), a resource's bookings listed, and a booking cancelled or ended once, over
REST and in the fake."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tandem_connectors.errors import NotFound, UnexpectedResponse
from tandem_connectors.fakes import FakePsa
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.ports import PsaAssignment
from tandem_connectors.rest import RestPsa
from tandem_connectors.rest._psa import psa_assignment
from tandem_contracts import Money

RECORD: dict[str, Any] = {
    "id": "asg_1", "version": 3, "project_id": "prj_1", "resource_id": "usr_1",
    "task_id": "tsk_1", "role": "senior-consultant", "start_date": "2026-04-06",
    "end_date": "2026-06-26", "minutes_per_day": 240, "booking": "hard", "bill_rate": "150.00",
    "currency": "EUR", "status": "active", "external_id": "asg-ext",
    "created_at": "2026-03-01T09:00:00+00:00", "updated_at": "2026-03-02T10:30:00+00:00",
}  # fmt: skip


def test_a_booking_record_reads_with_its_dates_shape_rate_and_worker() -> None:
    assert psa_assignment(RECORD, "w-1") == PsaAssignment(
        external_id="asg_1", version=3, project_id="prj_1", resource_id="usr_1",
        worker_id="w-1", task_id="tsk_1", role="senior-consultant",
        start_date=date(2026, 4, 6), end_date=date(2026, 6, 26), minutes_per_day=240,
        booking="hard", status="active", bill_rate=Money(amount=Decimal("150.00"), currency="EUR"),
        updated_at=datetime(2026, 3, 2, 10, 30, tzinfo=UTC),
    )  # fmt: skip


def test_a_booking_without_a_rate_or_a_task_reads_with_none_and_a_broken_one_is_refused() -> None:
    bare = {k: v for k, v in RECORD.items() if k not in ("bill_rate", "currency", "task_id")}
    read = psa_assignment(bare, None)
    assert (read.bill_rate, read.task_id, read.worker_id) == (None, None, None)
    with pytest.raises(UnexpectedResponse, match="end_date"):
        psa_assignment({k: v for k, v in RECORD.items() if k != "end_date"}, "w-1")


class Bookings:
    """Answers the sandbox PSA's assignment and resource routes; keeps what was sent."""

    def __init__(self) -> None:
        self.records = {"asg_1": dict(RECORD), "asg_2": {**RECORD, "id": "asg_2"}}
        self.sent: list[tuple[str, str, dict[str, Any] | None]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path
        self.sent.append((request.method, path, body))
        if path.startswith("/v1/resources/"):
            return httpx.Response(200, json={"id": "usr_1", "worker_ref": "w-1", "role": "r"})
        if path == "/v1/assignments":
            assert request.url.params["resource_id"] == "usr_1"
            items = list(self.records.values())
            return httpx.Response(200, json={"items": items, "next_page_token": None})
        record = self.records[path.removeprefix("/v1/assignments/")]
        if request.method == "PATCH":
            record.update(body or {}, version=record["version"] + 1)
        return httpx.Response(200, json=record)


async def test_a_resources_bookings_are_listed_then_cancelled_and_ended_once_each() -> None:
    fake = Bookings()
    target = HttpTarget(
        "http://psa.test", downstream="psa:test", retry=RetryPolicy(1, 0.01, 0.01),
        transport=httpx.MockTransport(fake.handle),
    )  # fmt: skip
    psa = RestPsa(target, instance="psa")
    try:
        listed = await psa.resource_assignments("usr_1")
        cancelled = await psa.cancel_assignment("asg_1", key="cancel:asg_1")
        again = await psa.cancel_assignment("asg_1", key="cancel:asg_1")
        ended = await psa.end_assignment("asg_2", last_day=date(2026, 5, 29), key="end:asg_2")
    finally:
        await psa.aclose()
    assert [(a.external_id, a.worker_id) for a in listed] == [("asg_1", "w-1"), ("asg_2", "w-1")]
    assert (cancelled.ref.object_type, cancelled.external_id) == ("assignment", "asg_1")
    assert cancelled.ref.external_version == again.ref.external_version == "4"
    assert ended.ref.external_version == "4"
    patches = [(path, body) for method, path, body in fake.sent if method == "PATCH"]
    assert patches == [
        ("/v1/assignments/asg_1", {"status": "cancelled"}),
        ("/v1/assignments/asg_2", {"end_date": "2026-05-29"}),
    ]


async def test_the_fake_cancels_and_ends_its_bookings_as_new_versions_once() -> None:
    psa = FakePsa()
    booking = psa_assignment(RECORD, "w-1")
    psa.add(booking)
    record = FakePsa.record_of(booking)
    assert await psa.read_assignment(record) == booking
    ended = await psa.end_assignment("asg_1", last_day=date(2026, 5, 29), key="k1")
    same = await psa.end_assignment("asg_1", last_day=date(2026, 5, 29), key="k1")
    assert ended.ref.external_version == same.ref.external_version == "4"
    cancelled = await psa.cancel_assignment("asg_1", key="k2")
    assert cancelled.ref.external_version == "5"
    [held] = await psa.resource_assignments("usr_1")
    assert (held.status, held.end_date, held.version) == ("cancelled", date(2026, 5, 29), 5)
    assert await psa.resource_assignments("usr_2") == []
    with pytest.raises(NotFound):
        await psa.cancel_assignment("asg_9", key="k3")
