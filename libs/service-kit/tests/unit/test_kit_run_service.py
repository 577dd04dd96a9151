"""``run_service`` and ``service_app``: what a ``ServiceDefinition`` turns into, before anything
connects."""

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import SecretStr

from tandem_connectors.inbound import Inbound
from tandem_service_kit import (
    Resources,
    ServiceDefinition,
    ServiceSettings,
    Wiring,
    run_service,
    service_app,
)

PSA = Inbound(system="psa", feeds=(), webhook_subjects=frozenset({"time_entry"}))
PARKED = "/v1/parked"
INBOUND = "/v1/inbound/psa/psa-main"
COMPANY = "/v1/legal-entities/le-de/erp-company"

own = APIRouter(prefix="/v1/own")


@own.get("/things")
async def list_things() -> list[str]:
    """List the service's own things."""
    return []


async def never_wired(_: Resources[ServiceSettings]) -> Wiring:
    raise AssertionError("nothing is wired before the lifespan")


def settings() -> ServiceSettings:
    return ServiceSettings(service_name="kit-test", api_keys={SecretStr("k"): frozenset()})


def definition(
    inbound: tuple[Inbound, ...] = (), writes_to_erp: bool = False
) -> ServiceDefinition[ServiceSettings]:
    return ServiceDefinition(
        name="kit-test",
        settings=settings,
        wire=never_wired,
        routers=[own],
        inbound=inbound,
        writes_to_erp=writes_to_erp,
    )


async def answer(app: FastAPI, method: str, path: str) -> int:
    """The status ``app`` answers, its lifespan not run (nothing connected, nothing wired)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit.test") as client:
        return (await client.request(method, path)).status_code


@pytest.mark.parametrize("argv", [[], ["serve"], ["api", "extra"]])
def test_an_unknown_command_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_service(definition(), argv, prog="kit-test") == 2

    assert "usage: kit-test" in capsys.readouterr().err


def test_invalid_settings_are_reported_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TANDEM_SERVICE_NAME", "Not_Kebab")
    invalid = ServiceDefinition(name="kit-test", settings=ServiceSettings, wire=never_wired)

    for command in ("api", "worker", "migrate"):
        assert run_service(invalid, [command]) == 2

        err = capsys.readouterr().err
        assert "invalid settings" in err
        assert "Traceback" not in err


async def test_every_service_serves_its_routes_the_parking_lot_and_the_probes() -> None:
    app = service_app(definition(), settings())

    assert await answer(app, "GET", "/v1/own/things") == 200
    assert await answer(app, "DELETE", PARKED) == 405  # served, for GET
    assert await answer(app, "DELETE", f"{PARKED}/replay") == 405  # served, for POST
    assert await answer(app, "GET", "/healthz") == 200
    assert await answer(app, "POST", INBOUND) == 404
    assert await answer(app, "PUT", COMPANY) == 404


async def test_webhooks_are_served_only_for_a_service_with_inbound_systems() -> None:
    app = service_app(definition(inbound=(PSA,)), settings())

    assert await answer(app, "GET", INBOUND) == 405  # served, for POST
    assert await answer(app, "PUT", COMPANY) == 404


async def test_company_links_are_served_only_for_a_service_that_writes_to_an_erp() -> None:
    app = service_app(definition(writes_to_erp=True), settings())

    assert await answer(app, "DELETE", COMPANY) == 405  # served, for GET and PUT
    assert await answer(app, "POST", INBOUND) == 404


def test_company_links_are_described_with_their_parameters() -> None:
    app = service_app(definition(writes_to_erp=True), settings())

    operations = app.openapi()["paths"]["/v1/legal-entities/{legal_entity_id}/erp-company"]

    read = {(p["name"], p["in"]) for p in operations["get"]["parameters"]}
    assert read == {("legal_entity_id", "path"), ("instance", "query")}
    link = {(p["name"], p["in"]) for p in operations["put"]["parameters"]}
    assert link == {("legal_entity_id", "path")}
    assert "requestBody" in operations["put"]
