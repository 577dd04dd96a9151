"""The parking lot over HTTP against real PostgreSQL, RabbitMQ and the messaging runtime."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import aio_pika
import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from tandem_contracts import Envelope, Producer, SystemKind, encode
from tandem_contracts.events import OpportunityLost, TimeApproved
from tandem_contracts.samples import sample_envelopes
from tandem_messaging import (
    MIGRATIONS,
    Consumer,
    ConsumerSettings,
    HandlerContext,
    PermanentError,
    Router,
    declare_events_exchange,
)
from tandem_service_kit import Authenticator, ServiceSettings, apply_migrations, parking_router
from tandem_service_kit._problems import install_problem_handlers
from tandem_testing import eventually

READER = "tk_parked_reader_5f1e2d"
OPERATOR = "tk_parked_operator_9a8b7c"
QUEUE = "kit.parking"
FAST = ConsumerSettings(
    retry_delays=(0.2,), max_attempts=2, concurrency=4, probe_backoff=(0.05, 0.5), shutdown_grace=5
)
EFFECT = "INSERT INTO effects (event_id, subject) VALUES ($1, $2)"
AUDIT = """
SELECT id, actor, reason, action, message_ids FROM messaging.replay_audit ORDER BY replayed_at
"""


def lost(key: str) -> Envelope[OpportunityLost]:
    payload = OpportunityLost(
        opportunity_id=key,
        stage="Closed Lost",
        reason="budget",
        lost_at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    )
    return Envelope.new(
        payload,
        producer=Producer(service="project-sync", system=SystemKind.CRM),
        tenant_id="acme",
        legal_entity_id="le-de",
        data_residency_region="eu",
        correlation_id=f"corr-{key}",
        subject_version=1,
    )


APPROVED: Envelope[TimeApproved] = next(
    e for e in sample_envelopes() if e.event_type == "TimeApproved"
)


async def publish(connection: aio_pika.abc.AbstractConnection, *envelopes: Envelope[Any]) -> None:
    channel = await connection.channel(publisher_confirms=True)
    try:
        exchange = await declare_events_exchange(channel)
        for envelope in envelopes:
            message = aio_pika.Message(encode(envelope), message_id=str(envelope.event_id))
            await exchange.publish(message, routing_key=envelope.routing_key)
    finally:
        await channel.close()


@dataclass
class Lot:
    """A service's API and its consumer, with four messages parked."""

    client: httpx.AsyncClient
    pool: asyncpg.Pool
    operator: str  # the audited subject of the OPERATOR key
    fixed: set[str] = field(default_factory=set)

    async def effects(self) -> list[str]:
        return [row["subject"] for row in await self.pool.fetch("SELECT subject FROM effects")]

    async def get(self, path: str, key: str = OPERATOR, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers={"X-API-Key": key})

    async def post(self, path: str, body: dict[str, Any], key: str = OPERATOR) -> httpx.Response:
        return await self.client.post(path, json=body, headers={"X-API-Key": key})


