"""Signed webhooks landed by a service's api (``service_app``) on real PostgreSQL and RabbitMQ."""

import hashlib
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
from tandem_connectors.inbound import Inbound, RecordRejected, publish_landed
from tandem_connectors.landing import Landed
from tandem_connectors.webhooks import sign
from tandem_contracts import Envelope
from tandem_messaging import Outbox
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
READER = "tk_inbound_reader_41c9"
OPERATOR = "tk_inbound_operator_7be2"
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
    signature = sign(secret, body, stamp, delivery=delivery)
    return {"X-Tandem-Signature": signature, "X-Tandem-Delivery": delivery}


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
        service_name="kit-inbound", database_url=database_url, amqp_url=amqp_url,
        api_keys={READER: ["inbound:read"], OPERATOR: ["inbound:read", "inbound:write"]},  # type: ignore[dict-item]
        # psa-unset has no secret: only a development run starts so, and refuses its webhooks.
        dev_mode=True,
    )  # fmt: skip
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


def raw_event(data: bytes, subject: bytes = b'{"type": "time_entry"}') -> bytes:
    return b'{"subject": ' + subject + b', "data": ' + data + b"}"


DEEP = b'{"id": "te-1", "version": 3, "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (event(version=2**70), "its 'version' must be an integer from 0 to 2**63 - 1"),
        (raw_event(b'{"id": "te-1", "version": 3, "minutes": 9223372036854775808}'),
         "$.minutes is an integer beyond 64 bits"),
        (raw_event(b'{"id": "te-1", "version": 3, "note": "\\u0000"}'), "NUL character"),
        (raw_event(b'{"id": "te-1", "version": 3, "note": "\\ud800"}'), "unpaired surrogate"),
        (DEEP, "the body is nested too deeply"),
        (event(record_id="t" * 10_240), "its 'id' must be text of 1 to 128 characters"),
        (raw_event(b'{"id": "te-1", "version": 3}', b'{"type": 7}'), "subject's 'type' must"),
        (raw_event(b'{"id": "te-1", "version": 3}', b'{"type": "' + b"t" * 200 + b'"}'),
         "subject's 'type' must be text of 1 to 64 characters"),
        (raw_event(b'{"id": "te-1", "version": 3, "rate": Infinity}'), "not a JSON number"),
    ],
    ids=["version-2**70", "integer-beyond-64-bits", "nul", "lone-surrogate", "deeply-nested",
         "id-10-kb", "subject-type-a-number", "subject-type-long",
         "infinity"],
)  # fmt: skip
async def test_a_signed_body_of_an_unexpected_shape_is_400_with_why_and_lands_nothing(
    api: Api, body: bytes, why: str
) -> None:
    refused = await api.deliver(body, signed(body, "d-1"))

    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert why in refused.json()["detail"]
    assert await api.landed() == []
    assert await api.deliveries() == []
    # The sender fixes its body and sends it again under the same delivery id: it lands.
    fixed = event()
    accepted = await api.deliver(fixed, signed(fixed, "d-1"))
    assert (accepted.status_code, accepted.json()["landed"]) == (202, True)
    assert len(await api.landed()) == 1


async def test_a_captured_delivery_resent_under_a_new_delivery_id_is_401(api: Api) -> None:
    body = event()
    captured = signed(body, "d-1")
    assert (await api.deliver(body, captured)).status_code == 202

    resent = await api.deliver(body, {**captured, "X-Tandem-Delivery": "d-2"})

    assert resent.status_code == 401
    assert resent.json()["reason"] == "bad_signature"
    assert await api.deliveries() == ["d-1"]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Tandem-Signature": f"t={int(time.time())},v1={'0' * 64}", "X-Tandem-Delivery": "d-1"},
         "signature_version"),
        ({"X-Tandem-Signature": "t=1,v2=" + "0" * 64, "X-Tandem-Delivery": "d" * 129},
         "malformed_delivery"),
        ({"X-Tandem-Signature": "t=1,v2=" + "0" * 64 + "," * 300, "X-Tandem-Delivery": "d-1"},
         "malformed_signature"),
    ],
    ids=["v1", "delivery-id-too-long", "signature-header-too-long"],
)  # fmt: skip
async def test_a_v1_signature_or_malformed_headers_are_401_with_the_reason(
    api: Api, headers: dict[str, str], reason: str
) -> None:
    refused = await api.deliver(event(), headers)

    assert (refused.status_code, refused.json()["reason"]) == (401, reason)
    assert await api.landed() == []
    assert await api.deliveries() == []


SET_ASIDE = f"{URL}/set-aside"


class RejectingIngestion:
    """Sets aside every record: none has the field its mapping needs yet."""

    def order_key(self, landed: Landed) -> str:
        return landed.record_id

    def acts_on(self, landed: Landed) -> bool:
        return True

    async def translate(self, landed: Landed) -> list[Envelope[Any]]:
        raise RecordRejected(f"{landed.record_id}: no project")


async def set_aside(api: Api, *record_ids: str) -> None:
    """Land the records by signed webhooks and let an ingestion pass set them aside."""
    for n, record_id in enumerate(record_ids):
        body = event(record_id=record_id)
        assert (await api.deliver(body, signed(body, f"d-{n}"))).status_code == 202
    settled = await publish_landed(
        api.pool, "psa", "psa-main", lambda db: RejectingIngestion(), Outbox()
    )
    assert settled == len(record_ids)


