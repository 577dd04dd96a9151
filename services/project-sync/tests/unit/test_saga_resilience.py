"""Crashes, redeliveries, reordering and operators: the saga stays one saga with one project."""

import pytest

from project_sync.domain import ActionRefusedError
from project_sync.domain.saga import (
    CancelRequested,
    CodeWrittenBack,
    CreateErpShell,
    ErpShellCreated,
    Event,
    PsaShellCreated,
    ResumeRequested,
    RetryRequested,
    SetupChecked,
    Step,
    StepFailed,
    StepSucceeded,
    decide,
    work_of,
)

from .q2c import OPP, Driver, at, committed, lost, proposed, reopened, sow_approved


def test_re_running_a_transition_from_a_persisted_state_gives_the_same_decision() -> None:
    saga = decide(None, committed()).saga
    persisted = decide(saga, SetupChecked(OPP, 1, at(1), proposed())).saga
    event = StepSucceeded(OPP, 1, at(2), ErpShellCreated("erp-3", "P-0003"))

    first, again = decide(persisted, event), decide(persisted, event)

    assert first == again
    assert first.commands == work_of(first.saga)


def test_a_crash_after_each_write_resumes_with_the_same_keys_and_makes_nothing_twice() -> None:
    driver = Driver()
    driver.hear(committed(), carry_out=False)

    while driver.step() is not Step.AWAITING_SOW:
        persisted = driver.saga
        work = work_of(persisted)
        for command in work:
            driver.world.carry_out(command, persisted)  # done in the system; then a crash
        # Restarted: the persisted state stands for the same work, under the same keys.
        assert work_of(persisted) == work
        for command in work:
            answer = driver.world.carry_out(command, persisted)
            if answer is not None:
                driver.hear(answer, carry_out=False)

    assert len(driver.world.erp) == 1
    assert len(driver.world.psa) == 1
    assert len(driver.world.crm_codes) == 1
    creates = [c for c in driver.world.writes if isinstance(c, CreateErpShell)]
    assert len(creates) == 2  # issued again after the crash...
    assert len({c.key for c in creates}) == 1  # ...under the same key


def test_the_work_of_a_held_or_settled_saga_is_nothing() -> None:
    driver = Driver()
    driver.hear(committed())
    assert work_of(driver.saga) == ()  # awaiting the statement of work
    driver.hear(sow_approved())
    assert work_of(driver.saga) == ()  # active


@pytest.mark.parametrize(
    "duplicate",
    [committed(1), sow_approved(1), StepSucceeded(OPP, 1, at(3), PsaShellCreated("psa-x"))],
)
def test_a_redelivered_event_changes_nothing(duplicate: Event) -> None:
    driver = Driver()
    driver.hear(committed(1))
    driver.hear(sow_approved(1))
    before = driver.saga

    decision = decide(before, duplicate)

    assert decision.saga is before
    assert decision.commands == ()


def test_a_loss_delivered_before_the_commit_it_followed_leaves_no_project() -> None:
    driver = Driver()

    driver.hear(lost(version=2))
    driver.hear(committed(version=1))

    assert driver.saga.generation == 0
    assert driver.step() is Step.NOT_STARTED
    assert driver.world.erp == {}


def test_a_loss_before_a_later_commit_starts_the_project_at_the_commit() -> None:
    driver = Driver()

    driver.hear(lost(version=1))
    driver.hear(committed(version=2))

    assert driver.saga.generation == 1
    assert driver.step() is Step.AWAITING_SOW


def test_a_stale_reopening_after_a_newer_commit_is_ignored() -> None:
    driver = Driver()
    driver.hear(committed(version=3))

    decision = driver.hear(reopened(version=2))

    assert decision.commands == ()
    assert driver.step() is Step.AWAITING_SOW


def test_a_result_of_an_ended_generation_never_moves_the_next_one() -> None:
    driver = Driver()
    driver.hear(committed(1))
    driver.hear(lost(2))
    driver.hear(committed(3))
    current = driver.saga

    decision = decide(current, StepSucceeded(OPP, 1, at(200), CodeWrittenBack()))

    assert decision.saga is current


def test_an_event_about_another_opportunity_is_refused() -> None:
    saga = decide(None, committed()).saga
    with pytest.raises(ValueError, match=OPP):
        decide(saga, StepSucceeded("opp-2", 1, at(1), CodeWrittenBack()))


def test_transient_failures_are_counted_and_retried_by_an_operator() -> None:
    saga = decide(None, committed()).saga
    saga = decide(saga, SetupChecked(OPP, 1, at(1), proposed())).saga
    for minute in (2, 3):
        failed = decide(
            saga, StepFailed(OPP, 1, at(minute), Step.ERP_SHELL, True, "timeout", "30 s")
        )
        assert failed.commands == ()
        saga = failed.saga
    assert saga.attempts == 2
    assert saga.last_error == "timeout: 30 s"
    assert saga.state == "erp_shell"  # not held: a transient error is retried

    retried = decide(saga, RetryRequested(OPP, at(10)))

    assert [type(c) for c in retried.commands] == [CreateErpShell]
    assert retried.saga.last_error is None


def test_a_failure_reported_for_another_step_is_ignored() -> None:
    saga = decide(None, committed()).saga
    decision = decide(saga, StepFailed(OPP, 1, at(1), Step.PSA_SHELL, False, "refused"))
    assert decision.saga is saga


def test_a_business_refusal_holds_the_step_until_resumed() -> None:
    saga = decide(None, committed()).saga
    saga = decide(saga, SetupChecked(OPP, 1, at(1), proposed())).saga
    failed = decide(saga, StepFailed(OPP, 1, at(2), Step.ERP_SHELL, False, "invalid_party"))
    assert failed.saga.state == "failed"
    assert failed.commands == ()
    with pytest.raises(ActionRefusedError, match="cannot retry a saga that is failed"):
        decide(failed.saga, RetryRequested(OPP, at(3)))

    resumed = decide(failed.saga, ResumeRequested(OPP, at(4)))

    assert resumed.saga.failure is None
    assert [type(c) for c in resumed.commands] == [CreateErpShell]


@pytest.mark.parametrize(
    ("action", "state"),
    [
        (ResumeRequested(OPP, at(5)), "awaiting_sow"),
        (RetryRequested(OPP, at(5)), "active"),
        (CancelRequested(OPP, at(5)), "cancelled"),
    ],
)
def test_operator_actions_the_state_does_not_allow_are_refused(action: Event, state: str) -> None:
    driver = Driver()
    driver.hear(committed())
    if state == "active":
        driver.hear(sow_approved())
    if state == "cancelled":
        driver.hear(lost())
    assert driver.saga.state == state

    with pytest.raises(ActionRefusedError) as refused:
        decide(driver.saga, action)

    assert refused.value.state == state


def test_an_operator_cancel_before_any_shell_ends_the_saga() -> None:
    saga = decide(None, committed()).saga
    decision = decide(saga, CancelRequested(OPP, at(1)))
    assert decision.saga.step is Step.CANCELLED
    assert decision.commands == ()
