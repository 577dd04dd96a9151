"""Compensation: an opportunity lost or reopened after commit, or a saga cancelled by an
operator, undoes what the commit created — cancelled when nothing was logged, closed for time
and flagged for finance otherwise, never deleted."""

from datetime import date

import pytest

from project_sync.domain.keys import Write, project_id, write_key
from project_sync.domain.saga import (
    PROJECT_HAS_ACTIVITY,
    Activity,
    ActivityCounted,
    CancelRequested,
    CancelShells,
    Cause,
    CloseForTimeAndFlag,
    CountActivity,
    ErpShellCreated,
    Event,
    FlagReason,
    PublishClosedForTime,
    PublishProjectCancelled,
    PublishProjectFlagged,
    SetupChecked,
    ShellsCancelled,
    ShellsClosedForTime,
    Step,
    StepFailed,
    StepSucceeded,
    decide,
)

from .q2c import OPP, Driver, at, committed, lost, proposed, reopened, sow_approved

PID = project_id(OPP, 1)


def announced(driver: Driver) -> list[str]:
    return [type(command).__name__ for command in driver.world.announced]


def test_lost_before_any_shell_just_ends() -> None:
    saga = decide(None, committed()).saga

    decision = decide(saga, lost())

    assert decision.saga.step is Step.CANCELLED
    assert decision.commands == ()
    assert decision.saga.compensation is not None
    assert decision.saga.compensation.cause is Cause.LOST


def test_lost_while_waiting_for_validation_just_ends() -> None:
    saga = decide(None, committed()).saga
    saga = decide(saga, SetupChecked(OPP, 1, at(1), proposed())).saga  # now at erp_shell
    assert saga.step is Step.ERP_SHELL

    decision = decide(saga, reopened())

    # A create may be in flight: count what exists under the creation keys first.
    assert decision.saga.step is Step.COMPENSATING
    assert decision.commands == (
        CountActivity(
            PID, write_key(OPP, 1, Write.ERP_SHELL), write_key(OPP, 1, Write.PSA_SHELL), None, None
        ),
    )


def test_an_in_flight_create_that_never_landed_ends_with_nothing_to_undo() -> None:
    saga = decide(None, committed()).saga
    saga = decide(saga, SetupChecked(OPP, 1, at(1), proposed())).saga
    saga = decide(saga, lost()).saga

    decision = decide(saga, ActivityCounted(OPP, 1, at(61), Activity()))

    assert decision.saga.step is Step.CANCELLED
    assert decision.commands == ()  # no project was ever announced


def test_lost_after_the_shell_without_time_cancels_both_shells() -> None:
    driver = Driver()
    driver.hear(committed())
    assert driver.step() is Step.AWAITING_SOW

    driver.hear(lost(minutes=60))

    assert driver.step() is Step.CANCELLED
    assert [r.status for r in driver.world.erp.values()] == ["cancelled"]
    assert [r.status for r in driver.world.psa.values()] == ["cancelled"]
    cancel = driver.world.writes[-1]
    assert cancel == CancelShells(
        PID,
        "erp-1",
        f"psa-{write_key(OPP, 1, Write.PSA_SHELL)}",
        write_key(OPP, 1, Write.ERP_CANCEL),
        write_key(OPP, 1, Write.PSA_CANCEL),
    )
    assert driver.world.announced[-1] == PublishProjectCancelled(
        PID, OPP, Cause.LOST, f"project:{OPP}:g1:ProjectCancelled"
    )
    # It was never open for time, so time-expense needs no closing.
    assert "PublishClosedForTime" not in announced(driver)


def test_an_active_project_without_time_is_cancelled_and_closed_for_time() -> None:
    driver = Driver()
    driver.hear(committed())
    driver.hear(sow_approved())
    assert driver.step() is Step.ACTIVE

    driver.hear(reopened(minutes=24 * 60))

    assert driver.step() is Step.CANCELLED
    assert announced(driver)[-2:] == ["PublishProjectCancelled", "PublishClosedForTime"]
    closed = driver.world.announced[-1]
    assert isinstance(closed, PublishClosedForTime)
    assert closed.closed_from == date(2026, 11, 3)


@pytest.mark.parametrize(
    ("withdraw", "reason"),
    [
        (lost(minutes=3 * 24 * 60), FlagReason.LOST_AFTER_TIME_LOGGED),
        (reopened(minutes=3 * 24 * 60), FlagReason.REOPENED_AFTER_TIME_LOGGED),
        (CancelRequested(OPP, at(3 * 24 * 60)), FlagReason.CANCELLED_AFTER_TIME_LOGGED),
    ],
)
def test_a_project_with_time_is_closed_for_time_and_flagged_never_cancelled(
    withdraw: Event, reason: FlagReason
) -> None:
    driver = Driver()
    driver.hear(committed())
    driver.hear(sow_approved())
    driver.world.log_time("erp-1")

    driver.hear(withdraw)

    assert driver.step() is Step.FLAGGED_FOR_FINANCE
    assert [r.status for r in driver.world.erp.values()] == ["closed"]
    assert [r.status for r in driver.world.psa.values()] == ["closed"]
    assert not any(isinstance(c, CancelShells) for c in driver.world.writes)
    close = driver.world.writes[-1]
    assert isinstance(close, CloseForTimeAndFlag)
    assert close.reason is reason
    assert close.closed_from == date(2026, 11, 5)
    assert driver.world.announced[-2:] == [
        PublishClosedForTime(
            PID, date(2026, 11, 5), reason.value, f"project:{OPP}:g1:ProjectClosedForTime"
        ),
        PublishProjectFlagged(PID, OPP, reason, f"project:{OPP}:g1:ProjectFlaggedForFinance"),
    ]


