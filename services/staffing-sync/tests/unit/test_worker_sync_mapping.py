"""The worker sync's pure decisions: versions, keys, the PSA resource, unusable events."""

from datetime import date
from decimal import Decimal

import pytest

from staffing_sync.service_layer.mapping import (
    WorkerRecord,
    employee_key_of,
    is_newer,
    onboarding_problem,
    resource_key,
    resource_of,
    termination_only,
)
from staffing_sync.settings import Settings
from tandem_contracts import Money
from tandem_contracts.entities import CostRate, EmploymentType, Worker, WorkerStatus
from tandem_contracts.events import ConsultantOnboarded

HIRE = Worker(
    id="w-1", worker_number="W-0001", legal_entity_id="le-de",
    employment_type=EmploymentType.EMPLOYEE, status=WorkerStatus.PRE_HIRE,
    hire_date=date(2026, 3, 2), work_country="DE", work_calendar_id="cal-de",
    org_unit_id="ou-7", home_currency="EUR",
)  # fmt: skip
RECORD = WorkerRecord(HIRE, "le-de", "r-senior", date(2026, 3, 2), 4)


def test_only_a_newer_version_is_applied() -> None:
    assert is_newer(None, 1)
    assert is_newer(RECORD, 5)
    assert not is_newer(RECORD, 4)  # the same again
    assert not is_newer(RECORD, 3)  # older


def test_the_employee_key_is_time_expenses_in_the_entity_of_hire_and_its_own_after() -> None:
    assert employee_key_of(RECORD) == "employee:w-1"
    moved = WorkerRecord(HIRE.model_copy(update={"legal_entity_id": "le-fr"}), "le-de", None,
                         date(2026, 3, 2), 5)  # fmt: skip
    assert employee_key_of(moved) == "employee:w-1:le-fr"
    assert resource_key("w-1") == "resource:w-1"


def test_the_resource_carries_no_name_and_is_bookable_from_start_to_last_day() -> None:
    resource = resource_of(RECORD, 420)
    assert (resource.worker_number, resource.role_id) == ("W-0001", "r-senior")
    assert (resource.country, resource.calendar_id, resource.cost_center) == (
        "DE",
        "cal-de",
        "ou-7",
    )
    assert (resource.start_date, resource.end_date, resource.bookable) == (
        date(2026, 3, 2), None, True,
    )  # fmt: skip
    leaving = HIRE.model_copy(update={"termination_date": date(2026, 9, 30)})
    assert resource_of(WorkerRecord(leaving, "le-de", None, HIRE.hire_date, 5), 480).end_date == (
        date(2026, 9, 30)
    )
    away = HIRE.model_copy(update={"status": WorkerStatus.ON_LEAVE})
    assert not resource_of(WorkerRecord(away, "le-de", None, HIRE.hire_date, 5), 480).bookable


def test_a_termination_alone_only_ends_the_resource() -> None:
    leaving = HIRE.model_copy(update={"termination_date": date(2026, 9, 30)})
    assert termination_only(("termination_date", "status"), leaving)
    assert not termination_only(("termination_date", "org_unit_id"), leaving)
    assert not termination_only(("status",), HIRE)  # no last day: not a termination


def test_an_onboarding_with_another_workers_rate_or_a_last_day_before_the_start_is_unusable() -> (
    None
):
    cost = Money(amount=Decimal("80"), currency="EUR")
    own = CostRate(worker_id="w-1", hourly_cost=cost, effective_from=date(2026, 3, 2))
    other = own.model_copy(update={"worker_id": "w-9"})
    fine = ConsultantOnboarded(worker=HIRE, cost_rate=own, start_date=HIRE.hire_date)
    assert onboarding_problem(fine) is None
    wrong = ConsultantOnboarded(worker=HIRE, cost_rate=other, start_date=HIRE.hire_date)
    assert "w-9" in (onboarding_problem(wrong) or "")
    early = HIRE.model_copy(update={"termination_date": date(2026, 3, 1)})
    backwards = ConsultantOnboarded(worker=early, start_date=HIRE.hire_date)
    assert "before the start" in (onboarding_problem(backwards) or "")


def test_the_psa_instance_is_the_one_configured_or_the_one_named() -> None:
    one = Settings(psa_instances={"psa": {"url": "http://psa.test"}})  # type: ignore[dict-item]
    assert one.psa_name() == "psa"
    two = {"a": {"url": "http://a.test"}, "b": {"url": "http://b.test"}}
    assert Settings(psa_instances=two, psa_instance="b").psa_name() == "b"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="TANDEM_PSA_INSTANCE"):
        Settings(psa_instances=two).psa_name()  # type: ignore[arg-type]
    assert Settings(entity_regions={"le-de": "eu"}).region_of("le-de") == "eu"
    assert Settings().region_of("le-us") == "us"
