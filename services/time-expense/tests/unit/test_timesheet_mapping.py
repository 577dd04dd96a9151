"""A submitted PSA timesheet as ``TimeSubmitted``: the mapping, its scope, its lane, its binding."""

from datetime import UTC, date, datetime
from typing import Any

import pytest

from tandem_connectors.ports import PsaTimeEntry, PsaTimesheet
from tandem_contracts import Envelope, Producer, SystemKind
from tandem_contracts.entities import (
    BillingModel,
    EmploymentType,
    Project,
    ProjectStatus,
    TimeEntryStatus,
    TimesheetStatus,
    Worker,
    WorkerStatus,
)
from tandem_contracts.events import TimeApproved, TimeSubmitted
from time_expense.service_layer.handlers import router as consumer_router
from time_expense.service_layer.handlers import worker_of
from time_expense.service_layer.ingest import submission_scope, time_submitted

SUBMITTED_AT = datetime(2026, 10, 9, 17, 30, tzinfo=UTC)


def worker(legal_entity_id: str = "le-de") -> Worker:
    return Worker(
        id="w-7",
        worker_number="W0007",
        legal_entity_id=legal_entity_id,
        employment_type=EmploymentType.EMPLOYEE,
        status=WorkerStatus.ACTIVE,
        hire_date=date(2024, 1, 1),
        work_country="DE",
        home_currency="EUR",
    )


def project(project_id: str, legal_entity_id: str, opportunity_id: str | None = None) -> Project:
    return Project(
        id=project_id,
        name=f"Project {project_id}",
        customer_id="c-1",
        opportunity_id=opportunity_id,
        legal_entity_id=legal_entity_id,
        currency="EUR",
        billing_model=BillingModel.TIME_AND_MATERIALS,
        status=ProjectStatus.ACTIVE,
    )


def psa_entry(entry_id: str, psa_project: str, day: int, status: str = "approved") -> PsaTimeEntry:
    return PsaTimeEntry(
        external_id=entry_id,
        version=3,
        revision=1,
        status=status,
        resource_id="res-7",
        worker_id="w-7",
        role_id="senior",
        project_id=psa_project,
        task_id="task-1" if day % 2 else None,
        timesheet_id="tms-1",
        work_date=date(2026, 10, day),
        minutes=60 * day,
        billable=day != 7,
        bill_rate=None,
        notes=f"day {day}",
        updated_at=datetime(2026, 10, 12, tzinfo=UTC),
    )


def sheet(status: str = "submitted") -> PsaTimesheet:
    return PsaTimesheet(
        external_id="tms-1",
        version=2,
        status=status,
        resource_id="res-7",
        worker_id="w-7",
        period_start=date(2026, 10, 5),
        period_end=date(2026, 10, 11),
        entry_ids=("tme-5", "tme-6", "tme-7"),
        updated_at=SUBMITTED_AT,
    )


def test_a_submitted_sheet_carries_its_entries_submitted_on_their_canonical_projects() -> None:
    home, abroad = project("p-home", "le-de"), project("p-abroad", "le-uk")
    placed = [
        (psa_entry("tme-5", "psa-home", 5), home),
        (psa_entry("tme-6", "psa-abroad", 6), abroad),
        (psa_entry("tme-7", "psa-home", 7), home),
    ]

    event = time_submitted(sheet(), placed, worker())

    assert event.subject_id == "tms-1"
    assert event.submitted_at == SUBMITTED_AT
    timesheet = event.timesheet
    assert (timesheet.id, timesheet.worker_id) == ("tms-1", "w-7")
    assert (timesheet.period_start, timesheet.period_end) == (date(2026, 10, 5), date(2026, 10, 11))
    assert timesheet.status is TimesheetStatus.SUBMITTED
    assert timesheet.source_status == "submitted"
    assert [e.id for e in event.entries] == ["tme-5", "tme-6", "tme-7"]
    # The PSA may hold them approved by now: what is announced is what was submitted.
    assert {e.status for e in event.entries} == {TimeEntryStatus.SUBMITTED}
    assert {e.source_status for e in event.entries} == {"submitted"}
    assert [e.project_id for e in event.entries] == ["p-home", "p-abroad", "p-home"]
    assert [e.project_legal_entity_id for e in event.entries] == ["le-de", "le-uk", "le-de"]
    assert {(e.worker_id, e.worker_legal_entity_id) for e in event.entries} == {("w-7", "le-de")}
    assert {e.timesheet_id for e in event.entries} == {"tms-1"}
    first = event.entries[0]
    assert (first.work_date, first.duration_minutes, first.billable) == (
        date(2026, 10, 5),
        300,
        True,
    )
    assert (first.work_item_id, first.role_id, first.notes) == ("task-1", "senior", "day 5")
    assert event.entries[2].billable is False
    assert event.entries[1].work_item_id is None


