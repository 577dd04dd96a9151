"""The harness of staffing-sync's PSA flows: its api and worker (in this process, as the kit
runs them) on real PostgreSQL and RabbitMQ, beside the in-process sandbox PSA and ERP. Workers,
projects and rate cards are announced through the outbox, as their producers publish them;
bookings and resource requests are made in the sandbox PSA, whose feeds are polled (and whose
signed webhooks are subscribed, when asked). Assertions read staffing-sync's outbox (the events
it announced), its API, its landing and watermarks, and the sandbox PSA.

Shared by the flow tests of this directory (imported relatively: the suite imports test
modules in importlib mode, where a sibling module is not importable by name)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import httpx

from staffing_sync.bootstrap import DEFINITION
from staffing_sync.settings import Settings
from tandem_connectors.http import HttpTarget
from tandem_connectors.rest import RestErp
from tandem_contracts import Envelope, ExternalRef, Money, Producer, SystemKind, decode
from tandem_contracts.entities import (
    BillingModel,
    CostRate,
    EmploymentType,
    LegalEntity,
    Project,
    ProjectStatus,
    RateCard,
    RateCardScope,
    RateCardStatus,
    RateCardVersion,
    RoleRate,
    Worker,
    WorkerStatus,
)
from tandem_contracts.events import (
    ConsultantOnboarded,
    ProjectActivated,
    RateCardPublished,
)
from tandem_messaging import Outbox
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations, serve_in_process
from tandem_testing import eventually, free_port

KEY = "staffing-operator-key"
SECRET = "psa-webhook-secret-for-tests"
ROLE = "r-consultant"
ENTITIES = (
    LegalEntity(id="le-de", name="Acme Deutschland GmbH", country="DE",
                functional_currency="EUR", data_residency_region="eu"),
    LegalEntity(id="le-us", name="Acme Inc", country="US", functional_currency="USD",
                data_residency_region="eu"),
)  # fmt: skip
_ANNOUNCED = """
SELECT body FROM messaging.outbox WHERE partition_key = $1 AND event_type = $2 ORDER BY id
"""
_WATERMARK = """
SELECT changed_at FROM connectors.watermarks
WHERE system = 'psa' AND instance = 'psa' AND feed = $1
"""


@dataclass
class Bookings:
    """staffing-sync beside the sandbox PSA: clients of its API, the PSA and the sandbox's
    control API, its database."""

    api: httpx.AsyncClient
    psa: httpx.AsyncClient
    control: httpx.AsyncClient
    pool: asyncpg.Pool

    async def announce(self, *envelopes: Envelope[Any]) -> None:
        """Publish the events through the outbox, one transaction each."""
        for envelope in envelopes:
            async with self.pool.acquire() as db, db.transaction():
                await Outbox().add(db, envelope)

    async def resource(self, worker_id: str) -> str:
        """The worker's PSA resource, once staffing-sync made it."""
        found: list[str] = []

        async def made() -> bool:
            listed = await ok(await self.psa.get("/v1/resources", params={"worker_ref": worker_id}))
            found[:] = [item["id"] for item in listed["items"]]
            return len(found) == 1

        await eventually(made, within=20, what=f"{worker_id}'s resource")
        return found[0]

    async def book(self, project: str, resource: str, start: str, end: str, **more: Any) -> str:
        """A hard booking in the PSA; answer staffing-sync's id of it."""
        body = {"project_id": project, "resource_id": resource, "role": ROLE,
                "start_date": start, "end_date": end, "minutes_per_day": 240} | more  # fmt: skip
        booked = await ok(await self.psa.post("/v1/assignments", json=body))
        return f"psa-{booked['id']}"

    async def announced(self, subject_id: str, event_type: str) -> list[Envelope[Any]]:
        """The events of ``event_type`` staffing-sync announced about the subject, in order."""
        rows = await self.pool.fetch(_ANNOUNCED, subject_id, event_type)
        return [decode(bytes(row["body"])) for row in rows]

    async def announces(self, subject_id: str, event_type: str, count: int = 1) -> None:
        """Wait until staffing-sync announced ``count`` such events about the subject (a
        booking, a request)."""

        async def there() -> bool:
            return len(await self.announced(subject_id, event_type)) >= count

        await eventually(there, within=30, what=f"{event_type} x{count} of {subject_id}")

    async def booking(self, assignment_id: str) -> dict[str, Any]:
        return await ok(await self.api.get(f"/v1/assignments/{assignment_id}"))

    async def ask(self, project: str, minutes: int = 4800, **more: Any) -> dict[str, Any]:
        """A resource request in the PSA for the role over two April weeks; answer its record."""
        body = {"project_id": project, "role": ROLE, "minutes": minutes,
                "start_date": "2026-04-06", "end_date": "2026-04-17"} | more  # fmt: skip
        return await ok(await self.psa.post("/v1/resource-requests", json=body))

    async def polled(self, feed: str, record: dict[str, Any]) -> None:
        """Wait until staffing-sync's poll of ``feed`` has read past this record version."""
        changed = datetime.fromisoformat(record["updated_at"])

        async def passed() -> bool:
            mark = await self.pool.fetchval(_WATERMARK, feed)
            return mark is not None and mark >= changed

        await eventually(passed, within=30, what=f"the {feed} poll past {record['id']}")

    async def faults(self, **faults: Any) -> None:
        """Set the PSA's faults, its counters back to zero."""
        await ok(await self.control.put("/_sandbox/faults/psa", json=faults))
        await ok(await self.control.delete("/_sandbox/faults/psa/counters"))

    async def counters(self) -> dict[str, int]:
        """The PSA's fault counters (deliveries made, duplicated, ...)."""
        shown = await ok(await self.control.get("/_sandbox/faults/psa"))
        return dict(shown["counters"])


