"""Resource requests through the PSA port: a sandbox record read as ``PsaResourceRequest``, a
broken one refused, the ``resource-requests`` feed polled over REST, and the fake handing back
the request a record carries."""

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from tandem_connectors.errors import UnexpectedResponse
from tandem_connectors.fakes import FakePsa
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.ports import PsaResourceRequest
from tandem_connectors.rest import RestPsa
from tandem_connectors.rest._psa_requests import psa_resource_request

RECORD: dict[str, Any] = {
    "id": "rrq_1", "version": 2, "project_id": "prj_1", "role": "senior-consultant",
    "required_skills": ["sk-python", "sk-sql"], "minutes": 4800, "start_date": "2026-04-06",
    "end_date": "2026-04-17", "priority": 2, "status": "filled",
    "filled_by_assignment": "asg_7", "external_id": "rrq-ext",
    "created_at": "2026-03-01T09:00:00+00:00", "updated_at": "2026-03-02T10:30:00+00:00",
}  # fmt: skip
READ = PsaResourceRequest(
    external_id="rrq_1", version=2, project_id="prj_1", role="senior-consultant",
    required_skills=("sk-python", "sk-sql"), minutes=4800, start_date=date(2026, 4, 6),
    end_date=date(2026, 4, 17), status="filled", priority=2, filled_by_assignment="asg_7",
    updated_at=datetime(2026, 3, 2, 10, 30, tzinfo=UTC),
)  # fmt: skip


def test_a_request_record_reads_with_its_role_skills_minutes_dates_and_filling_booking() -> None:
    assert psa_resource_request(RECORD) == READ


def test_a_bare_request_reads_with_defaults_and_a_broken_one_is_refused() -> None:
    bare = {k: v for k, v in RECORD.items()
            if k not in ("required_skills", "priority", "filled_by_assignment")}  # fmt: skip
    read = psa_resource_request(bare)
    assert (read.required_skills, read.priority, read.filled_by_assignment) == ((), 3, None)
    with pytest.raises(UnexpectedResponse, match="minutes"):
        psa_resource_request({k: v for k, v in RECORD.items() if k != "minutes"})
    with pytest.raises(UnexpectedResponse, match="TypeError"):
        psa_resource_request({**RECORD, "required_skills": "sk-python"})


async def test_the_resource_requests_feed_is_polled_and_its_records_read() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={"items": [RECORD], "next_page_token": None})

    target = HttpTarget(
        "http://psa.test", downstream="psa:test", retry=RetryPolicy(1, 0.01, 0.01),
        transport=httpx.MockTransport(answer),
    )  # fmt: skip
    psa = RestPsa(target, instance="psa")
    try:
        [change] = await psa.change_source("resource-requests").changes(
            None, datetime(2026, 3, 3, tzinfo=UTC), 10
        )
        read = await psa.read_resource_request(change.data)
    finally:
        await psa.aclose()
    assert seen == ["/v1/resource-requests"]
    assert (change.record_key, read) == ("rrq_1", READ)


async def test_the_fake_holds_requests_and_reads_back_the_version_a_record_carries() -> None:
    psa = FakePsa()
    psa.add(READ)
    record = await psa.record("resource-requests", "rrq_1")
    assert await psa.read_resource_request(record) == READ
    listed = {**record, "required_skills": list(READ.required_skills)}  # as JSON carries it
    assert await psa.read_resource_request(listed) == READ
