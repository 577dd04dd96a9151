"""An ERP employee ended at a last day: the fake and the REST port set it once, and time
dated after it is refused with its own reason."""

import datetime as dt
import json
from typing import Any

import httpx
import pytest

from tandem_connectors import NotFound, RequestRejected
from tandem_connectors.fakes import FakeErp
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.ports import TimePosting
from tandem_connectors.rest import RestErp
from tandem_contracts import Money
from tandem_contracts.entities import (
    CostRate,
    EmploymentType,
    LegalEntity,
    Project,
    Worker,
    WorkerStatus,
)
from tandem_contracts.samples import sample_envelopes

SAMPLES = {envelope.event_type: envelope.payload for envelope in sample_envelopes()}
PROJECT: Project = SAMPLES["ProjectShellCreated"].project
LAST_DAY = dt.date(2026, 10, 26)
LE_US = LegalEntity(
    id="le-us", name="Acme Consulting Inc.", country="US", functional_currency="USD",
    data_residency_region="us",
)  # fmt: skip
WORKER = Worker(
    id="w-1", worker_number="W-0001", legal_entity_id="le-us",
    employment_type=EmploymentType.EMPLOYEE, status=WorkerStatus.ACTIVE,
    hire_date=dt.date(2026, 1, 5), work_country="US", home_currency="USD",
)  # fmt: skip


def posting(day: dt.date, employee: str, work: str) -> TimePosting:
    entry = SAMPLES["TimeApproved"].entry.model_copy(update={"work_date": day})
    return TimePosting(entry, employee=employee, work=work, key=f"te-{day.isoformat()}")


async def test_the_fake_ends_the_employee_and_refuses_time_after_the_last_day() -> None:
    erp = FakeErp(today=dt.date(2026, 10, 1))
    company = (await erp.ensure_legal_entity(LE_US, key=LE_US.id)).external_id
    project = (
        await erp.create_project(
            PROJECT, company=company, customer="c-1", service=None, key=PROJECT.id
        )
    ).external_id
    cost = CostRate(hourly_cost=Money.of("55", "USD"), effective_from=dt.date(2026, 1, 5))
    employee = (
        await erp.upsert_employee(WORKER, [cost], company=company, key="employee:w-1")
    ).external_id

    ended = await erp.end_employee(employee, last_day=LAST_DAY, key="employee:w-1:ends")
    again = await erp.end_employee(employee, last_day=LAST_DAY, key="employee:w-1:ends")

    assert (ended.external_id, ended.created, again.ref) == (employee, False, ended.ref)
    assert erp.employee_ends == {employee: LAST_DAY}
    [taken] = await erp.post_time([posting(LAST_DAY, employee, project)])
    assert taken.created  # the last day itself is still worked
    with pytest.raises(RequestRejected) as refused:
        await erp.post_time([posting(LAST_DAY + dt.timedelta(days=1), employee, project)])
    assert refused.value.reason == "employee_ended"
    assert len(erp.lines) == 1
    # A rehire reopens the employee: its time is taken again.
    await erp.end_employee(employee, last_day=None, key="employee:w-1:ends:never")
    [later] = await erp.post_time([posting(LAST_DAY + dt.timedelta(days=1), employee, project)])
    assert later.created
    with pytest.raises(NotFound):
        await erp.end_employee("no-such", last_day=LAST_DAY, key="k")


class Employees:
    """Answers the sandbox ERP's employee read and patch; keeps what was sent."""

    def __init__(self) -> None:
        self.record: dict[str, Any] = {"id": "emp_1", "version": 1, "end_date": None}
        self.sent: list[tuple[str, dict[str, Any] | None]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        body: dict[str, Any] | None = json.loads(request.content) if request.content else None
        self.sent.append((request.method, body))
        if request.method == "PATCH":
            version = int(self.record["version"]) + 1
            self.record = {**self.record, **(body or {}), "version": version}
        return httpx.Response(200, json=self.record)


async def test_the_rest_port_sets_the_end_date_once() -> None:
    fake = Employees()
    target = HttpTarget(
        "http://erp.test", downstream="erp:test", retry=RetryPolicy(1, 0.01, 0.01),
        transport=httpx.MockTransport(fake.handle),
    )  # fmt: skip
    erp = RestErp(target, instance="erp")
    try:
        ended = await erp.end_employee("emp_1", last_day=LAST_DAY, key="employee:w-1:ends")
        still = await erp.end_employee("emp_1", last_day=LAST_DAY, key="employee:w-1:ends")
    finally:
        await erp.aclose()
    assert [method for method, _ in fake.sent] == ["GET", "PATCH", "GET"]
    assert fake.sent[1][1] == {"end_date": "2026-10-26"}
    assert (ended.external_id, ended.created, ended.ref.object_type) == ("emp_1", False, "employee")
    assert still.ref.external_version == ended.ref.external_version == "2"
