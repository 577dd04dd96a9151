"""A worker's HRIS versions: what each means, and that any delivery order converges."""

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from staffing_sync.domain.workers import (
    EndedEmployment,
    UnknownWorkerStatusError,
    WorkerChange,
    WorkerDecision,
    WorkerVersion,
    apply_version,
    classify_version,
    consumers_of,
    worker_status,
)
from tandem_contracts.entities import WorkerStatus

TODAY = date(2025, 6, 16)


def hire(**changes: object) -> WorkerVersion:
    """Version 1 of a worker hired on 2 June 2025 into the US entity."""
    base = WorkerVersion(
        worker_id="wrk-1",
        version=1,
        worker_number="W000001",
        legal_entity="le-us",
        employment_type="employee",
        status="active",
        hire_date=date(2025, 6, 2),
        termination_date=None,
        manager_id="wrk-0",
        org_unit="ou-data",
        work_country="US",
        work_calendar="cal-us",
        home_currency="USD",
        updated_at=datetime(2025, 6, 1, 9, tzinfo=UTC),
        role="role-consultant",
        email="ada@example.com",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def then(previous: WorkerVersion, **changes: object) -> WorkerVersion:
    """The next version of ``previous`` with ``changes``."""
    return replace(previous, version=previous.version + 1, **changes)  # type: ignore[arg-type]


# -- each outcome ------------------------------------------------------------------------------


def test_the_first_version_seen_is_a_hire_from_its_start_date() -> None:
    decision = classify_version(None, hire())
    assert decision == WorkerDecision(WorkerChange.HIRED, date(2025, 6, 2))
    assert decision.publishes
    assert decision.cancels_assignments_after is None


def test_a_future_dated_pending_hire_is_onboarded_at_once_as_pre_hire() -> None:
    pending = hire(status="pre_hire", hire_date=date(2025, 9, 1))
    assert classify_version(None, pending).change is WorkerChange.HIRED
    assert classify_version(None, pending).effective_date == date(2025, 9, 1)
    assert worker_status(pending, TODAY) is WorkerStatus.PRE_HIRE
    # The HRIS leaves pre_hire on the start day: the dates say active.
    assert worker_status(pending, date(2025, 9, 1)) is WorkerStatus.ACTIVE


def test_a_worker_first_seen_with_a_last_day_is_onboarded_with_it() -> None:
    contractor = hire(employment_type="contractor", termination_date=date(2025, 12, 31))
    decision = classify_version(None, contractor)
    assert decision.change is WorkerChange.HIRED
    assert decision.ended == EndedEmployment("le-us", date(2025, 12, 31))
    assert decision.cancels_assignments_after == date(2025, 12, 31)


def test_a_termination_date_set_is_a_termination_on_the_last_day() -> None:
    first = hire()
    decision = classify_version(first, then(first, termination_date=date(2025, 7, 31)))
    assert decision.change is WorkerChange.TERMINATED
    assert decision.effective_date == date(2025, 7, 31)
    assert decision.changed_fields == ("termination_date",)
    assert decision.cancels_assignments_after == date(2025, 7, 31)


def test_a_moved_termination_date_is_a_termination_again_on_the_new_day() -> None:
    leaving = then(hire(), termination_date=date(2025, 7, 31))
    decision = classify_version(leaving, then(leaving, termination_date=date(2025, 7, 15)))
    assert decision.change is WorkerChange.TERMINATED
    assert decision.cancels_assignments_after == date(2025, 7, 15)


def test_a_status_of_terminated_without_a_date_ends_on_its_effective_date() -> None:
    first = hire()
    gone = then(first, status="terminated", effective_date=date(2025, 6, 20))
    decision = classify_version(first, gone)
    assert decision.change is WorkerChange.TERMINATED
    assert decision.ended == EndedEmployment("le-us", date(2025, 6, 20))
    assert worker_status(gone, TODAY) is WorkerStatus.TERMINATED
    later = then(gone, effective_date=date(2025, 6, 25), manager_id="wrk-9")
    assert classify_version(gone, later).change is WorkerChange.UPDATED  # not a new last day


def test_coming_back_after_the_last_day_is_a_rehire_of_the_same_worker() -> None:
    left = then(hire(), termination_date=date(2025, 7, 31))
    back = then(left, termination_date=None, hire_date=date(2025, 10, 1))
    decision = classify_version(left, back)
    assert decision.change is WorkerChange.REHIRED
    assert decision.effective_date == date(2025, 10, 1)
    assert decision.ended is None
    assert set(decision.changed_fields) == {"hire_date", "termination_date"}


def test_a_rehire_may_carry_its_own_later_last_day() -> None:
    left = then(hire(), termination_date=date(2025, 7, 31))
    back = then(left, hire_date=date(2025, 10, 1), termination_date=date(2026, 3, 31))
    decision = classify_version(left, back)
    assert decision.change is WorkerChange.REHIRED
    assert decision.cancels_assignments_after == date(2026, 3, 31)


def test_a_termination_taken_back_before_a_new_start_is_an_update() -> None:
    leaving = then(hire(), termination_date=date(2025, 7, 31))
    decision = classify_version(leaving, then(leaving, termination_date=None))
    assert decision.change is WorkerChange.UPDATED
    assert decision.changed_fields == ("termination_date",)
    assert decision.cancels_assignments_after is None


def test_a_new_legal_entity_is_a_transfer_ending_the_old_employment_the_day_before() -> None:
    first = hire()
    moved = then(first, legal_entity="le-uk", home_currency="GBP", effective_date=date(2025, 8, 1))
    decision = classify_version(first, moved)
    assert decision.change is WorkerChange.TRANSFERRED
    assert decision.effective_date == date(2025, 8, 1)
    assert decision.ended == EndedEmployment("le-us", date(2025, 7, 31))
    assert set(decision.changed_fields) == {"legal_entity_id", "home_currency"}
    assert decision.cancels_assignments_after is None  # the worker, and the bookings, stay


def test_a_transfer_run_as_a_new_hire_in_the_new_company_dates_from_the_new_start() -> None:
    first = hire()
    moved = then(first, legal_entity="le-de", hire_date=date(2025, 9, 1))
    decision = classify_version(first, moved)
    assert decision.change is WorkerChange.TRANSFERRED
    assert decision.ended == EndedEmployment("le-us", date(2025, 8, 31))


@pytest.mark.parametrize(
    ("change", "field", "consumer"),
    [
        ({"manager_id": "wrk-9"}, "manager_id", "psa"),
        ({"org_unit": "ou-cloud"}, "org_unit_id", "erp"),
        ({"work_country": "CA"}, "work_country", "rm"),
        ({"work_calendar": "cal-ca"}, "work_calendar_id", "rm"),
        ({"role": "role-manager"}, "role_id", "rm"),
        ({"status": "on_leave"}, "status", "rm"),
        ({"email": "ada.l@example.com"}, "email", "psa"),
    ],
)
def test_a_consumed_field_changed_is_an_update_for_its_consumers(
    change: dict[str, object], field: str, consumer: str
) -> None:
    first = hire()
    decision = classify_version(first, then(first, **change))
    assert decision.change is WorkerChange.UPDATED
    assert decision.changed_fields == (field,)
    assert consumer in consumers_of(decision.changed_fields)


def test_an_update_takes_effect_on_the_hris_date_or_else_the_day_it_was_written() -> None:
    first = hire()
    dated = then(first, manager_id="wrk-9", effective_date=date(2025, 7, 1))
    undated = then(first, manager_id="wrk-9", updated_at=datetime(2025, 6, 20, 23, tzinfo=UTC))
    assert classify_version(first, dated).effective_date == date(2025, 7, 1)
    assert classify_version(first, undated).effective_date == date(2025, 6, 20)


def test_only_the_employer_hears_of_a_home_currency_change() -> None:
    assert consumers_of(["home_currency"]) == {"erp"}
    assert consumers_of([]) == frozenset()


def test_a_redelivery_and_a_change_nobody_consumes_are_no_change() -> None:
    first = hire()
    assert classify_version(first, first).change is WorkerChange.NO_CHANGE
    renamed = then(first, updated_at=datetime(2025, 6, 3, tzinfo=UTC))  # a name: never read
    assert classify_version(first, renamed) == WorkerDecision(WorkerChange.NO_CHANGE)
    starts = then(first, status="pre_hire")
    assert classify_version(starts, then(starts, status="active")).change is WorkerChange.NO_CHANGE


def test_an_older_version_than_the_one_known_is_stale_and_keeps_the_known_state() -> None:
    first = hire()
    second = then(first, manager_id="wrk-9")
    state, decision = apply_version(second, first)
    assert decision.change is WorkerChange.STALE
    assert not decision.publishes
    assert state is second


def test_an_unknown_hris_status_is_refused_rather_than_guessed() -> None:
    with pytest.raises(UnknownWorkerStatusError, match="suspended"):
        worker_status(hire(status="suspended"), TODAY)


def test_on_leave_and_past_last_day_statuses_follow_the_dates() -> None:
    assert worker_status(hire(status="on_leave"), TODAY) is WorkerStatus.ON_LEAVE
    ended = hire(termination_date=date(2025, 6, 15))
    assert worker_status(ended, TODAY) is WorkerStatus.TERMINATED
    assert worker_status(ended, date(2025, 6, 15)) is WorkerStatus.ACTIVE  # the last day worked


# -- any delivery order converges --------------------------------------------------------------

_STEPS = st.sampled_from(["manager", "org", "terminate", "rehire", "transfer", "touch", "leave"])


def _history(steps: list[str]) -> list[WorkerVersion]:
    """A worker's versions 1..n, each a plausible HRIS change of the one before."""
    versions = [hire()]
    for number, step in enumerate(steps, start=2):
        last = versions[-1]
        day = date(2025, 6, 2).replace(year=2025 + number)
        changes: dict[str, dict[str, object]] = {
            "manager": {"manager_id": f"wrk-{number}"},
            "org": {"org_unit": f"ou-{number}"},
            "terminate": {"termination_date": day},
            "rehire": {"termination_date": None, "hire_date": day},
            "transfer": {"legal_entity": f"le-{number}"},
            "touch": {},
            "leave": {"status": "on_leave" if last.status != "on_leave" else "active"},
        }
        versions.append(replace(last, version=number, **changes[step]))  # type: ignore[arg-type]
    return versions


@settings(max_examples=300)
@given(steps=st.lists(_STEPS, max_size=8), data=st.data())
def test_any_order_of_deliveries_keeps_the_newest_and_never_acts_on_an_older_one(
    steps: list[str], data: st.DataObject
) -> None:
    history = _history(steps)
    deliveries = data.draw(st.permutations(history))
    deliveries += data.draw(st.lists(st.sampled_from(history), max_size=4))  # redeliveries
    state: WorkerVersion | None = None
    acted_on: list[int] = []
    for version in deliveries:
        state, decision = apply_version(state, version)
        if decision.publishes:
            acted_on.append(version.version)
    assert state == history[-1]
    assert acted_on == sorted(set(acted_on))  # strictly newer each time: nothing after a newer
    assert acted_on[0] == deliveries[0].version  # the first seen is always acted on (a hire)


@settings(max_examples=200)
@given(steps=st.lists(_STEPS, min_size=1, max_size=8))
def test_in_order_every_consumed_change_is_acted_on_exactly_once(steps: list[str]) -> None:
    history = _history(steps)
    state: WorkerVersion | None = None
    outcomes = []
    for version in [*history, *history]:  # then the whole feed again
        state, decision = apply_version(state, version)
        outcomes.append(decision.change)
    assert outcomes[0] is WorkerChange.HIRED
    quiet = {WorkerChange.NO_CHANGE, WorkerChange.STALE}
    expected_quiet = [step == "touch" for step in steps]
    assert [change in quiet for change in outcomes[1 : len(history)]] == expected_quiet
    assert all(change in quiet for change in outcomes[len(history) :])
