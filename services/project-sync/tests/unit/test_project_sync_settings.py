"""project-sync's settings from TANDEM_* variables: defaults, parsing, and refusals."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from project_sync.domain.saga import Step
from project_sync.settings import DEFAULT_STEP_TIMEOUTS_S, Settings
from tandem_contracts.entities import OpportunityStatus


def test_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    names = (
        "STAGE_MAP",
        "ENTITY_CURRENCIES",
        "STEP_TIMEOUTS_S",
        "BATCH_SIZE",
        "WATCHDOG_INTERVAL_S",
    )
    for name in (*names, "COMMIT_TO_ACTIVE_SLO_S"):
        monkeypatch.delenv(f"TANDEM_{name}", raising=False)

    settings = Settings()

    assert settings.service_name == "project-sync"
    assert settings.stages().status_of("Closed Won") is OpportunityStatus.COMMITTED
    assert settings.entity_currencies == {}  # from the reference data
    assert settings.step_timeouts_s == DEFAULT_STEP_TIMEOUTS_S
    assert settings.step_limits()[Step.AWAITING_SOW] == timedelta(days=14)
    assert settings.commit_to_active_slo_s == 3600
    assert settings.watchdog_interval_s == 60
    assert settings.batch_size == 4


def test_the_stage_map_comes_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_STAGE_MAP", '{"Verbal yes": "committed", "Dead": "lost"}')

    stages = Settings().stages()

    assert stages.status_of("verbal yes") is OpportunityStatus.COMMITTED
    assert stages.status_of("Dead") is OpportunityStatus.LOST


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TANDEM_STAGE_MAP", '{"Open": "open", "Dead": "lost"}'),  # nothing commits
        ("TANDEM_STAGE_MAP", '{"Won": "won"}'),  # no such status
        ("TANDEM_STEP_TIMEOUTS_S", '{"validating": 60}'),  # no such step
        ("TANDEM_STEP_TIMEOUTS_S", '{"validate": 0}'),
        ("TANDEM_ENTITY_CURRENCIES", '{"le-de": ["EURO"]}'),
        ("TANDEM_BATCH_SIZE", "9"),  # saga steps call systems: batches stay small
        ("TANDEM_WATCHDOG_INTERVAL_S", "0"),
    ],
)
def test_a_bad_setting_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()


def test_step_timeouts_and_entity_currencies_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_STEP_TIMEOUTS_S", '{"validate": 60, "activating": 1.5}')
    monkeypatch.setenv("TANDEM_ENTITY_CURRENCIES", '{"le-de": ["EUR", "CHF"]}')

    settings = Settings()

    assert settings.step_limits() == {
        Step.VALIDATE: timedelta(seconds=60),
        Step.ACTIVATING: timedelta(seconds=1.5),
    }
    assert settings.entity_currencies == {"le-de": frozenset({"EUR", "CHF"})}
