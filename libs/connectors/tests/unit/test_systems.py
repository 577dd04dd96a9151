"""Systems of record from settings: JSON maps in TANDEM_* variables become one adapter each."""

import json
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from pydantic import ValidationError

from tandem_connectors.ports import ErpObject
from tandem_connectors.rest import RestCrm, RestErp, RestHris, RestPsa
from tandem_connectors.routing import ResidencyViolation
from tandem_connectors.systems import SystemsSettings, open_systems
from tandem_connectors.tryton import TrytonErp
from tandem_service_kit import ServiceSettings

# Hosts under .invalid never resolve: building must not need them to.
ERP_INSTANCES = {
    "tryton-us": {
        "kind": "tryton", "url": "http://tryton-us.invalid:8000", "database": "acme_us",
        "regions": ["us"],
        "password": "tryton-pw",  # pragma: allowlist secret
    },
    "erp-eu": {
        "kind": "rest", "url": "http://erp-eu.invalid", "regions": ["eu"],
        "requests_per_second": 5, "burst": 2,
        "webhook_secret": "erp-eu-secret",  # pragma: allowlist secret
    },
}  # fmt: skip
ENVIRONMENT = {
    "TANDEM_ERP_INSTANCES": ERP_INSTANCES,
    "TANDEM_ERP_BY_REGION": {"us": "tryton-us", "eu": "erp-eu"},
    "TANDEM_ERP_BY_LEGAL_ENTITY": {"le-ch": "erp-eu"},
    "TANDEM_PSA_INSTANCES": {
        "kantata-acme": {
            "url": "http://psa.invalid",
            "webhook_secret": "psa-secret",  # pragma: allowlist secret
        }
    },
    "TANDEM_CRM_INSTANCES": {"salesforce-acme": {"url": "http://crm.invalid", "timeout_s": 5}},
    "TANDEM_HRIS_INSTANCES": {"workday-acme": {"url": "http://hris.invalid"}},
}


class Settings(ServiceSettings, SystemsSettings):
    """A service's settings, composed the way every service composes them."""

    service_name: str = "systems-test"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables of ``ENVIRONMENT``, each a JSON map."""
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, json.dumps(value))


@pytest.mark.usefixtures("environment")
def test_instances_and_routes_are_read_from_json_maps_in_the_environment() -> None:
    settings = Settings()
    us, eu = settings.erp_instances["tryton-us"], settings.erp_instances["erp-eu"]
    assert (us.kind, us.database, us.user) == ("tryton", "acme_us", "admin")
    assert us.regions == frozenset({"us"})
    assert us.password.get_secret_value() == "tryton-pw"
    assert (us.requests_per_second, us.burst, us.webhook_secret.get_secret_value()) == (50, 50, "")
    assert (eu.kind, eu.database, eu.requests_per_second, eu.burst) == ("rest", None, 5.0, 2)
    assert settings.erp_by_region == {"us": "tryton-us", "eu": "erp-eu"}
    assert settings.erp_by_legal_entity == {"le-ch": "erp-eu"}
    psa = settings.psa_instances["kantata-acme"]
    assert (psa.url, psa.webhook_secret.get_secret_value()) == ("http://psa.invalid", "psa-secret")
    assert (psa.requests_per_second, psa.burst, psa.timeout_s) == (20.0, 20, 30.0)
    assert settings.crm_instances["salesforce-acme"].timeout_s == 5.0
    assert list(settings.hris_instances) == ["workday-acme"]
    assert "tryton-pw" not in repr(settings)


def test_nothing_configured_is_no_systems(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.erp_instances, settings.psa_instances, settings.erp_by_region) == ({}, {}, {})


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("TANDEM_ERP_BY_REGION", {"apac": "tryton-in"}, "names 'tryton-in', which is not config"),
        ("TANDEM_ERP_BY_LEGAL_ENTITY", {"le-in": "erp-apac"}, "names 'erp-apac'"),
        (
            "TANDEM_ERP_INSTANCES",
            {"tryton-us": {"kind": "tryton", "url": "http://tryton-us.invalid:8000"}},
            "a tryton instance needs its database",
        ),
        (
            "TANDEM_PSA_INSTANCES",
            {"kantata-acme": {"url": "http://psa.invalid", "signing_key": "k"}},
            "signing_key",
        ),
        ("TANDEM_CRM_INSTANCES", {"salesforce-acme": {"url": ""}}, "url"),
        ("TANDEM_HRIS_INSTANCES", {"workday-acme": {"url": "http://h", "burst": 0}}, "burst"),
    ],
)
@pytest.mark.usefixtures("environment")
def test_a_configuration_that_cannot_work_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: Any, complaint: str
) -> None:
    if variable == "TANDEM_ERP_INSTANCES":
        value = {**ERP_INSTANCES, **value}
    monkeypatch.setenv(variable, json.dumps(value))
    with pytest.raises(ValidationError, match=complaint):
        Settings()


@pytest.mark.usefixtures("environment")
async def test_open_systems_builds_one_adapter_per_instance_and_the_stack_closes_them() -> None:
    settings = Settings()
    async with AsyncExitStack() as stack:
        systems = open_systems(settings, stack)
        assert {name: type(erp) for name, erp in systems.erps.items()} == {
            "tryton-us": TrytonErp, "erp-eu": RestErp
        }  # fmt: skip
        assert {name: type(psa) for name, psa in systems.psas.items()} == {"kantata-acme": RestPsa}
        assert {name: type(crm) for name, crm in systems.crms.items()} == {
            "salesforce-acme": RestCrm
        }
        assert {name: type(h) for name, h in systems.hrises.items()} == {"workday-acme": RestHris}
        instances = [
            *(erp.instance for erp in systems.erps.values()),
            *(psa.instance for psa in systems.psas.values()),
            *(crm.instance for crm in systems.crms.values()),
            *(hris.instance for hris in systems.hrises.values()),
        ]
        assert instances == [*ERP_INSTANCES, "kantata-acme", "salesforce-acme", "workday-acme"]
        # The directory routes over the same adapters, residency enforced.
        directory = systems.erp_directory
        assert directory.target("le-us", "us").erp is systems.erps["tryton-us"]
        assert directory.target("le-de", "eu").erp is systems.erps["erp-eu"]
        assert directory.target("le-ch", "eu").erp is systems.erps["erp-eu"]  # its own route
        with pytest.raises(ResidencyViolation):
            directory.target("le-ch", "us")  # routed to erp-eu, which may hold eu data only
    # Closed with the stack: every adapter refuses to send, before touching any network.
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: systems.erps["tryton-us"].find(ErpObject.COMPANY, "le-us"),
        lambda: systems.erps["erp-eu"].find(ErpObject.COMPANY, "le-de"),
        lambda: systems.psas["kantata-acme"].time_entry("te-1"),
        lambda: systems.crms["salesforce-acme"].account("001"),
        lambda: systems.hrises["workday-acme"].worker("W0042"),
    ]
    for call in calls:
        with pytest.raises(RuntimeError, match="client has been closed"):
            await call()


def test_settings_built_in_code_are_validated_the_same_way() -> None:
    settings = SystemsSettings.model_validate(
        {"erp_instances": ERP_INSTANCES, "erp_by_region": {"eu": "erp-eu"}}
    )
    assert settings.erp_instances["erp-eu"].regions == frozenset({"eu"})
    with pytest.raises(ValidationError, match="not configured"):
        SystemsSettings.model_validate({"erp_by_region": {"eu": "erp-eu"}})
