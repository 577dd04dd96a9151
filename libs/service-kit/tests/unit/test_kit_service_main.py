"""``python -m <service> api|worker|migrate``: what is refused before anything starts."""

import pytest
from fastapi import FastAPI

from tandem_service_kit import ServiceSettings, service_main


def never_called(_: ServiceSettings) -> FastAPI:
    raise AssertionError("the app must not be built")


def settings() -> ServiceSettings:
    return ServiceSettings(service_name="kit-test")


@pytest.mark.parametrize("argv", [[], ["serve"], ["api", "extra"]])
def test_an_unknown_command_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert service_main(argv, settings_factory=settings, app_factory=never_called) == 2

    assert "usage:" in capsys.readouterr().err


def test_invalid_settings_are_reported_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TANDEM_SERVICE_NAME", "Not_Kebab")

    code = service_main(["api"], settings_factory=ServiceSettings, app_factory=never_called)

    assert code == 2
    assert "invalid settings" in capsys.readouterr().err


def test_a_service_without_a_worker_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert service_main(["worker"], settings_factory=settings, app_factory=never_called) == 2

    assert "no worker" in capsys.readouterr().err