async def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.is_success, f"{answer.status_code} {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


def envelope(payload: Any, version: int, entity: str = "le-de", service: str = "staffing-sync"
             ) -> Envelope[Any]:  # fmt: skip
    return Envelope.new(
        payload, producer=Producer(service=service), tenant_id="acme", legal_entity_id=entity,
        data_residency_region="eu", correlation_id=payload.subject_id, subject_version=version,
    )  # fmt: skip


def onboarded(worker_id: str, entity: str) -> Envelope[Any]:
    hired = Worker(
        id=worker_id, worker_number=f"W-{worker_id}", legal_entity_id=entity,
        employment_type=EmploymentType.EMPLOYEE, status=WorkerStatus.ACTIVE,
        hire_date=date(2026, 1, 5), work_country="DE", home_currency="EUR",
    )  # fmt: skip
    cost = CostRate(worker_id=worker_id, hourly_cost=Money.of("80.00", "EUR"),
                    effective_from=date(2026, 1, 5))  # fmt: skip
    event = ConsultantOnboarded(
        worker=hired, primary_role_id=ROLE, cost_rate=cost, start_date=hired.hire_date
    )
    return envelope(event, 1, entity)


def activated(project_id: str, psa_project: str) -> Envelope[Any]:
    ref = ExternalRef(
        system=SystemKind.PSA, instance="psa", object_type="project", external_id=psa_project
    )
    project = Project(
        id=project_id, name="Rollout", customer_id="c-1", legal_entity_id="le-de",
        currency="EUR", billing_model=BillingModel.TIME_AND_MATERIALS,
        status=ProjectStatus.ACTIVE, refs=(ref,),
    )  # fmt: skip
    event = ProjectActivated(project=project, activated_at=datetime.now(UTC))
    return envelope(event, 2, service="project-sync")


def published(card_id: str, rate: str, project_id: str | None = None) -> Envelope[Any]:
    row = RoleRate(role_id=ROLE, bill_rate=Money.of(rate, "EUR"))
    card = RateCard(
        id=card_id, name=card_id, currency="EUR", scope=RateCardScope(project_id=project_id),
        versions=(RateCardVersion(version=1, effective_from=date(2026, 1, 1), role_rates=(row,)),),
        status=RateCardStatus.PUBLISHED,
    )  # fmt: skip
    event = RateCardPublished(rate_card=card, published_version=1, published_at=datetime.now(UTC))
    return envelope(event, 1, service="billing-readiness")


@asynccontextmanager
async def running(
    database_url: str, amqp_url: str, *, webhooks: bool = False, **more: Any
) -> AsyncIterator[Bookings]:
    """The sandbox PSA and ERP, and staffing-sync's api and worker on them (the PSA polled,
    and its webhooks subscribed with ``webhooks``); ``more`` settings besides the harness's."""
    await apply_migrations(database_url, [*DEFINITION.migrations, SANDBOX_MIGRATIONS])
    sandbox_settings = SandboxSettings(
        database_url=database_url, base_port=0, webhook_retry_base_s=0.05
    )
    async with run_sandbox(sandbox_settings) as sandbox:
        urls = sandbox.urls
        values: dict[str, Any] = {
            "database_url": database_url, "amqp_url": amqp_url, "http_port": free_port(),
            "worker_http_port": 0, "api_keys": {KEY: ["staffing:read"]},
            "psa_instances": {"psa": {"url": urls["psa"],
                                      "webhook_secret": SECRET if webhooks else ""}},
            "erp_instances": {"erp": {"kind": "rest", "url": urls["erp"]}},
            "erp_by_region": {"eu": "erp"}, "default_region": "eu", "probe_max_s": 0.5,
            "poll_interval_s": 0.2,
        } | more  # fmt: skip
        settings = Settings(**values)
        erp = RestErp(HttpTarget(urls["erp"], downstream="erp:test"), instance="erp")
        try:
            for entity in ENTITIES:
                await erp.ensure_legal_entity(entity, key=entity.id)
        finally:
            await erp.aclose()
        async with _service(settings, urls, webhooks) as bookings:
            yield bookings


def serving(settings: Settings) -> AbstractAsyncContextManager[asyncpg.Pool]:
    """staffing-sync's api and worker in this process, as the kit runs them, on ``settings``
    (the api on ``http_port``); answers a pool on its database. Shared by every integration
    test that runs the service."""
    return serve_in_process(DEFINITION, settings)


@asynccontextmanager
async def _service(
    settings: Settings, urls: dict[str, str], webhooks: bool
) -> AsyncIterator[Bookings]:
    api_url = f"http://127.0.0.1:{settings.http_port}"
    async with (
        serving(settings) as pool,
        httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": KEY}, timeout=10) as api,
        httpx.AsyncClient(base_url=urls["psa"], timeout=10) as psa,
        httpx.AsyncClient(base_url=urls["control"], timeout=10) as control,
    ):
        if webhooks:
            hook = {"url": f"{api_url}/v1/inbound/psa/psa", "secret": SECRET, "event_types": []}
            await ok(await psa.post("/v1/webhooks", json=hook))
        yield Bookings(api, psa, control, pool)
