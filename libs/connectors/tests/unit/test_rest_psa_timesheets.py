"""The sandbox PSA's timesheet records through the PSA port: the sheet, then its entries."""

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from tandem_connectors import NotFound
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.rest import RestPsa
from tandem_connectors.rest._psa import psa_timesheet

SHEET: dict[str, Any] = {
    "id": "tms_1",
    "resource_id": "res_1",
    "period_start": "2026-10-05",
    "period_end": "2026-10-11",
    "status": "submitted",
    "entry_ids": ["tme_b", "tme_a", "tme_c"],
    "approvals": [{"decision": "submitted", "at": "2026-10-09T17:30:00+00:00"}],
    "version": 2,
    "created_at": "2026-10-05T08:00:00+00:00",
    "updated_at": "2026-10-09T17:30:00.123456+00:00",
}


def entry(entry_id: str, day: int, timesheet_id: str | None = "tms_1") -> dict[str, Any]:
    return {
        "id": entry_id,
        "resource_id": "res_1",
        "project_id": "prj_1",
        "task_id": None,
        "date": f"2026-10-{day:02d}",
        "minutes": 60 * day,
        "billable": True,
        "notes": None,
        "bill_rate": None,
        "currency": None,
        "status": "submitted",
        "revision": 1,
        "timesheet_id": timesheet_id,
        "version": 2,
        "updated_at": "2026-10-09T17:30:00+00:00",
    }


def test_a_timesheet_record_reads_as_the_port_says() -> None:
    sheet = psa_timesheet(SHEET, "w-1")
    assert sheet.external_id == "tms_1"
    assert (sheet.version, sheet.status) == (2, "submitted")
    assert (sheet.resource_id, sheet.worker_id) == ("res_1", "w-1")
    assert (sheet.period_start, sheet.period_end) == (date(2026, 10, 5), date(2026, 10, 11))
    assert sheet.entry_ids == ("tme_b", "tme_a", "tme_c")
    assert sheet.updated_at == datetime(2026, 10, 9, 17, 30, 0, 123456, tzinfo=UTC)
    opened = psa_timesheet({**SHEET, "status": "open", "entry_ids": [], "version": 1}, None)
    assert (opened.entry_ids, opened.worker_id) == ((), None)


class FakePsa:
    """Answers the sandbox PSA's routes the connector uses; counts them."""

    def __init__(self, listed: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]) -> None:
        self.listed = listed
        self.by_id = by_id
        self.requests: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.url.path}?{request.url.query.decode()}")
        path = request.url.path
        if path == "/v1/resources/res_1":
            return httpx.Response(200, json={"id": "res_1", "worker_ref": "w-1", "role": "senior"})
        if path == "/v1/time-entries":
            assert request.url.params["timesheet_id"] == "tms_1"
            return httpx.Response(200, json={"items": self.listed, "next_page_token": None})
        found = self.by_id.get(path.removeprefix("/v1/time-entries/"))
        if found is None:
            return httpx.Response(404, json={"code": "NOT_FOUND", "message": path})
        return httpx.Response(200, json=found)


def psa(fake: FakePsa) -> RestPsa:
    target = HttpTarget(
        "http://psa.test",
        downstream="psa:test",
        retry=RetryPolicy(attempts=1, first_wait=0.01, max_wait=0.01),
        transport=httpx.MockTransport(fake.handle),
    )
    return RestPsa(target, instance="psa")


async def test_a_sheets_entries_are_its_entry_ids_in_order_with_one_listing() -> None:
    # tme_c left the sheet's listing (and another entry joined it later): read by id.
    fake = FakePsa(
        listed=[entry("tme_a", 5), entry("tme_b", 6), entry("tme_late", 7)],
        by_id={"tme_c": entry("tme_c", 8, timesheet_id="tms_2")},
    )
    adapter = psa(fake)
    try:
        sheet = await adapter.read_timesheet(SHEET)
        entries = await adapter.timesheet_entries(sheet)
    finally:
        await adapter.aclose()

    assert sheet.worker_id == "w-1"
    assert [e.external_id for e in entries] == ["tme_b", "tme_a", "tme_c"]
    assert [e.minutes for e in entries] == [360, 300, 480]
    assert {(e.worker_id, e.role_id) for e in entries} == {("w-1", "senior")}
    lists = [r for r in fake.requests if r.startswith("/v1/time-entries?")]
    reads = [r for r in fake.requests if r.startswith("/v1/time-entries/")]
    assert len(lists) == 1
    assert reads == ["/v1/time-entries/tme_c?"]


async def test_a_sheet_without_entries_asks_nothing_and_a_lost_entry_is_not_found() -> None:
    fake = FakePsa(listed=[entry("tme_a", 5)], by_id={})
    adapter = psa(fake)
    try:
        empty = psa_timesheet({**SHEET, "entry_ids": []}, "w-1")
        assert await adapter.timesheet_entries(empty) == []
        assert fake.requests == []
        with pytest.raises(NotFound):
            await adapter.timesheet_entries(psa_timesheet(SHEET, "w-1"))
    finally:
        await adapter.aclose()
