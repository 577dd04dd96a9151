"""A tenant's CRM stages, their canonical statuses, and what a change of status means."""

import pytest

from project_sync.domain import (
    DEFAULT_STAGE_MAP,
    StageChange,
    StageMap,
    UnknownStageError,
    classify,
)
from tandem_contracts.entities import OpportunityStatus as S


@pytest.mark.parametrize(
    ("stage", "status"),
    [
        ("Prospecting", S.OPEN),
        ("Qualification", S.OPEN),
        ("Proposal", S.OPEN),
        ("Negotiation", S.OPEN),
        ("Closed Won", S.COMMITTED),
        ("Closed Lost", S.LOST),
        ("closed  won", S.COMMITTED),  # case and spacing as CRMs vary them
        ("  CLOSED LOST ", S.LOST),
    ],
)
def test_the_default_map_is_salesforces(stage: str, status: S) -> None:
    assert StageMap().status_of(stage) is status


def test_an_unknown_stage_is_an_error_not_a_guess() -> None:
    with pytest.raises(UnknownStageError) as unknown:
        StageMap().status_of("Closed Won (pending legal)")
    assert unknown.value.stage == "Closed Won (pending legal)"


def test_a_tenant_maps_its_own_stages() -> None:
    stages = StageMap({"Verbal yes": S.COMMITTED, "Contract signed": S.COMMITTED, "Dead": S.LOST})

    assert stages.status_of("verbal yes") is S.COMMITTED
    assert stages.status_of("Dead") is S.LOST
    with pytest.raises(UnknownStageError):
        stages.status_of("Closed Won")


def test_a_map_without_a_committing_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="committing stage"):
        StageMap({"Open": S.OPEN, "Lost": S.LOST})


def test_the_default_map_cannot_be_changed_by_accident() -> None:
    with pytest.raises(TypeError):
        DEFAULT_STAGE_MAP["Closed Won"] = S.LOST  # type: ignore[index]


@pytest.mark.parametrize(
    ("previous", "new", "change"),
    [
        (None, S.OPEN, StageChange.NONE),
        (None, S.COMMITTED, StageChange.COMMIT),
        (None, S.LOST, StageChange.LOSE),
        (S.OPEN, S.OPEN, StageChange.NONE),
        (S.OPEN, S.COMMITTED, StageChange.COMMIT),
        (S.OPEN, S.LOST, StageChange.LOSE),
        (S.COMMITTED, S.COMMITTED, StageChange.NONE),
        (S.COMMITTED, S.OPEN, StageChange.REOPEN),
        (S.COMMITTED, S.REOPENED, StageChange.REOPEN),
        (S.COMMITTED, S.LOST, StageChange.LOSE),
        (S.LOST, S.LOST, StageChange.NONE),
        (S.LOST, S.OPEN, StageChange.NONE),  # back in the pipeline: nothing was made
        (S.LOST, S.COMMITTED, StageChange.COMMIT),  # won after all: a new generation
        (S.REOPENED, S.COMMITTED, StageChange.COMMIT),
        (S.REOPENED, S.OPEN, StageChange.NONE),
        (S.OPEN, S.REOPENED, StageChange.NONE),
    ],
)
def test_a_status_change_is_classified(previous: S | None, new: S, change: StageChange) -> None:
    assert classify(previous, new) is change
