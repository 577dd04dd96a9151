"""A legal entity's ERP company, linked by hand or found by key, releases the work waiting for it
(real PostgreSQL, RabbitMQ and consumer; the ERP is a ``FakeErp``)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest

import tandem_connectors
import tandem_messaging
from tandem_connectors.directory import ErpDirectory, company_key
from tandem_connectors.fakes import FakeErp
from tandem_connectors.ports import ErpObject
from tandem_connectors.routing import InstanceRouter
from tandem_connectors.xref import CrossReferences
from tandem_contracts import Envelope, Producer, SystemKind, encode
from tandem_contracts.entities import LegalEntity
from tandem_contracts.events import OpportunityLost
from tandem_messaging import (
    Consumer,
    ConsumerSettings,
    DependencyMissing,
    HandlerContext,
    Router,
    declare_events_exchange,
)
from tandem_service_kit import (
    Consume,
    Resources,
    ServiceDefinition,
    ServiceSettings,
    Wiring,
    apply_migrations,
    service_app,
)
from tandem_service_kit._companies import resolve_companies
from tandem_testing import eventually

LINKER = "tk_links_writer_3c9e1a"
READER = "tk_links_reader_8b2f7d"
QUEUE = "kit.companies"
ERP = "erp-fake"
WAITS_FOR = company_key(ERP, "le-de")
FAST = ConsumerSettings(concurrency=2, probe_backoff=(0.05, 0.5), shutdown_grace=5)
EFFECT = "INSERT INTO effects (event_id, company) VALUES ($1, $2)"
PARKED = "SELECT status, waiting_for FROM messaging.parked WHERE consumer = $1"
AUDIT = """
SELECT canonical_type, canonical_id, system, instance, object_type, external_id, actor, reason
FROM connectors.link_audit ORDER BY id
"""
DE = LegalEntity(
    id="le-de", name="Acme DE", country="DE", functional_currency="EUR", data_residency_region="eu"
)


def router() -> Router:
    """A service whose handler needs the entity's ERP company: it waits until it is linked."""
    handlers = Router(service="kit-companies")

    @handlers.handles(OpportunityLost)
    async def book(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        company = await CrossReferences(ctx.connection).external_id(
            "legal_entity", envelope.legal_entity_id, system=SystemKind.ERP.value,
            instance=ERP, object_type=ErpObject.COMPANY.value,
        )  # fmt: skip
        if company is None:
            key = company_key(ERP, envelope.legal_entity_id)
            raise DependencyMissing(key, f"{envelope.legal_entity_id} has no company in {ERP}")
        await ctx.connection.execute(EFFECT, envelope.event_id, company)

    return handlers


def lost(opportunity: str, legal_entity_id: str = "le-de") -> Envelope[OpportunityLost]:
    payload = OpportunityLost(
        opportunity_id=opportunity,
        stage="Closed Lost",
        reason="budget",
        lost_at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    )
    return Envelope.new(
        payload,
        producer=Producer(service="project-sync", system=SystemKind.CRM),
        tenant_id="acme",
        legal_entity_id=legal_entity_id,
        data_residency_region="eu",
        correlation_id=f"corr-{opportunity}",
        subject_version=1,
    )


async def publish(connection: aio_pika.abc.AbstractConnection, envelope: Envelope[Any]) -> None:
    channel = await connection.channel(publisher_confirms=True)
    try:
        exchange = await declare_events_exchange(channel)
        message = aio_pika.Message(encode(envelope), message_id=str(envelope.event_id))
        await exchange.publish(message, routing_key=envelope.routing_key)
    finally:
        await channel.close()


@dataclass
class Desk:
    """A service's api and its consumer, with one message parked waiting for le-de's company."""

    client: httpx.AsyncClient
    pool: asyncpg.Pool
    broker: aio_pika.abc.AbstractRobustConnection
    erp: FakeErp
    directory: ErpDirectory
    linker: str  # the audited subject of the LINKER key

    async def link(
        self, entity: str, company: str, *, key: str = LINKER, instance: str = ERP
    ) -> httpx.Response:
        body = {"instance": instance, "company": company, "why": "made by hand in the ERP"}
        path = f"/v1/legal-entities/{entity}/erp-company"
        return await self.client.put(path, json=body, headers={"X-API-Key": key})

    async def read(self, entity: str, instance: str = ERP) -> httpx.Response:
        path = f"/v1/legal-entities/{entity}/erp-company"
        return await self.client.get(
            path, params={"instance": instance}, headers={"X-API-Key": READER}
        )

    async def linked(self, entity: str) -> str | None:
        async with self.pool.acquire() as db:
            return await CrossReferences(db).external_id(
                "legal_entity", entity, system=SystemKind.ERP.value, instance=ERP,
                object_type=ErpObject.COMPANY.value,
            )  # fmt: skip

    async def effects(self) -> list[str]:
        return [row[0] for row in await self.pool.fetch("SELECT company FROM effects")]

    async def parked(self) -> list[tuple[str, str | None]]:
        return [(row[0], row[1]) for row in await self.pool.fetch(PARKED, QUEUE)]


@pytest.fixture
async def desk(database_url: str, amqp_url: str) -> AsyncIterator[Desk]:
    # The schemas are in place, as `python -m <service> migrate` leaves them.
    await apply_migrations(
        database_url, [tandem_messaging.MIGRATIONS, tandem_connectors.MIGRATIONS]
    )
    erp = FakeErp(instance=ERP)
    directory = ErpDirectory(InstanceRouter(SystemKind.ERP.value), {ERP: erp})
    consume = Consume(QUEUE, router(), FAST)

    async def wire(resources: Resources[ServiceSettings]) -> Wiring:
        return Wiring(consume=consume, erp_directory=directory)

    settings = ServiceSettings(
        service_name="kit-companies",
        database_url=database_url,
        amqp_url=amqp_url,
        api_keys={LINKER: ["links:write", "links:read"], READER: ["links:read"]},  # type: ignore[dict-item]
    )
    definition = ServiceDefinition(
        name="kit-companies", settings=lambda: settings, wire=wire, writes_to_erp=True
    )
    app = service_app(definition, settings)
    transport = httpx.ASGITransport(app=app)
    # The consumer runs on connections of its own, as in a worker process.
    async with (
        asyncpg.create_pool(database_url, min_size=1, max_size=4) as pool,
        await aio_pika.connect_robust(amqp_url) as broker,
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://kit.test") as client,
        Consumer(consume.router, queue=QUEUE, pool=pool, connection=broker, settings=FAST),
    ):
        await pool.execute("CREATE TABLE effects (event_id uuid, company text)")
        linker = (await app.state.authenticator.authenticate(None, LINKER)).subject
        parked = Desk(client, pool, broker, erp, directory, linker)
        # An opportunity of le-de arrives before anyone knows its company: it waits.
        await publish(broker, lost("opp-1"))
        await eventually(
            lambda: _equal(parked.parked(), [("parked", WAITS_FOR)]), what="a waiting message"
        )
        yield parked


async def _equal(value: Any, expected: object) -> bool:
    return bool(await value == expected)


async def test_a_link_by_hand_is_audited_and_releases_what_waited(desk: Desk) -> None:
    linked = await desk.link("le-de", "c-7")

    assert linked.status_code == 200
    assert linked.json() == {
        "legal_entity_id": "le-de", "instance": ERP, "company": "c-7", "released": 1
    }  # fmt: skip
    [audit] = await desk.pool.fetch(AUDIT)
    assert tuple(audit) == (
        "legal_entity", "le-de", "erp", ERP, "company", "c-7", desk.linker,
        "made by hand in the ERP",
    )  # fmt: skip
    assert desk.linker.startswith("api-key:")
    # The released message comes back to the consumer, which now finds the company.
    await eventually(lambda: _equal(desk.effects(), ["c-7"]), what="the handled message")
    assert await desk.parked() == [("released", WAITS_FOR)]
    read = await desk.read("le-de")
    assert (read.status_code, read.json()["company"]) == (200, "c-7")


async def test_linking_needs_the_scope(desk: Desk) -> None:
    refused = await desk.link("le-de", "c-7", key=READER)
    anonymous = await desk.client.put(
        "/v1/legal-entities/le-de/erp-company",
        json={"instance": ERP, "company": "c-7", "why": "no credentials"},
    )

    assert refused.status_code == 403
    assert refused.json()["detail"] == "missing scope: links:write"
    assert anonymous.status_code == 401
    assert (await desk.read("le-de")).status_code == 404
    assert await desk.pool.fetch(AUDIT) == []
    assert await desk.parked() == [("parked", WAITS_FOR)]


async def test_a_company_linked_to_another_entity_is_409(desk: Desk) -> None:
    assert (await desk.link("le-fr", "c-7")).status_code == 200

    taken = await desk.link("le-de", "c-7")
    # The entity keeps the company it has: another one for it is a conflict too.
    assert (await desk.link("le-it", "c-9")).status_code == 200
    other = await desk.link("le-it", "c-10")

    assert taken.status_code == 409
    assert other.status_code == 409
    assert taken.headers["content-type"] == "application/problem+json"
    assert [row["canonical_id"] for row in await desk.pool.fetch(AUDIT)] == ["le-fr", "le-it"]
    assert (await desk.read("le-de")).status_code == 404
    assert (await desk.read("le-it")).json()["company"] == "c-9"
    assert await desk.parked() == [("parked", WAITS_FOR)]


async def test_an_unknown_erp_instance_is_404(desk: Desk) -> None:
    put = await desk.link("le-de", "c-7", instance="erp-elsewhere")
    get = await desk.read("le-de", instance="erp-elsewhere")

    assert (put.status_code, get.status_code) == (404, 404)
    assert "erp-elsewhere" in put.json()["detail"]
    assert await desk.pool.fetch(AUDIT) == []
    assert await desk.parked() == [("parked", WAITS_FOR)]


async def test_a_company_made_in_the_erp_is_found_by_key_and_releases_what_waited(
    desk: Desk,
) -> None:
    # Someone sets le-de up in the ERP under its canonical id; nobody calls the API.
    made = await desk.erp.ensure_legal_entity(DE, key="le-de")

    released = await resolve_companies(desk.pool, desk.broker, QUEUE, desk.directory)

    assert released == 1
    await eventually(lambda: _equal(desk.effects(), [made.external_id]), what="the handled one")
    assert await desk.parked() == [("released", WAITS_FOR)]
    assert await desk.linked("le-de") == made.external_id
    assert await desk.pool.fetch(AUDIT) == []  # found, not linked by a person


async def test_without_the_company_in_the_erp_nothing_is_released(desk: Desk) -> None:
    released = await resolve_companies(desk.pool, desk.broker, QUEUE, desk.directory)

    assert released == 0
    assert desk.erp.calls.get("find") == 1  # it did ask the ERP
    assert await desk.parked() == [("parked", WAITS_FOR)]
    assert await desk.linked("le-de") is None
    assert await desk.effects() == []
