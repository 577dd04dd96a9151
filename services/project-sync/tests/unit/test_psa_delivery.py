"""The PSA's reports about an active project become events: a closing once, a completed billing
milestone once, an approved change order once; records of projects no saga of ours activated
are ignored, and records in the wrong currency set aside (no database: the ingestion's
repositories in memory)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from project_sync.domain.delivery import closed_from, closing_reason, is_billing_milestone
from project_sync.domain.saga import Saga, Step, Visit
from project_sync.service_layer.psa_ingest import PsaDelivery
from project_sync.service_layer.unit_of_work import DeliveredProject
from tandem_connectors.fakes import FakeCrossReferences, FakePsa
from tandem_connectors.inbound import RecordRejected
from tandem_connectors.landing import Landed
from tandem_connectors.ports import PsaChangeOrder, PsaProject, PsaTask
from tandem_contracts import ExternalRef, Money, SystemKind
from tandem_contracts.entities import Milestone
from tandem_contracts.events import ChangeOrderApproved, MilestoneCompleted, ProjectClosedForTime

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
OPENED = date(2026, 11, 2)
PROJECT = DeliveredProject(
    project_id="prj-1", opportunity_id="opp-1", generation=1, legal_entity_id="le-de",
    currency="EUR", contract_id="sow-1", open_from=OPENED, closed_from=None,
)  # fmt: skip


# -- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "open_for_time", "closes"),
    [
        ("completed", True, True),
        ("cancelled", False, True),
        ("in_progress", False, True),
        ("on_hold", False, True),
        ("in_progress", True, False),
        ("on_hold", True, False),
        ("estimate", False, False),  # the shell before activation, delivered late
    ],
)
def test_a_project_closes_for_time_when_done_or_no_longer_open(
    status: str, open_for_time: bool, closes: bool
) -> None:
    assert (closing_reason(status, open_for_time) is not None) is closes


def test_time_is_refused_from_the_day_after_the_last_day_never_before_opening() -> None:
    assert closed_from(date(2026, 11, 15), NOW.date(), OPENED) == date(2026, 11, 16)
    assert closed_from(None, NOW.date(), OPENED) == NOW.date()
    assert closed_from(date(2026, 12, 31), NOW.date(), OPENED) == NOW.date()  # completed early
    assert closed_from(date(2026, 10, 1), NOW.date(), OPENED) == OPENED


def test_only_a_completed_milestone_with_a_fee_is_a_billing_milestone() -> None:
    assert is_billing_milestone("milestone", "completed", has_fee=True)
    assert not is_billing_milestone("milestone", "completed", has_fee=False)
    assert not is_billing_milestone("milestone", "started", has_fee=True)
    assert not is_billing_milestone("task", "completed", has_fee=True)


# -- the ingestion, on repositories in memory ----------------------------------------------------


class MemoryDelivery:
    def __init__(self) -> None:
        self.projects = {PROJECT.project_id: PROJECT}
        self.versions: dict[str, int] = {"prj-1": 2}  # the saga announced it active
        self.milestones: dict[str, Milestone] = {}
        self.change_orders: dict[str, ChangeOrderApproved] = {}

    async def project(self, project_id: str) -> DeliveredProject | None:
        return self.projects.get(project_id)

    async def next_version(self, project_id: str, floor: int) -> int:
        self.versions[project_id] = max(self.versions.get(project_id, 0) + 1, floor)
        return self.versions[project_id]

    async def close_for_time(self, project_id: str, first: date, reason: str) -> bool:
        project = self.projects[project_id]
        if project.closed_from is not None:
            return False
        self.projects[project_id] = replace(project, closed_from=first)
        return True

    async def record_milestone(
        self, milestone: Milestone, psa_instance: str, psa_task_id: str, completed_at: datetime
    ) -> bool:
        return self.milestones.setdefault(milestone.id, milestone) is milestone

    async def record_change_order(
        self, change: ChangeOrderApproved, psa_instance: str, psa_id: str
    ) -> bool:
        return self.change_orders.setdefault(change.change_order_id, change) is change


class MemorySagas:
    def __init__(self, step: Step = Step.ACTIVE) -> None:
        self.step = step
        self.locked: list[str] = []

    async def latest(self, opportunity_id: str) -> Saga:
        self.locked.append(opportunity_id)
        return Saga(opportunity_id, 1, self.step, 1, (Visit(self.step, NOW),), NOW)


class MemoryUow:
    def __init__(self, step: Step = Step.ACTIVE) -> None:
        self.delivery = MemoryDelivery()
        self.sagas = MemorySagas(step)
        self.refs = FakeCrossReferences()


async def ingestion(step: Step = Step.ACTIVE) -> tuple[PsaDelivery, MemoryUow]:
    uow = MemoryUow(step)
    psa_ref = ExternalRef(
        system=SystemKind.PSA, instance="psa", object_type="project", external_id="psa-p1"
    )
    await uow.refs.link("project", "prj-1", psa_ref)
    regions = {"le-de": "eu"}
    delivery = PsaDelivery(uow, FakePsa(instance="psa"), "psa", "acme", regions.__getitem__)  # type: ignore[arg-type]
    return delivery, uow


def landed(value: PsaProject | PsaTask | PsaChangeOrder, record_type: str) -> Landed:
    record: dict[str, Any] = FakePsa.record_of(value)
    return Landed(1, "psa", "psa", record_type, value.external_id, value.version, "poll", record)


def project_version(version: int, status: str, open_for_time: bool = False) -> Landed:
    value = PsaProject(
        external_id="psa-p1", version=version, status=status, open_for_time=open_for_time,
        code="P-0001", currency="EUR", start_date=OPENED, end_date=date(2026, 11, 18),
        updated_at=NOW,
    )  # fmt: skip
    return landed(value, "project")


def milestone_task(version: int, status: str, fee: Money | None, project: str = "psa-p1") -> Landed:
    value = PsaTask(
        external_id="tsk-1", version=version, project_id=project, type="milestone",
        name="Go-live", status=status, due_date=date(2026, 11, 19), billing_amount=fee,
        updated_at=NOW,
    )  # fmt: skip
    return landed(value, "task")


def change_order(version: int = 3, currency: str = "EUR", **changes: Any) -> Landed:
    values: dict[str, Any] = {
        "external_id": "cho-1", "version": version, "project_id": "psa-p1",
        "status": "approved", "description": "Phase 2", "currency": currency,
        "budget_minutes": 48_000, "budget_amount": Money.of("150000.00", currency),
        "total_value": Money.of("150000.00", currency), "cap": Money.of("160000.00", currency),
        "effective_from": date(2026, 12, 1), "updated_at": NOW,
    }  # fmt: skip
    return landed(PsaChangeOrder(**(values | changes)), "change_order")


async def test_a_completed_project_is_closed_for_time_once() -> None:
    delivery, uow = await ingestion()

    [envelope] = await delivery.translate(project_version(5, "completed"))
    again = await delivery.translate(project_version(6, "completed"))  # a later version
    duplicate = await delivery.translate(project_version(5, "completed"))

    event = envelope.payload
    assert isinstance(event, ProjectClosedForTime)
    assert event.project_id == "prj-1"
    assert event.closed_from == date(2026, 11, 19)  # the day after its last day
    assert envelope.subject_version == 3  # above ProjectActivated's
    assert envelope.legal_entity_id == "le-de"
    assert envelope.data_residency_region == "eu"
    assert envelope.correlation_id == "opp-1"
    assert again == []
    assert duplicate == []
    assert uow.delivery.projects["prj-1"].closed_from == date(2026, 11, 19)
    assert uow.sagas.locked == ["opp-1"]  # seen only once the saga's own moves commit


async def test_an_open_version_or_a_late_shell_version_closes_nothing() -> None:
    delivery, uow = await ingestion()

    assert await delivery.translate(project_version(4, "in_progress", open_for_time=True)) == []
    assert await delivery.translate(project_version(1, "estimate")) == []
    assert uow.delivery.projects["prj-1"].closed_from is None


@pytest.mark.parametrize("step", [Step.FLAGGED_FOR_FINANCE, Step.COMPENSATING, Step.CANCELLED])
async def test_a_project_whose_saga_is_not_active_is_the_sagas_to_announce(step: Step) -> None:
    delivery, uow = await ingestion(step)

    assert await delivery.translate(project_version(5, "completed")) == []
    assert uow.delivery.projects["prj-1"].closed_from is None


async def test_records_of_a_project_no_saga_made_are_ignored() -> None:
    delivery, _ = await ingestion()
    stranger = replace(await delivery.psa.read_project(project_version(5, "completed").record))
    record = FakePsa.record_of(replace(stranger, external_id="psa-other"))
    other = Landed(2, "psa", "psa", "project", "psa-other", 5, "poll", record)

    assert await delivery.translate(other) == []
    fee = Money.of("25000.00", "EUR")
    assert await delivery.translate(milestone_task(2, "completed", fee, "psa-other")) == []


async def test_a_completed_billing_milestone_is_announced_once() -> None:
    delivery, _ = await ingestion()
    fee = Money.of("25000.00", "EUR")

    assert await delivery.translate(milestone_task(1, "started", fee)) == []
    [envelope] = await delivery.translate(milestone_task(2, "completed", fee))
    assert await delivery.translate(milestone_task(3, "completed", fee)) == []
    assert await delivery.translate(milestone_task(4, "completed", None)) == []  # no fee

    event = envelope.payload
    assert isinstance(event, MilestoneCompleted)
    assert event.milestone.project_id == "prj-1"
    assert event.milestone.amount == fee
    assert event.milestone.actual_date == NOW.date()
    assert envelope.subject_version == 2  # the PSA task's version


async def test_a_milestone_fee_in_another_currency_is_set_aside() -> None:
    delivery, _ = await ingestion()

    with pytest.raises(RecordRejected, match="USD"):
        await delivery.translate(milestone_task(2, "completed", Money.of("100.00", "USD")))


async def test_an_approved_change_order_is_announced_once_with_the_projects_figures() -> None:
    delivery, uow = await ingestion()

    assert await delivery.translate(change_order(2, status="submitted")) == []
    [envelope] = await delivery.translate(change_order(3))
    assert await delivery.translate(change_order(3)) == []
    closing = await delivery.translate(project_version(7, "completed"))

    event = envelope.payload
    assert isinstance(event, ChangeOrderApproved)
    assert event.project_id == "prj-1"
    assert event.contract_id == "sow-1"
    assert event.budget.minutes == 48_000
    assert event.cap == Money.of("160000.00", "EUR")
    assert envelope.subject_version == 3
    assert closing[0].subject_version == 4  # a later fact, a higher version
    assert list(uow.delivery.change_orders) == [event.change_order_id]


async def test_a_change_order_in_another_currency_or_changing_nothing_is_set_aside() -> None:
    delivery, _ = await ingestion()

    with pytest.raises(RecordRejected, match="GBP"):
        await delivery.translate(change_order(currency="GBP"))
    nothing: dict[str, Any] = {
        "budget_minutes": None,
        "budget_amount": None,
        "total_value": None,
        "cap": None,
    }
    with pytest.raises(RecordRejected, match="changes no budget"):
        await delivery.translate(change_order(**nothing))
