"""Signed webhooks landed by a service's api (``service_app``) on real PostgreSQL and RabbitMQ."""

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, Depends
from pydantic import SecretStr

import tandem_connectors
import tandem_messaging
from tandem_connectors.inbound import Inbound
from tandem_connectors.webhooks import sign
from tandem_service_kit import (
    InboundSource,
    Resources,
    ServiceDefinition,
    ServiceSettings,
    Wiring,
    apply_migrations,
    service_app,
    wired,
)

SECRET = b"psa-webhook-secret-7d1c"
PSA = Inbound(system="psa", feeds=(), webhook_subjects=frozenset({"time_entry"}))
URL = "/v1/inbound/psa/psa-main"
LANDED = "SELECT record_type, record_id, version, via, payload::text FROM connectors.inbound"
DELIVERIES = "SELECT delivery_id FROM connectors.webhook_deliveries ORDER BY delivery_id"


def not_in_the_api(_: object) -> NoReturn:
    raise AssertionError("ingestion belongs to the worker")


def source(instance: str, secret: bytes) -> InboundSource:
    return InboundSource(
        PSA, instance, ingestion=not_in_the_api, webhook_secret=SecretStr(secret.decode())
    )


async def wire(resources: Resources[ServiceSettings]) -> Wiring:
    # One configured instance, and one whose secret was never set.
    sources = [source("psa-main", SECRET), source("psa-unset", b"")]
    return Wiring(sources=sources, deps={"service": resources.settings.service_name})


own = APIRouter(prefix="/v1/own")


@own.get("/deps")
async def read_deps(deps: Annotated[dict[str, str], Depends(wired)]) -> dict[str, str]:
    """Answer the dependencies the composition root wired."""
    return deps


def event(subject: str = "time_entry", record_id: Any = "te-1", version: Any = 3) -> bytes:
    record = {"id": record_id, "version": version, "minutes": 90}
    return json.dumps({"subject": {"type": subject}, "data": record}).encode()


def signed(body: bytes, delivery: str, *, secret: bytes = SECRET, age_s: int = 0) -> dict[str, str]:
    stamp = int(time.time()) - age_s
    return {"X-Tandem-Signature": sign(secret, body, stamp), "X-Tandem-Delivery": delivery}


@dataclass
class Api:
    client: httpx.AsyncClient
    pool: asyncpg.Pool

    async def deliver(self, body: bytes, headers: dict[str, str], url: str = URL) -> httpx.Response:
        return await self.client.post(url, content=body, headers=headers)

    async def landed(self) -> list[asyncpg.Record]:
        return list(await self.pool.fetch(LANDED))

    async def deliveries(self) -> list[str]:
        return [row[0] for row in await self.pool.fetch(DELIVERIES)]


@pytest.fixture
async def api(database_url: str, amqp_url: str) -> AsyncIterator[Api]:
    # The schemas are in place, as `python -m <service> migrate` leaves them.
    await apply_migrations(
        database_url, [tandem_messaging.MIGRATIONS, tandem_connectors.MIGRATIONS]
    )
    settings = ServiceSettings(
        service_name="kit-inbound", database_url=database_url, amqp_url=amqp_url
    )
    definition = ServiceDefinition(
        name="kit-inbound", settings=lambda: settings, wire=wire, routers=[own], inbound=(PSA,)
    )
    app = service_app(definition, settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://kit.test"
        ) as client,
    ):
        yield Api(client, app.state.pool)


async def test_a_signed_delivery_lands_its_record_once(api: Api) -> None:
    body = event()

    accepted = await api.deliver(body, signed(body, "d-1"))
    replayed = await api.deliver(body, signed(body, "d-1"))
    # The same record version under another delivery id is accepted, and not landed again.
    again = await api.deliver(body, signed(body, "d-2"))

    assert accepted.status_code == 202
    assert accepted.json() == {"delivery_id": "d-1", "landed": True, "record_type": "time_entry"}
    assert replayed.status_code == 409
    assert replayed.json()["detail"].startswith("replayed:")
    assert (again.status_code, again.json()["landed"]) == (202, False)
    [row] = await api.landed()
    assert (row["record_type"], row["record_id"], row["version"], row["via"]) == (
        "time_entry", "te-1", 3, "webhook",
    )  # fmt: skip
    assert json.loads(row["payload"])["minutes"] == 90
    assert await api.deliveries() == ["d-1", "d-2"]


