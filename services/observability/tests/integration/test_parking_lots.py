"""Another service's parking lot through its real ``/v1/parked`` API: the kit's example service
``lost-deals`` served in this process on real RabbitMQ and PostgreSQL, one deal parked."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import aio_pika
import httpx
import pytest
from pydantic import SecretStr

from observability.adapters.parking import HttpParkingLots, ParkingLotRefused
from observability.service_layer.ports import ParkingLots, SourceUnavailable
from observability.settings import ParkingLotSettings
from tandem_connectors.errors import RequestRejected
from tandem_connectors.fakes import FakeErp
from tandem_connectors.ports import ErpObject
from tandem_contracts import Envelope, ExternalRef, Producer, SystemKind, encode
from tandem_contracts.events import OpportunityLost
from tandem_messaging import declare_events_exchange
from tandem_service_kit import apply_migrations, serve_in_process
from tandem_testing import eventually, free_port

OPERATOR = "tk_obs_operator_2c9e4a"
READER = "tk_obs_reader_7d1f3b"
SCOPES = ["parked:read", "parked:replay", "parked:discard", "losses:read"]
CONSUMER = "lost-deals.losses"


def _example() -> ModuleType:
    """The kit's example service, loaded from its file as ``lost_deals`` (its models resolve
    their annotations by that module name; the kit's own test may have loaded it already)."""
    if "lost_deals" not in sys.modules:
        path = Path(__file__).parents[4] / "libs/service-kit/tests/example/lost_deals.py"
        spec = importlib.util.spec_from_file_location("lost_deals", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["lost_deals"] = module
        spec.loader.exec_module(module)
    return sys.modules["lost_deals"]


lost_deals = _example()


@dataclass
class RejectingErp(FakeErp):
    """An ERP that refuses lookups (a permanent error: the consumer parks at once) until
    ``rejecting`` is cleared."""

    rejecting: bool = True

    async def find(self, kind: ErpObject, key: str) -> ExternalRef | None:
        if self.rejecting:
            raise RequestRejected("customer_unknown", f"the ERP has no customer for {key} yet")
        return await super().find(kind, key)


@dataclass
class Lost:
    """``lost-deals`` running with one message parked, and observability's view of it."""

    lots: HttpParkingLots
    erp: RejectingErp
    api: httpx.AsyncClient
    base: str
    parked_id: str
    event_id: str


def lost(opportunity_id: str) -> Envelope[OpportunityLost]:
    payload = OpportunityLost(
        opportunity_id=opportunity_id, stage="Closed Lost", reason="budget",
        lost_at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    )  # fmt: skip
    return Envelope.new(
        payload, producer=Producer(service="project-sync", system=SystemKind.CRM),
        tenant_id="acme", legal_entity_id="le-us", data_residency_region="us",
        correlation_id=opportunity_id, subject_version=1,
    )  # fmt: skip


@pytest.fixture
async def parked(database_url: str, amqp_url: str) -> AsyncIterator[Lost]:
    erp = RejectingErp()
    definition = lost_deals.definition(erp)
    await apply_migrations(database_url, definition.migrations)
    settings = lost_deals.Settings(
        database_url=database_url, amqp_url=amqp_url, http_port=free_port(),
        worker_http_port=free_port(), partitions=2, tally_interval_s=3600.0,
        crm_webhook_secret=SecretStr("crm-webhook-secret-not-used-here"),
        api_keys={OPERATOR: SCOPES, READER: ["parked:read"]},
    )  # fmt: skip
    base = f"http://127.0.0.1:{settings.http_port}"
    lots = HttpParkingLots(
        {"lost-deals": ParkingLotSettings(url=base, api_key=SecretStr(OPERATOR))}
    )
    async with (
        serve_in_process(definition, settings),
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": OPERATOR}) as api,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.worker_http_port}") as probes,
        await aio_pika.connect(amqp_url) as broker,
    ):
        # The worker consumes (its queues are bound) before the deal is announced.
        await eventually(lambda: _ok(probes, "/readyz"), within=30, what="the worker ready")
        deal = lost("opp-7")
        channel = await broker.channel()
        exchange = await declare_events_exchange(channel)
        await exchange.publish(
            aio_pika.Message(encode(deal), message_id=str(deal.event_id)),
            routing_key=deal.routing_key,
        )

        # The ERP refuses, so the consumer parks it; observability sees it parked.
        async def one_parked() -> bool:
            return len(await lots.list("lost-deals")) == 1

        await eventually(one_parked, within=30, what="the lost deal parked")
        [item] = await lots.list("lost-deals")
        try:
            yield Lost(lots, erp, api, base, str(item["id"]), str(deal.event_id))
        finally:
            await lots.aclose()