@pytest.mark.parametrize(
    "activity",
    [
        Activity(time_entries=1),
        Activity(expense_entries=2),
        Activity(charges=1),
        Activity(invoiced=True),
    ],
)
def test_any_kind_of_activity_keeps_the_project(activity: Activity) -> None:
    driver = Driver()
    driver.hear(committed())
    saga = driver.hear(lost(), carry_out=False).saga

    decision = decide(saga, ActivityCounted(OPP, 1, at(61), activity))

    assert [type(c) for c in decision.commands] == [CloseForTimeAndFlag]


def test_time_logged_between_the_count_and_the_cancel_turns_it_into_close_and_flag() -> None:
    driver = Driver()
    driver.hear(committed())
    saga = driver.hear(lost(), carry_out=False).saga
    counted = decide(saga, ActivityCounted(OPP, 1, at(61), Activity()))
    assert [type(c) for c in counted.commands] == [CancelShells]

    # The ERP refuses: someone booked time in between.
    refused = decide(
        counted.saga, StepFailed(OPP, 1, at(62), Step.COMPENSATING, False, PROJECT_HAS_ACTIVITY)
    )

    assert [type(c) for c in refused.commands] == [CloseForTimeAndFlag]
    ended = decide(refused.saga, StepSucceeded(OPP, 1, at(63), ShellsClosedForTime()))
    assert ended.saga.step is Step.FLAGGED_FOR_FINANCE


def test_a_result_that_does_not_match_the_count_is_ignored() -> None:
    driver = Driver()
    driver.hear(committed())
    saga = driver.hear(lost(), carry_out=False).saga
    counted = decide(saga, ActivityCounted(OPP, 1, at(61), Activity(time_entries=3)))

    stray = decide(counted.saga, StepSucceeded(OPP, 1, at(62), ShellsCancelled()))

    assert stray.saga is counted.saga
    assert stray.commands == ()


def test_another_business_refusal_while_compensating_fails_for_an_operator() -> None:
    driver = Driver()
    driver.hear(committed())
    saga = driver.hear(lost(), carry_out=False).saga
    counted = decide(saga, ActivityCounted(OPP, 1, at(61), Activity()))

    refused = decide(
        counted.saga,
        StepFailed(OPP, 1, at(62), Step.COMPENSATING, False, "project_locked", "by finance"),
    )

    assert refused.saga.state == "failed"
    assert refused.saga.failure is not None
    assert refused.saga.failure.detail == "project_locked: by finance"
    assert refused.commands == ()


def test_a_shell_reported_after_the_saga_ended_without_it_is_compensated_too() -> None:
    saga = decide(None, committed()).saga
    saga = decide(saga, SetupChecked(OPP, 1, at(1), proposed())).saga
    saga = decide(saga, lost()).saga
    saga = decide(saga, ActivityCounted(OPP, 1, at(61), Activity())).saga
    assert saga.step is Step.CANCELLED

    # The ERP's answer to the create that was in flight arrives at last.
    late = decide(saga, StepSucceeded(OPP, 1, at(62), ErpShellCreated("erp-5", "P-0005")))

    assert late.saga.step is Step.COMPENSATING
    assert late.saga.erp_project_ref == "erp-5"
    assert [type(c) for c in late.commands] == [CountActivity]


def test_a_lost_opportunity_committed_again_starts_a_new_generation_with_new_keys() -> None:
    driver = Driver()
    driver.hear(committed(1))
    driver.hear(lost(2))
    assert driver.step() is Step.CANCELLED

    driver.hear(committed(3, minutes=120))

    assert sorted(driver.sagas) == [1, 2]
    assert driver.sagas[1].step is Step.CANCELLED
    assert driver.saga.generation == 2
    assert driver.saga.project_id != PID
    assert driver.step() is Step.AWAITING_SOW
    # Two ERP shells, under two keys: the new one was not found as the cancelled one.
    assert sorted(driver.world.erp) == [
        write_key(OPP, 1, Write.ERP_SHELL),
        write_key(OPP, 2, Write.ERP_SHELL),
    ]
    assert [r.status for r in driver.world.erp.values()] == ["cancelled", "shell"]


def test_a_commit_during_compensation_starts_the_next_generation_once_it_ends() -> None:
    driver = Driver()
    driver.hear(committed(1))
    saga = driver.hear(reopened(2), carry_out=False).saga
    assert saga.step is Step.COMPENSATING

    recommitted = driver.hear(committed(3, minutes=70), carry_out=False)
    assert recommitted.saga.step is Step.COMPENSATING
    assert recommitted.commands == ()

    driver.resume()

    assert driver.sagas[1].step is Step.CANCELLED
    assert driver.sagas[1].recommit is None
    assert driver.saga.generation == 2
    assert driver.step() is Step.AWAITING_SOW


def test_a_loss_after_a_pending_recommit_cancels_the_recommit() -> None:
    driver = Driver()
    driver.hear(committed(1))
    driver.hear(reopened(2), carry_out=False)
    driver.hear(committed(3), carry_out=False)
    driver.hear(lost(4), carry_out=False)

    driver.resume()

    assert sorted(driver.sagas) == [1]
    assert driver.step() is Step.CANCELLED