async def test_a_body_changed_after_signing_or_no_delivery_id_is_401(api: Api) -> None:
    body, tampered = event(version=3), event(version=4)
    without_id = signed(body, "d-1")
    del without_id["X-Tandem-Delivery"]

    changed = await api.deliver(tampered, signed(body, "d-1"))
    anonymous = await api.deliver(body, without_id)

    assert (changed.status_code, anonymous.status_code) == (401, 401)
    assert changed.json()["detail"].startswith("bad_signature:")
    assert anonymous.json()["detail"].startswith("unsigned:")
    assert await api.landed() == []
    assert await api.deliveries() == []


@pytest.mark.parametrize(
    ("signing", "reason"),
    [
        ({"secret": b"someone-elses-secret"}, "bad_signature"),
        ({"age_s": 3600}, "stale"),
        (None, "unsigned"),
    ],
    ids=["bad-signature", "stale", "unsigned"],
)
async def test_a_delivery_not_signed_right_is_401_and_lands_nothing(
    api: Api, signing: dict[str, Any] | None, reason: str
) -> None:
    body = event()
    headers = signed(body, "d-1", **signing) if signing is not None else {}

    refused = await api.deliver(body, headers)

    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"].startswith(f"{reason}:")
    assert await api.landed() == []
    assert await api.deliveries() == []


async def test_an_instance_without_a_secret_refuses_even_the_empty_key(api: Api) -> None:
    body = event()

    refused = await api.deliver(body, signed(body, "d-1", secret=b""), "/v1/inbound/psa/psa-unset")

    assert refused.status_code == 401
    assert refused.json()["detail"].startswith("not_configured:")
    assert await api.landed() == []
    assert await api.deliveries() == []


@pytest.mark.parametrize("url", ["/v1/inbound/psa/psa-elsewhere", "/v1/inbound/crm/psa-main"])
async def test_an_unknown_instance_is_404(api: Api, url: str) -> None:
    body = event()

    missing = await api.deliver(body, signed(body, "d-1"), url)

    assert missing.status_code == 404
    assert await api.landed() == []
    assert await api.deliveries() == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        json.dumps({"subject": {"type": "time_entry"}}).encode(),
        json.dumps({"subject": {"type": "time_entry"}, "data": "te-1"}).encode(),
        event(version="3"),
        event(version=3.0),
        event(record_id=7),
    ],
    ids=[
        "not-json",
        "no-data",
        "data-not-a-record",
        "version-a-string",
        "version-a-float",
        "id-a-number",
    ],
)
async def test_a_malformed_body_is_400_and_the_fixed_body_may_be_resent(
    api: Api, body: bytes
) -> None:
    refused = await api.deliver(body, signed(body, "d-1"))

    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("malformed:")
    assert await api.landed() == []
    # The delivery id was not kept: the sender fixes its body and sends it again under it.
    assert await api.deliveries() == []
    fixed = event()
    accepted = await api.deliver(fixed, signed(fixed, "d-1"))
    assert (accepted.status_code, accepted.json()["landed"]) == (202, True)
    assert len(await api.landed()) == 1


async def test_a_subject_not_landed_is_acknowledged_and_dropped(api: Api) -> None:
    body = event(subject="project", record_id="p-1")

    answer = await api.deliver(body, signed(body, "d-1"))

    assert answer.status_code == 202
    assert answer.json() == {"delivery_id": "d-1", "landed": False, "record_type": None}
    assert await api.landed() == []
    assert await api.deliveries() == ["d-1"]  # accepted: a resend is a replay


async def test_the_services_own_routes_get_what_its_wire_built(api: Api) -> None:
    answer = await api.client.get("/v1/own/deps")

    assert (answer.status_code, answer.json()) == (200, {"service": "kit-inbound"})