async def test_set_aside_records_are_listed_page_by_page_with_why(api: Api) -> None:
    await set_aside(api, "te-1", "te-2", "te-3")
    key = {"X-API-Key": READER}

    first = await api.client.get(SET_ASIDE, params={"limit": 2}, headers=key)
    after = first.json()["next_after"]
    second = await api.client.get(SET_ASIDE, params={"limit": 2, "after": after}, headers=key)

    assert (first.status_code, second.status_code) == (200, 200)
    items = first.json()["items"] + second.json()["items"]
    assert [i["record_id"] for i in items] == ["te-1", "te-2", "te-3"]
    assert second.json()["next_after"] is None
    assert items[0]["reason"] == "RecordRejected: te-1: no project"
    assert (items[0]["record_type"], items[0]["version"], items[0]["via"]) == (
        "time_entry", 3, "webhook",
    )  # fmt: skip
    assert items[0]["replayable"] is True
    assert items[0]["landed_at"] <= items[0]["set_aside_at"]


async def test_replaying_set_aside_records_is_audited_with_the_caller(api: Api) -> None:
    await set_aside(api, "te-1", "te-2", "te-3")
    listed = (await api.client.get(SET_ASIDE, headers={"X-API-Key": OPERATOR})).json()["items"]
    chosen = [listed[0]["sequence"], listed[2]["sequence"]]

    replayed = await api.client.post(
        f"{SET_ASIDE}/replay", json={"ids": chosen, "why": "minutes fixed in the mapping"},
        headers={"X-API-Key": OPERATOR},
    )  # fmt: skip

    assert replayed.status_code == 200
    assert replayed.json()["count"] == 2
    assert replayed.json()["ids"] == chosen
    left = (await api.client.get(SET_ASIDE, headers={"X-API-Key": READER})).json()["items"]
    assert [i["record_id"] for i in left] == ["te-2"]
    pending = await api.pool.fetch(
        "SELECT record_id FROM connectors.inbound WHERE status = 'pending' ORDER BY sequence"
    )
    assert [row[0] for row in pending] == ["te-1", "te-3"]
    [audit] = await api.pool.fetch(
        "SELECT id, system, instance, actor, claimed_actor, reason, requested, replayed"
        " FROM connectors.inbound_replay_audit"
    )
    fingerprint = hashlib.sha256(OPERATOR.encode()).hexdigest()[:12]
    assert dict(audit) == {
        "id": replayed.json()["audit_id"], "system": "psa", "instance": "psa-main",
        "actor": f"api-key:{fingerprint}", "claimed_actor": None,
        "reason": "minutes fixed in the mapping", "requested": chosen, "replayed": chosen,
    }  # fmt: skip


async def test_replaying_all_takes_every_set_aside_record_of_the_source(api: Api) -> None:
    await set_aside(api, "te-1", "te-2")

    replayed = await api.client.post(
        f"{SET_ASIDE}/replay", json={"all": True, "why": "mapping fixed"},
        headers={"X-API-Key": OPERATOR},
    )  # fmt: skip

    assert (replayed.status_code, replayed.json()["count"]) == (200, 2)
    left = await api.client.get(SET_ASIDE, headers={"X-API-Key": READER})
    assert left.json() == {"items": [], "next_after": None}
    requested = await api.pool.fetchval("SELECT requested FROM connectors.inbound_replay_audit")
    assert requested is None  # all of the source


@pytest.mark.parametrize(
    ("method", "path", "key", "status"),
    [
        ("GET", SET_ASIDE, None, 401),
        ("GET", SET_ASIDE, "not-a-key", 401),
        ("POST", f"{SET_ASIDE}/replay", None, 401),
        ("POST", f"{SET_ASIDE}/replay", READER, 403),
        ("GET", "/v1/inbound/psa/psa-elsewhere/set-aside", READER, 404),
        ("POST", "/v1/inbound/crm/psa-main/set-aside/replay", OPERATOR, 404),
    ],
)
async def test_set_aside_routes_need_their_scope_and_a_configured_source(
    api: Api, method: str, path: str, key: str | None, status: int
) -> None:
    await set_aside(api, "te-1")
    headers = {"X-API-Key": key} if key else {}
    body = {"all": True, "why": "try"}

    answer = await api.client.request(method, path, json=body, headers=headers)

    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert await api.pool.fetchval("SELECT count(*) FROM connectors.inbound_replay_audit") == 0
    assert (
        await api.pool.fetchval("SELECT count(*) FROM connectors.inbound WHERE status = 'rejected'")
        == 1
    )


@pytest.mark.parametrize(
    ("body", "statuses"),
    [
        ({"why": "nothing selected"}, {422}),
        ({"ids": [1], "all": True, "why": "both"}, {422}),
        ({"all": True, "why": "   "}, {422}),
        ({"all": True}, {422}),
        ({"all": True, "why": "x", "consumer": "widened"}, {422}),
        ({"ids": [0], "why": "not a sequence"}, {422}),
        # Refused by the schema, or before the route reads a body with a NUL escape (400).
        ({"all": True, "why": "nul \u0000"}, {400, 422}),
    ],
    ids=["no-selection", "ids-and-all", "blank-why", "no-why", "unknown-field", "sequence-0",
         "nul-in-why"],
)  # fmt: skip
async def test_a_replay_must_select_records_and_say_why(
    api: Api, body: dict[str, Any], statuses: set[int]
) -> None:
    await set_aside(api, "te-1")

    refused = await api.client.post(
        f"{SET_ASIDE}/replay", json=body, headers={"X-API-Key": OPERATOR}
    )

    assert refused.status_code in statuses
    assert await api.pool.fetchval("SELECT count(*) FROM connectors.inbound_replay_audit") == 0
