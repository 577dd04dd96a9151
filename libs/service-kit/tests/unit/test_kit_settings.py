"""ServiceSettings: TANDEM_* parsing, validation, and secrets that never show in a repr."""

import pytest
from pydantic import ValidationError

from tandem_service_kit import ServiceSettings, consumer_settings

SECRET = "s" * 32


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("TANDEM_SERVICE_NAME", "TANDEM_API_KEYS", "TANDEM_JWT_SECRET", "TANDEM_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_point_at_the_local_services() -> None:
    settings = ServiceSettings(service_name="time-expense")

    assert settings.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert settings.database_url == "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8000)
    assert (settings.prefetch, settings.concurrency) == (64, 16)
    assert (settings.log_level, settings.log_format) == ("INFO", "json")
    assert settings.api_keys == {}


def test_environment_variables_carry_the_tandem_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_SERVICE_NAME", "project-sync")
    monkeypatch.setenv("TANDEM_HTTP_PORT", "9100")
    monkeypatch.setenv("TANDEM_PREFETCH", "8")
    monkeypatch.setenv("TANDEM_LOG_LEVEL", "debug")
    monkeypatch.setenv("TANDEM_LOG_FORMAT", "console")
    monkeypatch.setenv("TANDEM_JWT_AUDIENCE", "")  # empty means unset, as Helm renders it

    settings = ServiceSettings()

    assert settings.service_name == "project-sync"
    assert (settings.http_port, settings.prefetch) == (9100, 8)
    assert (settings.log_level, settings.log_format) == ("DEBUG", "console")
    assert settings.jwt_audience is None


@pytest.mark.parametrize("name", ["TimeExpense", "time_expense", "-sync", "sync-", "a--b", "9x"])
def test_service_name_must_be_kebab_case(name: str) -> None:
    with pytest.raises(ValidationError, match="service_name"):
        ServiceSettings(service_name=name)


@pytest.mark.parametrize(
    ("field", "value"),
    [("prefetch", 0), ("prefetch", 10_001), ("concurrency", 0), ("http_port", 70_000)],
)
def test_numbers_out_of_range_are_rejected(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match=field):
        ServiceSettings.model_validate({"service_name": "billing-readiness", field: value})


def test_an_unknown_log_level_is_rejected() -> None:
    with pytest.raises(ValidationError, match="log_level"):
        ServiceSettings(service_name="observability", log_level="LOUD")  # type: ignore[arg-type]


def test_api_keys_come_from_json_and_never_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_API_KEYS", '{"key-one-9f2c": ["time:read"], "key-two-77ab": []}')

    settings = ServiceSettings(service_name="time-expense")

    keys = {key.get_secret_value(): scopes for key, scopes in settings.api_keys.items()}
    assert keys == {"key-one-9f2c": frozenset({"time:read"}), "key-two-77ab": frozenset()}
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "key-one-9f2c" not in text
        assert "key-two-77ab" not in text


def test_passwords_in_urls_and_secrets_never_show_in_repr() -> None:
    settings = ServiceSettings(
        service_name="time-expense",
        database_url="postgresql://svc:pg-pass-31@db:5432/te",
        amqp_url="amqp://svc:mq-pass-47@mq:5672/tandem",
        jwt_secret=SECRET,  # type: ignore[arg-type]
    )

    text = repr(settings)
    assert "pg-pass-31" not in text
    assert "mq-pass-47" not in text
    assert SECRET not in text
    assert "postgresql://svc:***@db:5432/te" in text


def test_a_short_hs256_secret_is_rejected() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        ServiceSettings(service_name="time-expense", jwt_secret="too-short")  # type: ignore[arg-type]


def test_only_one_token_key_source_may_be_configured() -> None:
    with pytest.raises(ValidationError, match="at most one"):
        ServiceSettings(
            service_name="time-expense",
            jwt_secret=SECRET,  # type: ignore[arg-type]
            jwt_jwks_url="https://idp.example/jwks.json",
        )


def test_services_extend_the_settings_with_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    class TimeExpenseSettings(ServiceSettings):
        late_time_days: int = 5

    monkeypatch.setenv("TANDEM_LATE_TIME_DAYS", "9")

    settings = TimeExpenseSettings(service_name="time-expense")

    assert settings.late_time_days == 9


def test_partitions_and_lease_timing_reach_the_consumer_settings() -> None:
    settings = ServiceSettings(
        service_name="svc", partitions=12, partition_heartbeat_s=0.5, partition_lease_ttl_s=3
    )
    consumer = consumer_settings(settings)
    assert (consumer.partitions, consumer.heartbeat_s, consumer.lease_ttl_s) == (12, 0.5, 3.0)
    assert ServiceSettings(service_name="svc").partitions == 8


@pytest.mark.parametrize(
    "changes",
    [
        {"partitions": 0},
        {"partitions": 257},
        {"partition_heartbeat_s": 5, "partition_lease_ttl_s": 5},
    ],
)
def test_partition_settings_that_cannot_work_are_rejected(changes: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        ServiceSettings(service_name="svc", **changes)  # type: ignore[arg-type]


def test_the_inbox_is_kept_two_weeks_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ServiceSettings(service_name="svc").inbox_retention_days == 14

    monkeypatch.setenv("TANDEM_INBOX_RETENTION_DAYS", "2.5")

    assert ServiceSettings(service_name="svc").inbox_retention_days == 2.5


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_an_inbox_retention_out_of_range_is_rejected(days: float) -> None:
    with pytest.raises(ValidationError, match="inbox_retention_days"):
        ServiceSettings.model_validate({"service_name": "svc", "inbox_retention_days": days})