def test_the_envelope_is_the_workers_entity_in_the_region_of_its_projects() -> None:
    home, abroad = project("p-home", "le-de"), project("p-abroad", "le-uk")
    assert submission_scope(worker(), [(abroad, "uk"), (home, "eu")], None) == ("le-de", "eu")
    # Only intercompany time: the entity's region as time-expense knows it from elsewhere.
    assert submission_scope(worker(), [(abroad, "uk")], "eu") == ("le-de", "eu")
    # No region known for the worker's entity: the first project's entity with its region,
    # never the worker's entity paired with another entity's region.
    other = project("p-other", "le-us")
    assert submission_scope(worker(), [(abroad, "uk"), (other, "us")], None) == ("le-uk", "uk")


def envelope(event: TimeSubmitted | TimeApproved) -> Envelope[Any]:
    return Envelope.new(
        event,
        producer=Producer(service="time-expense", system=SystemKind.PSA, instance="psa"),
        tenant_id="acme",
        legal_entity_id="le-de",
        data_residency_region="eu",
        correlation_id="tms-1",
        subject_version=2,
    )


def submitted_and_approved() -> tuple[TimeSubmitted, TimeApproved]:
    """A one-entry sheet's submission, and that entry's later approval."""
    home = project("p-home", "le-de")
    submitted = time_submitted(sheet(), [(psa_entry("tme-5", "psa-home", 5), home)], worker())
    approved = TimeApproved(
        entry=submitted.entries[0].model_copy(update={"status": TimeEntryStatus.APPROVED}),
        approval_version=1,
        approved_by="psa-approval",
        approved_at=SUBMITTED_AT,
    )
    return submitted, approved


def test_a_submission_is_in_its_workers_lane_like_the_workers_entries() -> None:
    submitted, approved = submitted_and_approved()
    assert envelope(submitted).subject.id == "tms-1"
    assert worker_of(envelope(submitted)) == worker_of(envelope(approved)) == "w-7"


def _matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: ``*`` is one word, ``#`` zero or more."""

    def match(words: list[str], parts: list[str]) -> bool:
        if not words:
            return not parts
        if words[0] == "#":
            return any(match(words[1:], parts[i:]) for i in range(len(parts) + 1))
        return bool(parts) and words[0] in ("*", parts[0]) and match(words[1:], parts[1:])

    return match(pattern.split("."), key.split("."))


@pytest.mark.parametrize("regions", [("*",), ("eu", "uk")])
def test_the_consumer_queue_does_not_bind_time_submitted(regions: tuple[str, ...]) -> None:
    router = consumer_router()
    submitted, approved = submitted_and_approved()
    bindings = router.bindings(regions)

    assert "TimeSubmitted" not in router.handlers
    assert not [b for b in bindings if _matches(b, envelope(submitted).routing_key)]
    # The check can fail: the entries' own decisions are bound.
    assert [b for b in bindings if _matches(b, envelope(approved).routing_key)]
