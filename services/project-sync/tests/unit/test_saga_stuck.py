"""A saga past its step's configured time is stuck, and raises one alert per visit."""

from datetime import timedelta

import pytest

from project_sync.domain import Problem, ProblemCode
from project_sync.domain.keys import customer_key
from project_sync.domain.saga import (
    PublishStuck,
    SetupChecked,
    Step,
    StepFailed,
    decide,
    is_stuck,
    watch,
)

from .q2c import OPP, Driver, at, committed, lost, proposed, sow_approved

LIMITS = {
    Step.VALIDATE: timedelta(minutes=5),
    Step.ERP_SHELL: timedelta(minutes=15),
    Step.AWAITING_SOW: timedelta(days=14),
}


def test_a_saga_within_its_step_time_is_not_stuck_and_past_it_is() -> None:
    saga = decide(None, committed()).saga  # entered validate at minute 0

    assert is_stuck(saga, at(5), LIMITS) is None  # exactly at the limit: not yet
    stuck = is_stuck(saga, at(5.5), LIMITS)

    assert stuck is not None
    assert (stuck.step, stuck.since, stuck.generation) == (Step.VALIDATE, at(0), 1)


def test_the_clock_starts_again_at_each_step() -> None:
    saga = decide(None, committed()).saga
    saga = decide(saga, SetupChecked(OPP, 1, at(4), proposed())).saga

    assert is_stuck(saga, at(10), LIMITS) is None  # 6 min after commit, 6 at erp_shell
    assert is_stuck(saga, at(19.1), LIMITS) is not None


def test_a_stuck_saga_says_what_holds_it() -> None:
    saga = decide(None, committed()).saga
    waiting = decide(saga, SetupChecked(OPP, 1, at(1), proposed())).saga
    waiting = decide(
        waiting, StepFailed(OPP, 1, at(2), Step.ERP_SHELL, False, "invalid_party", "no tax id")
    ).saga

    stuck = is_stuck(waiting, at(30), LIMITS)

    assert stuck is not None
    assert stuck.reason == "refused: invalid_party: no tax id"


def test_a_waiting_saga_is_stuck_with_its_dependency() -> None:
    saga = decide(None, committed()).saga
    waits = Problem(ProblemCode.CUSTOMER_UNKNOWN, "customer_id", "?", customer_key("c"), True)
    saga = decide(saga, SetupChecked(OPP, 1, at(1), proposed(), (waits,))).saga

    stuck = is_stuck(saga, at(6), LIMITS)

    assert stuck is not None
    assert stuck.waiting_for == "customer:c"


def test_a_step_without_a_limit_and_settled_sagas_are_never_stuck() -> None:
    driver = Driver()
    driver.hear(committed())
    at_sow = driver.saga
    assert is_stuck(at_sow, at(14 * 24 * 60 - 1), LIMITS) is None
    assert is_stuck(at_sow, at(15 * 24 * 60), LIMITS) is not None
    assert is_stuck(at_sow, at(15 * 24 * 60), {}) is None

    driver.hear(sow_approved())
    assert is_stuck(driver.saga, at(10**6), {step: timedelta(0) for step in Step}) is None
    driver.hear(lost())
    assert is_stuck(driver.saga, at(10**6), {step: timedelta(0) for step in Step}) is None


def test_the_watchdog_alerts_once_per_visit() -> None:
    saga = decide(None, committed()).saga

    first = watch(saga, at(6), LIMITS)
    again = watch(first.saga, at(7), LIMITS)

    assert first.commands == (
        PublishStuck(
            OPP, 1, Step.VALIDATE, at(0), None, None, f"project:{OPP}:g1:stuck:0:validate"
        ),
    )
    assert again.commands == ()
    # Stuck again at the next step: a new alert, under a new key.
    moved = decide(again.saga, SetupChecked(OPP, 1, at(8), proposed())).saga
    later = watch(moved, at(30), LIMITS)
    assert [c.key for c in later.commands if isinstance(c, PublishStuck)] == [
        f"project:{OPP}:g1:stuck:1:erp_shell"
    ]


@pytest.mark.parametrize("minutes", [0, 4.9])
def test_the_watchdog_leaves_a_saga_in_time_alone(minutes: float) -> None:
    saga = decide(None, committed()).saga
    decision = watch(saga, at(minutes), LIMITS)
    assert decision.saga is saga
    assert decision.commands == ()
