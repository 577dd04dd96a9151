"""HRIS ingestion end to end: the in-process sandbox HRIS sends its workers and cost rates by
signed webhooks and its ``workers`` feed is polled; staffing-sync (api and worker in this
process, as the kit runs them, on real PostgreSQL and RabbitMQ) turns them into worker events
that make one PSA resource and one ERP employee per worker. Assertions read the sandbox
systems, staffing-sync's API, its outbox and the landing table."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from staffing_sync.bootstrap import DEFINITION
from staffing_sync.settings import Settings
from tandem_connectors.http import HttpTarget
from tandem_connectors.landing import Landing
from tandem_connectors.rest import RestErp
from tandem_contracts.entities import LegalEntity
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations
from tandem_testing import eventually, free_port, sibling_module

KEY = "staffing-operator-key"
SECRET = "hris-webhook-secret-for-tests"
GERMANY = LegalEntity(
    id="le-de", name="Acme Deutschland GmbH", country="DE", functional_currency="EUR",
    data_residency_region="eu",
)  # fmt: skip

harness = sibling_module(__file__, "harness.py", "staffing_sync_psa_harness")
_EVENTS = """
SELECT event_type, count(*) AS n FROM messaging.outbox WHERE partition_key = $1
GROUP BY event_type
"""


@dataclass
class World:
    """staffing-sync beside the sandbox HRIS, PSA and ERP, with clients of each."""

    api: httpx.AsyncClient
    hris: httpx.AsyncClient
    psa: httpx.AsyncClient
    erp: httpx.AsyncClient
    control: httpx.AsyncClient
    pool: asyncpg.Pool

    async def hire(self, hire_date: date, rate: str = "80.00", **more: Any) -> str:
        """Hire in the HRIS with a first cost rate; answer the canonical worker id."""
        body = {
            "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
            "company": "le-de", "hire_date": hire_date.isoformat(),
            "job_title": "Senior Consultant", "org_unit": "ou-data",
            "location_country": "DE", "home_currency": "EUR",
            "cost_rate": {"amount": rate, "currency": "EUR",
                          "effective_from": hire_date.isoformat()},
        } | more  # fmt: skip
        worker = await ok(await self.hris.post("/v1/hires", json=body))
        return f"hris-{worker['id']}"

    async def resources(self, worker_id: str) -> list[dict[str, Any]]:
        listed = await ok(await self.psa.get("/v1/resources", params={"worker_ref": worker_id}))
        return list(listed["items"])

    async def status(self, worker_id: str) -> dict[str, Any] | None:
        answer = await self.api.get(f"/v1/workers/{worker_id}")
        return None if answer.status_code == 404 else await ok(answer)

    async def employee_rates(self, worker_id: str) -> list[tuple[str, str]]:
        status = await self.status(worker_id)
        if status is None or status["erp"] is None:
            return []
        employee = await ok(await self.erp.get(f"/v1/employees/{status['erp']['ref']}"))
        return [(c["amount"], c["effective_from"]) for c in employee["cost_rates"]]

    async def events(self, worker_id: str) -> dict[str, int]:
        async with self.pool.acquire() as db:
            return {row["event_type"]: row["n"] for row in await db.fetch(_EVENTS, worker_id)}

    def syncing(self, worker_id: str) -> Callable[[], Awaitable[bool]]:
        """The check that ``worker_id`` is synced (for ``eventually``)."""
        return lambda: self.synced(worker_id)

    async def synced(self, worker_id: str, org_unit: str = "ou-data") -> bool:
        status = await self.status(worker_id)
        if status is None or status["psa"] is None or status["erp"] is None:
            return False
        resources = await self.resources(worker_id)
        return len(resources) == 1 and resources[0]["cost_center"] == org_unit


async def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.is_success, f"{answer.status_code} {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


@asynccontextmanager
async def running(database_url: str, amqp_url: str) -> AsyncIterator[World]:
    """The sandbox, and staffing-sync's api and worker on it, the HRIS's webhooks subscribed."""
    await apply_migrations(database_url, [*DEFINITION.migrations, SANDBOX_MIGRATIONS])
    sandbox = SandboxSettings(database_url=database_url, base_port=0, webhook_retry_base_s=0.05)
    async with run_sandbox(sandbox) as systems:
        urls = systems.urls
        values: dict[str, Any] = {
            "database_url": database_url, "amqp_url": amqp_url, "http_port": free_port(),
            "worker_http_port": 0, "api_keys": {KEY: ["staffing:read"]},
            "hris_instances": {"hris": {"url": urls["hris"], "webhook_secret": SECRET}},
            "psa_instances": {"psa": {"url": urls["psa"]}},
            "erp_instances": {"erp": {"kind": "rest", "url": urls["erp"]}},
            "erp_by_region": {"eu": "erp"}, "default_region": "eu", "probe_max_s": 0.5,
            "poll_interval_s": 0.2,
        }  # fmt: skip
        settings = Settings(**values)
        erp_port = RestErp(HttpTarget(urls["erp"], downstream="erp:test"), instance="erp")
        try:
            await erp_port.ensure_legal_entity(GERMANY, key=GERMANY.id)
        finally:
            await erp_port.aclose()
        async with _service(settings, urls) as world:
            yield world


@asynccontextmanager
async def _service(settings: Settings, urls: dict[str, str]) -> AsyncIterator[World]:
    api_url = f"http://127.0.0.1:{settings.http_port}"
    async with (
        harness.serving(settings) as pool,
        httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": KEY}, timeout=10) as api,
        httpx.AsyncClient(base_url=urls["hris"], timeout=10) as hris,
        httpx.AsyncClient(base_url=urls["psa"], timeout=10) as psa,
        httpx.AsyncClient(base_url=urls["erp"], timeout=10) as erp,
        httpx.AsyncClient(base_url=urls["control"], timeout=10) as control,
    ):
        hook = {"url": f"{api_url}/v1/inbound/hris/hris", "secret": SECRET, "event_types": []}
        await ok(await hris.post("/v1/webhooks", json=hook))
        yield World(api, hris, psa, erp, control, pool)


# -- the stories ------------------------------------------------------------------------------


async def test_hires_through_a_duplicating_reordering_hris_end_once_in_psa_and_erp(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url) as world:
        # The HRIS delivers every webhook twice, reorders half, and its feed repeats itself.
        faults = {"seed": 11, "webhook_duplicate_pct": 100, "webhook_reorder_pct": 50,
                  "feed_duplicate_pct": 50, "feed_reorder_pct": 50}  # fmt: skip
        await ok(await world.control.put("/_sandbox/faults/hris", json=faults))
        start = datetime.now(UTC).date() - timedelta(days=30)
        hired = [await world.hire(start, rate=f"8{n}.00") for n in range(3)]
        # One worker changes org unit twice: the newest version wins.
        external = hired[0].removeprefix("hris-")
        for unit in ("ou-cloud", "ou-ai"):
            await ok(await world.hris.patch(f"/v1/workers/{external}", json={"org_unit": unit}))

        await eventually(lambda: world.synced(hired[0], "ou-ai"), within=30, what="the move")
        for worker_id in hired[1:]:
            await eventually(world.syncing(worker_id), within=30, what=worker_id)
        for n, worker_id in enumerate(hired):
            # One resource named by number, one employee with its first cost rate.
            [resource] = await world.resources(worker_id)
            assert resource["role"] == "senior-consultant"
            assert "Lovelace" not in str(resource)
            assert await world.employee_rates(worker_id) == [(f"8{n}.00", start.isoformat())]
            # Each event once, whatever the HRIS repeated.
            events = await world.events(worker_id)
            assert events["ConsultantOnboarded"] == 1
            assert "CostRateChanged" not in events  # the onboarding carried the only rate
        assert (await world.events(hired[0]))["WorkerUpdated"] == 2
        status = await world.status(hired[0])
        assert status is not None
        assert status["hris"]["ref"] == external


async def test_a_mid_month_rate_change_and_a_termination_reach_the_erp_and_the_psa(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url) as world:
        start = datetime.now(UTC).date() - timedelta(days=60)
        worker_id = await world.hire(start)
        await eventually(lambda: world.synced(worker_id), within=30, what="the hire synced")
        external = worker_id.removeprefix("hris-")

        # A raise effective mid-month: announced dated, the ERP keeps both rates.
        mid_month = (start + timedelta(days=45)).replace(day=15)
        raise_ = {"amount": "95.00", "currency": "EUR", "effective_from": mid_month.isoformat()}
        await ok(await world.hris.post(f"/v1/workers/{external}/cost-rates", json=raise_))
        expected = [("80.00", start.isoformat()), ("95.00", mid_month.isoformat())]

        async def both_rates() -> bool:
            return await world.employee_rates(worker_id) == expected

        await eventually(both_rates, within=30, what="the raise in the ERP")
        assert (await world.events(worker_id))["CostRateChanged"] == 1

        # A correction whose webhook is lost: the polled cost-rates feed reads it, once.
        await ok(await world.control.put("/_sandbox/faults/hris", json={"webhook_drop_pct": 100}))
        later = mid_month + timedelta(days=14)
        corrected = {"amount": "97.50", "currency": "EUR", "effective_from": later.isoformat()}
        await ok(await world.hris.post(f"/v1/workers/{external}/cost-rates", json=corrected))
        expected.append(("97.50", later.isoformat()))
        await eventually(both_rates, within=30, what="the dropped rate read by the poll")
        assert (await world.events(worker_id))["CostRateChanged"] == 2
        faults = await ok(await world.control.get("/_sandbox/faults/hris"))
        assert faults["counters"]["webhook_dropped"] >= 1
        await ok(await world.control.put("/_sandbox/faults/hris", json={}))

        # A termination: announced with its last day, the resource ends on it.
        last_day = datetime.now(UTC).date() + timedelta(days=20)
        leaving = {"termination_date": last_day.isoformat(), "reason": "resignation"}
        await ok(await world.hris.post(f"/v1/workers/{external}/terminations", json=leaving))

        async def ended() -> bool:
            resources = await world.resources(worker_id)
            return len(resources) == 1 and resources[0]["end_date"] == last_day.isoformat()

        await eventually(ended, within=30, what="the resource ended at the last day")
        assert (await world.events(worker_id))["WorkerTerminated"] == 1


async def test_an_unknown_status_is_set_aside_with_its_reason_while_others_flow(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url) as world:
        start = datetime.now(UTC).date() - timedelta(days=10)
        first = await world.hire(start)
        await eventually(lambda: world.synced(first), within=30, what="the first hire")
        # A worker version in a status Tandem does not know lands (as a webhook would).
        record = await ok(await world.hris.get(f"/v1/workers/{first.removeprefix('hris-')}"))
        odd = record | {"id": "wrk_odd", "version": 1, "status": "sabbatical"}
        async with world.pool.acquire() as db, db.transaction():
            assert await Landing(db).land("hris", "hris", "worker", odd, "webhook")
        second = await world.hire(start)

        async def set_aside() -> bool:
            async with world.pool.acquire() as db:
                row = await db.fetchrow(
                    "SELECT status, detail FROM connectors.inbound "
                    "WHERE system = 'hris' AND record_id = 'wrk_odd'"
                )
            return row is not None and row["status"] == "rejected"

        await eventually(set_aside, within=30, what="the odd record set aside")
        await eventually(lambda: world.synced(second), within=30, what="the next hire")
        async with world.pool.acquire() as db:
            detail = await db.fetchval(
                "SELECT detail FROM connectors.inbound WHERE record_id = 'wrk_odd'"
            )
        assert "sabbatical" in detail
        assert await world.status("hris-wrk_odd") is None
