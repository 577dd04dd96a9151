"""Settings fail closed: no authentication, or a webhook source without a secret, stops a start."""

import logging

import pytest
from pydantic import SecretStr

from tandem_connectors.inbound import Inbound, Ingestion
from tandem_messaging import DbConnection
from tandem_service_kit import InboundSource, ServiceDefinition, ServiceSettings, Wiring
from tandem_service_kit._insecure import refuse_insecure
from tandem_service_kit._service_main import service_app
from tandem_service_kit.errors import InsecureSettingsError

KEYS = {SecretStr("k"): frozenset({"x:read"})}


def no_ingestion(db: DbConnection) -> Ingestion:
    raise AssertionError("nothing is ingested here")


def source(secret: str, *, webhooks: bool = True) -> InboundSource:
    subjects = frozenset({"deal"}) if webhooks else frozenset()
    inbound = Inbound(system="crm", feeds=(), webhook_subjects=subjects)
    return InboundSource(inbound, "crm-1", no_ingestion, webhook_secret=SecretStr(secret))


def test_no_authentication_refuses_to_start_naming_the_settings() -> None:
    with pytest.raises(InsecureSettingsError, match="TANDEM_API_KEYS"):
        refuse_insecure(ServiceSettings(service_name="svc"))


@pytest.mark.parametrize(
    "auth",
    [
        {"api_keys": KEYS},
        {"jwt_secret": SecretStr("s" * 32)},
        {"jwt_jwks_url": "https://idp.example/jwks"},
    ],
)
def test_any_one_way_to_authenticate_is_enough(auth: dict[str, object]) -> None:
    refuse_insecure(ServiceSettings.model_validate({"service_name": "svc", **auth}))


def test_a_webhook_source_without_a_secret_refuses_to_start() -> None:
    settings = ServiceSettings(service_name="svc", api_keys=KEYS)
    with pytest.raises(InsecureSettingsError, match="crm instance 'crm-1' has no webhook secret"):
        refuse_insecure(settings, [source("")])
    refuse_insecure(settings, [source("s3cret")])
    refuse_insecure(settings, [source("", webhooks=False)])  # a polled-only source needs none


def test_development_mode_starts_with_a_warning_per_open_door(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = ServiceSettings(service_name="svc", dev_mode=True)
    with caplog.at_level(logging.WARNING):
        refuse_insecure(settings, [source("")])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all(w.startswith("development mode: starting although") for w in warnings)


def test_a_service_app_without_authentication_is_never_built() -> None:
    async def wire(resources: object) -> Wiring:
        return Wiring()

    definition = ServiceDefinition(
        name="svc", settings=lambda: ServiceSettings(service_name="svc"), wire=wire
    )
    with pytest.raises(InsecureSettingsError):
        service_app(definition, ServiceSettings(service_name="svc"))
    assert (
        service_app(definition, ServiceSettings(service_name="svc", api_keys=KEYS)).title == "svc"
    )