def build_router(fixed: set[str]) -> Router:
    router = Router(service="kit-test")

    async def handle(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        if envelope.event_type not in fixed:
            reason = "customer_unknown" if envelope.event_type == "OpportunityLost" else "closed"
            raise PermanentError(reason, f"cannot handle {envelope.subject.id} yet")
        await ctx.connection.execute(EFFECT, envelope.event_id, envelope.subject.id)

    router.handles(OpportunityLost)(handle)
    router.handles(TimeApproved)(handle)
    return router


def build_app(settings: ServiceSettings, pool: asyncpg.Pool, broker: Any) -> FastAPI:
    app = FastAPI()
    app.state.pool, app.state.broker = pool, broker
    app.state.authenticator = Authenticator.from_settings(settings)
    install_problem_handlers(app)
    app.include_router(parking_router())
    return app


@pytest.fixture
async def lot(database_url: str, amqp_url: str) -> AsyncIterator[Lot]:
    # The runtime's schema is in place, as `python -m <service> migrate` leaves it.
    await apply_migrations(database_url, [MIGRATIONS])
    scopes = {"parked:read", "parked:replay", "parked:discard"}
    settings = ServiceSettings(
        service_name="kit-test",
        api_keys={READER: ["parked:read"], OPERATOR: sorted(scopes)},  # type: ignore[dict-item]
    )
    async with (
        asyncpg.create_pool(database_url, min_size=1, max_size=8) as pool,
        await aio_pika.connect_robust(amqp_url) as broker,
    ):
        await pool.execute("CREATE TABLE effects (event_id uuid, subject text)")
        app = build_app(settings, pool, broker)
        operator = (await app.state.authenticator.authenticate(None, OPERATOR)).subject
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kit.test") as client:
            parked = Lot(client, pool, operator)
            async with Consumer(
                build_router(parked.fixed), queue=QUEUE, pool=pool, connection=broker, settings=FAST
            ):
                # Three opportunities for an unknown customer, one time entry on a closed project.
                await publish(broker, lost("opp-1"), lost("opp-2"), lost("opp-3"), APPROVED)
                await eventually(lambda: _parked(pool, 4), what="four parked messages")
                yield parked


async def _parked(pool: asyncpg.Pool, n: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM messaging.parked")) == n


async def test_listing_filters_and_pages(lot: Lot) -> None:
    # Pages of two: the first points at the next, the last points nowhere.
    first = (await lot.get("/v1/parked", limit=2)).json()
    assert len(first["items"]) == 2
    assert first["next_after"] == first["items"][-1]["id"]
    second = (await lot.get("/v1/parked", limit=2, after=first["next_after"])).json()
    assert len(second["items"]) == 2
    assert second["next_after"] is None
    ids = [item["id"] for item in first["items"] + second["items"]]
    assert len(set(ids)) == 4
    everything = (await lot.get("/v1/parked")).json()
    assert [item["id"] for item in everything["items"]] == ids
    assert everything["next_after"] is None

    # Filters narrow the listing.
    [entry] = (await lot.get("/v1/parked", event_type="TimeApproved")).json()["items"]
    assert (entry["reason"], entry["consumer"]) == ("closed", QUEUE)
    assert entry["event_id"] == str(APPROVED.event_id)
    refused = (await lot.get("/v1/parked", consumer=QUEUE, reason="customer_unknown")).json()
    assert {item["event_type"] for item in refused["items"]} == {"OpportunityLost"}
    assert len(refused["items"]) == 3
    assert (await lot.get("/v1/parked", consumer="nobody")).json() == {
        "items": [],
        "next_after": None,
    }
    assert (await lot.get("/v1/parked", status="discarded")).json()["items"] == []
    assert (await lot.get("/v1/parked", status="lost")).status_code == 422


async def test_credentials_and_scopes_are_required(lot: Lot) -> None:
    # No credentials, or unknown ones: 401 as a problem.
    anonymous = await lot.client.get("/v1/parked")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert (await lot.get("/v1/parked", key="tk_nobody")).status_code == 401

    # A reader reads but can neither replay nor discard, and nothing changes.
    assert (await lot.get("/v1/parked", key=READER)).status_code == 200
    body = {"consumer": QUEUE, "why": "try it"}
    replayed = await lot.post("/v1/parked/replay", body, key=READER)
    assert replayed.status_code == 403
    assert replayed.json()["detail"] == "missing scope: parked:replay"
    discarded = await lot.post("/v1/parked/discard", body, key=READER)
    assert discarded.status_code == 403
    assert discarded.json()["detail"] == "missing scope: parked:discard"
    assert (await lot.post("/v1/parked/replay", body, key="")).status_code == 401
    assert len((await lot.get("/v1/parked")).json()["items"]) == 4
    assert await lot.pool.fetch(AUDIT) == []


async def test_inspecting_redacts_notes_and_unknown_ids_are_404(lot: Lot) -> None:
    [entry] = (await lot.get("/v1/parked", event_type="TimeApproved")).json()["items"]

    shown = await lot.get(f"/v1/parked/{entry['id']}", key=READER)

    assert shown.status_code == 200
    detail = shown.json()
    assert (detail["id"], detail["queue"], detail["decode_error"]) == (entry["id"], QUEUE, None)
    assert detail["body_size"] == len(encode(APPROVED))
    payload = detail["envelope"]["payload"]
    assert payload["entry"]["notes"] == "[redacted]"
    assert payload["entry"]["id"] == APPROVED.payload.entry.id
    assert APPROVED.payload.entry.notes
    assert APPROVED.payload.entry.notes not in shown.text
    assert isinstance(detail["headers"], dict)

    unknown = await lot.get("/v1/parked/0190f5e2-0000-7000-8000-000000000000")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["detail"] == "no parked message 0190f5e2-0000-7000-8000-000000000000"
    assert (await lot.get("/v1/parked/not-a-uuid")).status_code == 404  # no such path


async def test_a_replay_is_handled_and_audited_with_the_callers_subject(lot: Lot) -> None:
    [entry] = (await lot.get("/v1/parked", event_type="TimeApproved")).json()["items"]
    lot.fixed.add("TimeApproved")  # the project is reopened

    response = await lot.post("/v1/parked/replay", {"ids": [entry["id"]], "why": " reopened "})

    assert response.status_code == 200
    result = response.json()
    assert (result["count"], result["ids"]) == (1, [entry["id"]])
    # The consumer handles it this time: its effect is committed.
    await eventually(lambda: _has(lot, APPROVED.payload.entry.id), what="the replayed effect")
    [audit] = await lot.pool.fetch(AUDIT)
    assert (audit["actor"], audit["reason"], audit["action"]) == (
        lot.operator,
        "reopened",
        "replay",
    )
    assert audit["actor"].startswith("api-key:")
    assert list(audit["message_ids"]) == [UUID(entry["id"])]
    assert result["action_id"] == str(audit["id"])
    replayed = (await lot.get("/v1/parked", status="replayed")).json()["items"]
    assert [item["id"] for item in replayed] == [entry["id"]]


async def _has(lot: Lot, subject: str) -> bool:
    return subject in await lot.effects()


async def test_a_discard_is_audited_and_a_later_replay_selects_nothing(lot: Lot) -> None:
    selector = {"consumer": QUEUE, "reason": "customer_unknown"}

    response = await lot.post("/v1/parked/discard", {**selector, "why": "test tenant noise"})

    assert response.status_code == 200
    result = response.json()
    assert result["count"] == 3
    discarded = (await lot.get("/v1/parked", status="discarded")).json()["items"]
    assert sorted(item["id"] for item in discarded) == sorted(result["ids"])
    assert {item["status"] for item in discarded} == {"discarded"}
    [still] = (await lot.get("/v1/parked")).json()["items"]
    assert still["event_type"] == "TimeApproved"

    # Even with the cause fixed, a replay of the same selection matches nothing: 200, count 0.
    lot.fixed.add("OpportunityLost")
    again = await lot.post("/v1/parked/replay", {**selector, "why": "changed my mind"})
    assert again.status_code == 200
    assert (again.json()["count"], again.json()["ids"]) == (0, [])
    audits = await lot.pool.fetch(AUDIT)
    assert [(a["actor"], a["action"], a["reason"]) for a in audits] == [
        (lot.operator, "discard", "test tenant noise"),
        (lot.operator, "replay", "changed my mind"),
    ]
    assert await lot.effects() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"why": "no selector"}, "body"),
        ({"ids": [], "why": "empty ids select nothing"}, "body"),
        ({"consumer": QUEUE}, "body.why"),
        ({"consumer": QUEUE, "why": "   "}, "body.why"),
        ({"consumer": QUEUE, "why": "x" * 501}, "body.why"),
        ({"consumer": QUEUE, "why": "w", "actor": "someone-else"}, "body.actor"),
        ({"ids": ["not-a-uuid"], "why": "w"}, "body.ids.0"),
    ],
    ids=["no-selector", "empty-ids", "no-why", "blank-why", "long-why", "actor", "bad-id"],
)
async def test_invalid_actions_are_refused_with_the_field_named(
    lot: Lot, body: dict[str, Any], field: str
) -> None:
    for action in ("replay", "discard"):
        response = await lot.post(f"/v1/parked/{action}", body)

        assert response.status_code == 422
        assert field in [error["field"] for error in response.json()["errors"]]
    assert len((await lot.get("/v1/parked")).json()["items"]) == 4
    assert await lot.pool.fetch(AUDIT) == []


async def test_a_selection_by_several_selectors_takes_only_what_matches_all(lot: Lot) -> None:
    [entry] = (await lot.get("/v1/parked", event_type="TimeApproved")).json()["items"]
    body = {"ids": [entry["id"]], "event_type": "OpportunityLost", "why": "mismatch"}

    response = await lot.post("/v1/parked/discard", body)

    assert (response.status_code, response.json()["count"]) == (200, 0)
    assert len((await lot.get("/v1/parked")).json()["items"]) == 4
