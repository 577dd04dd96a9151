"""The worker HTTP port setting: default, environment, range; no network."""

import pytest
from pydantic import ValidationError

from tandem_service_kit import ServiceSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("TANDEM_SERVICE_NAME", "TANDEM_WORKER_HTTP_PORT", "TANDEM_HTTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_workers_serve_their_endpoints_on_9000_by_default() -> None:
    settings = ServiceSettings(service_name="time-expense")

    assert settings.worker_http_port == 9000
    assert settings.http_host == "127.0.0.1"


@pytest.mark.parametrize(
    ("value", "port"), [("9100", 9100), ("0", 0), ("off", None), ("None", None), ("", 9000)]
)
def test_the_environment_sets_or_disables_the_worker_port(
    monkeypatch: pytest.MonkeyPatch, value: str, port: int | None
) -> None:
    monkeypatch.setenv("TANDEM_WORKER_HTTP_PORT", value)

    assert ServiceSettings(service_name="time-expense").worker_http_port == port


@pytest.mark.parametrize("value", [-1, 65_536, "nine"])
def test_a_worker_port_out_of_range_is_rejected(value: object) -> None:
    with pytest.raises(ValidationError, match="worker_http_port"):
        ServiceSettings.model_validate({"service_name": "time-expense", "worker_http_port": value})
