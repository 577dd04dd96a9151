"""The template's measure: ``lost-deals`` (``tests/example``), a service of its own in ~130 lines,
on real RabbitMQ and PostgreSQL — a signed webhook landed and ingested, an event consumed, an
ERP port called, an event published through the outbox and relayed, a ``/v1`` route, the
worker's own ``/metrics`` and ``/readyz``, a scheduled job."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from tandem_connectors.fakes import FakeErp
from tandem_connectors.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from tandem_contracts import decode
from tandem_contracts.events import ProjectClosedForTime, ProjectShellCreated
from tandem_contracts.samples import sample_envelopes
from tandem_messaging import declare_events_exchange
from tandem_service_kit import WorkerResources, apply_migrations, service_app, service_worker
from tandem_testing import eventually, free_port

SECRET = "crm-webhook-secret"
KEY = "example-reader-key"


def _load_example() -> ModuleType:
    path = Path(__file__).parents[1] / "example" / "lost_deals.py"
    spec = importlib.util.spec_from_file_location("lost_deals", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lost_deals"] = module  # its models resolve their annotations by module
    spec.loader.exec_module(module)
    return module


lost_deals = _load_example()


def lost_opportunity(opportunity_id: str, version: int) -> bytes:
    return json.dumps({
        "subject": {"type": "opportunity", "id": opportunity_id},
        "data": {"id": opportunity_id, "version": version, "account_id": "acc-1",
                 "stage": "Closed Lost", "reason": "budget",
                 "updated_at": "2026-11-02T09:30:00+00:00"},
    }).encode()  # fmt: skip


def signed(body: bytes, delivery: str) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(SECRET.encode(), body, int(time.time()), delivery=delivery),
            DELIVERY_HEADER: delivery}  # fmt: skip


@pytest.fixture
async def running(database_url: str, amqp_url: str) -> AsyncIterator[tuple[Any, FakeErp]]:
    """The example's api and worker, in this process, with an ERP holding one deal's shell."""
    erp = FakeErp()
    [shell] = [e.payload for e in sample_envelopes() if isinstance(e.payload, ProjectShellCreated)]
    project = shell.project
    await erp.create_project(project, company="1", customer="2", service=None, key="opp-1")
    definition = lost_deals.definition(erp)
    await apply_migrations(database_url, definition.migrations)
    settings = lost_deals.Settings(
        database_url=database_url, amqp_url=amqp_url, http_port=free_port(),
        worker_http_port=free_port(), crm_webhook_secret=SecretStr(SECRET),
        tally_interval_s=0.2, ingest_interval_s=0.05, api_keys={KEY: ["losses:read"]},
    )  # fmt: skip
    api = uvicorn.Server(
        uvicorn.Config(
            service_app(definition, settings),
            port=settings.http_port,
            log_config=None,
            lifespan="on",
        )
    )
    stopping = asyncio.Event()
    async with (
        asyncpg.create_pool(database_url, min_size=1, max_size=8) as pool,
        await aio_pika.connect_robust(amqp_url) as connection,
    ):
        resources = WorkerResources(settings, pool, connection, stopping)
        worker = service_worker(definition)
        tasks = [asyncio.create_task(api.serve()), asyncio.ensure_future(worker(resources))]
        try:
            yield settings, erp
        finally:
            stopping.set()
            api.should_exit = True
            await asyncio.wait_for(asyncio.gather(*tasks), 30)


async def test_a_lost_deal_flows_from_webhook_to_published_event(
    running: tuple[Any, FakeErp], amqp_url: str
) -> None:
    settings, erp = running
    api = f"http://127.0.0.1:{settings.http_port}"
    worker = f"http://127.0.0.1:{settings.worker_http_port}"
    async with (
        httpx.AsyncClient(base_url=api, headers={"X-API-Key": KEY}) as client,
        httpx.AsyncClient(base_url=worker) as probes,
        await aio_pika.connect_robust(amqp_url) as spy_connection,
    ):
        # A spy bound to every event, to see what the service publishes.
        channel = await spy_connection.channel()
        spy = await channel.declare_queue(exclusive=True)
        await spy.bind(await declare_events_exchange(channel), routing_key="#")

        # The worker is ready: its consumer consumes, its probes answer.
        await eventually(lambda: _ok(probes, "/readyz"), within=30, what="the worker ready")
        await eventually(lambda: _ok(probes, "/healthz"), within=30, what="the api up")
        await eventually(lambda: _ok(client, "/healthz"), within=30, what="the api up")

        # The CRM's signed webhook is landed; an unsigned one is refused.
        body = lost_opportunity("opp-1", 3)
        landed = await client.post("/v1/inbound/crm/crm", content=body, headers=signed(body, "d-1"))
        assert landed.status_code == 202, landed.text
        assert landed.json()["landed"] is True
        assert (await client.post("/v1/inbound/crm/crm", content=body)).status_code == 401

        # Ingested, consumed, the ERP asked (the port), the loss recorded: the /v1 route says so.
        async def recorded() -> bool:
            return (await client.get("/v1/losses/opp-1")).status_code == 200

        await eventually(recorded, within=30, what="the loss to be recorded")
        loss = (await client.get("/v1/losses/opp-1")).json()
        assert loss == {"opportunity_id": "opp-1", "erp_project": "1", "reason": "budget"}
        assert erp.calls["find"] == 1
        assert (await client.get("/v1/losses/opp-2")).status_code == 404

        # The consequence went out through the outbox and the relay.
        published: list[Any] = []

        async def closing_published() -> bool:
            message = await spy.get(no_ack=True, fail=False)
            if message is not None:
                published.append(decode(message.body))
            return any(isinstance(e.payload, ProjectClosedForTime) for e in published)

        await eventually(closing_published, within=30, what="ProjectClosedForTime published")
        [closing] = [e for e in published if isinstance(e.payload, ProjectClosedForTime)]
        assert closing.correlation_id == "opp-1"
        assert closing.payload.project_id == "opp-1"

        # The worker's own metrics: the handled event and the scheduled job's runs.
        async def counted() -> bool:
            text = (await probes.get("/metrics")).text
            handled = _sample(text, "tandem_messages_handled_total", 'consumer="lost-deals.losses"')
            runs = _sample(text, "tandem_job_runs_total", 'job="tally-losses"', 'outcome="ok"')
            return handled >= 1 and runs >= 2

        await eventually(counted, within=30, what="the worker's metrics")


async def _ok(client: httpx.AsyncClient, path: str) -> bool:
    try:
        return (await client.get(path)).status_code == 200
    except httpx.TransportError:
        return False


def _sample(text: str, name: str, *labels: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and all(label in line for label in labels)
    )