async def _ok(client: httpx.AsyncClient, path: str) -> bool:
    try:
        return (await client.get(path)).status_code == 200
    except httpx.TransportError:
        return False


async def test_a_parked_message_is_listed_shown_and_replayed(parked: Lost) -> None:
    lots: ParkingLots = parked.lots  # the adapter is the port's

    # Listed as the service parked it: which event, which consumer, why.
    [item] = await lots.list("lost-deals")
    assert (item["id"], item["event_id"]) == (parked.parked_id, parked.event_id)
    assert (item["consumer"], item["event_type"]) == (CONSUMER, "OpportunityLost")
    assert (item["reason"], item["status"]) == ("customer_unknown", "parked")
    assert "no customer for opp-7" in item["detail"]

    # Shown in full, its envelope decoded; a message the service never parked is None.
    detail = await lots.detail("lost-deals", parked.parked_id)
    assert detail is not None
    assert detail["envelope"]["payload"]["opportunity_id"] == "opp-7"
    assert detail["queue"].startswith(CONSUMER)
    assert await lots.detail("lost-deals", str(uuid.uuid4())) is None
    assert await lots.detail("lost-deals", "../replay") is None

    # The ERP knows the customer now: a replay sends it back, and the loss is recorded.
    parked.erp.rejecting = False
    action = await lots.replay("lost-deals", [parked.parked_id], "customer created in the ERP")
    assert (action.count, action.ids) == (1, (parked.parked_id,))
    uuid.UUID(action.action_id)
    [replayed] = await lots.list("lost-deals", status="replayed")
    assert (replayed["id"], replayed["status"]) == (parked.parked_id, "replayed")
    assert await lots.list("lost-deals") == []
    assert [i["id"] for i in await lots.list("lost-deals", status="all")] == [parked.parked_id]

    async def recorded() -> bool:
        return (await parked.api.get("/v1/losses/opp-7")).status_code == 200

    await eventually(recorded, within=30, what="the replayed loss recorded")


async def test_a_declined_action_carries_the_services_reason(parked: Lost) -> None:
    # A blank why is the service's to refuse, and the operator learns why.
    with pytest.raises(ParkingLotRefused) as refused:
        await parked.lots.replay("lost-deals", [parked.parked_id], "   ")
    assert refused.value.status == 422
    assert "why" in refused.value.detail
    with pytest.raises(ParkingLotRefused) as malformed:
        await parked.lots.discard("lost-deals", ["not-a-uuid"], "typo")
    assert malformed.value.status == 422
    assert "ids" in malformed.value.detail
    assert [i["status"] for i in await parked.lots.list("lost-deals")] == ["parked"]

    # A discard with a reason is done, and the message is listed as discarded.
    done = await parked.lots.discard("lost-deals", [parked.parked_id], "duplicate deal")
    assert done.count == 1
    [discarded] = await parked.lots.list("lost-deals", status="discarded")
    assert discarded["id"] == parked.parked_id


async def test_keys_the_service_refuses_make_its_lot_unavailable(parked: Lost) -> None:
    wrong = HttpParkingLots(
        {"lost-deals": ParkingLotSettings(url=parked.base, api_key=SecretStr("tk_not_a_key_0"))}
    )
    reader = HttpParkingLots(
        {"lost-deals": ParkingLotSettings(url=parked.base, api_key=SecretStr(READER))}
    )
    try:
        # An unknown key: observability's configuration is wrong, not the operator's request.
        with pytest.raises(SourceUnavailable, match=r"refused observability's API key \(401"):
            await wrong.list("lost-deals")
        with pytest.raises(SourceUnavailable, match=r"\(401"):
            await wrong.replay("lost-deals", [parked.parked_id], "try")
        # A key without the replay scope reads, but its replay is refused the same way.
        assert len(await reader.list("lost-deals")) == 1
        with pytest.raises(SourceUnavailable, match=r"\(403: missing scope: parked:replay\)"):
            await reader.replay("lost-deals", [parked.parked_id], "try")
        assert [i["status"] for i in await parked.lots.list("lost-deals")] == ["parked"]
    finally:
        await wrong.aclose()
        await reader.aclose()


async def test_an_unreachable_or_unknown_service() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    lots = HttpParkingLots({"gone": ParkingLotSettings(url=url, api_key=SecretStr(OPERATOR))})
    try:
        assert lots.services() == ["gone"]
        with pytest.raises(SourceUnavailable, match=r"gone's parking lot at .* is unreachable"):
            await lots.list("gone")
        with pytest.raises(SourceUnavailable, match="is unreachable"):
            await lots.replay("gone", [str(uuid.uuid4())], "why not")
        with pytest.raises(KeyError):
            await lots.detail("nobody", str(uuid.uuid4()))
        with pytest.raises(KeyError):
            await lots.list("nobody", status="all")
    finally:
        await lots.aclose()
