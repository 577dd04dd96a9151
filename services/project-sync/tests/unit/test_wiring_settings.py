"""The settings the wiring adds: where accounts sell from, where data lives, SOW from the deal."""

import pytest

from project_sync.settings import Settings


def test_accounts_sell_from_their_countrys_entity_else_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TANDEM_ENTITY_BY_COUNTRY", '{"DE": "le-de", "FR": "le-fr"}')
    monkeypatch.setenv("TANDEM_DEFAULT_LEGAL_ENTITY", "le-uk")
    monkeypatch.setenv("TANDEM_ENTITY_REGIONS", '{"le-de": "eu"}')
    monkeypatch.setenv("TANDEM_DEFAULT_REGION", "uk")

    settings = Settings()

    assert settings.legal_entity_of("de") == "le-de"
    assert settings.legal_entity_of("FR") == "le-fr"
    assert settings.legal_entity_of("US") == "le-uk"
    assert settings.region_of("le-de") == "eu"
    assert settings.region_of("le-fr") == "uk"


def test_no_contract_is_made_from_the_deal_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TANDEM_SOW_FROM_OPPORTUNITY", raising=False)
    assert Settings().sow_from_opportunity is False
    monkeypatch.setenv("TANDEM_SOW_FROM_OPPORTUNITY", "true")
    assert Settings().sow_from_opportunity is True


def test_the_resume_sweep_needs_a_positive_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_RESUME_INTERVAL_S", "0")
    with pytest.raises(ValueError, match="greater than 0"):
        Settings()
