"""Quote-to-cash end to end: project-sync's api and worker (in this process, as the kit runs
them) on real PostgreSQL and RabbitMQ, against the in-process sandbox CRM, PSA and ERP over
HTTP. CRM records reach it by signed webhooks and by polling; every assertion reads the
systems of record, project-sync's API or its outbox."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from project_sync.adapters.unit_of_work import SqlUnitOfWork
from project_sync.bootstrap import DEFINITION, dependencies
from project_sync.domain.saga import Step
from project_sync.service_layer.ingest import canonical_id
from project_sync.service_layer.jobs import watch_stuck
from project_sync.settings import Settings
from tandem_connectors.http import HttpTarget
from tandem_connectors.landing import Landing
from tandem_connectors.ports import ErpObject
from tandem_connectors.rest import RestErp
from tandem_connectors.systems import Systems
from tandem_contracts import Envelope, Producer
from tandem_contracts.entities import Customer, LegalEntity, RateCard, TaxProfile
from tandem_contracts.events import RateCardPublished
from tandem_contracts.samples import sample_envelopes
from tandem_messaging import Outbox, transactions
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import Sandbox, SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations, serve_in_process
from tandem_testing import eventually, free_port

SECRET = "crm-webhook-secret-for-tests"
KEY = "q2c-operator-key"
VALID_VAT = "DE811907980"
OTHER_VALID_VAT = "DE136695976"
ENTITIES = {
    "le-de": LegalEntity(
        id="le-de", name="Acme Deutschland GmbH", country="DE", functional_currency="EUR",
        data_residency_region="eu",
    ),
    "le-us": LegalEntity(
        id="le-us", name="Acme Inc.", country="US", functional_currency="USD",
        data_residency_region="us",
    ),
}  # fmt: skip


@dataclass
class Q2c:
    """project-sync running beside the sandbox: clients of its API and of each system."""

    api: httpx.AsyncClient
    crm: httpx.AsyncClient
    erp: httpx.AsyncClient
    psa: httpx.AsyncClient
    control: httpx.AsyncClient
    pool: asyncpg.Pool
    erp_port: RestErp

    async def account(self, name: str, country: str, tax_id: str | None) -> str:
        body = {"name": name, "country": country, "currency": "EUR", "tax_id": tax_id}
        return str((await ok(await self.crm.post("/v1/accounts", json=body)))["id"])

    async def opportunity(
        self, account: str, stage: str = "Negotiation", selling_entity: str = "le-de"
    ) -> str:
        body = {
            "account_id": account, "name": f"Roll-out for {account}", "stage": stage,
            "amount": "120000.00", "currency": "EUR", "close_date": "2026-12-15",
            "selling_entity": selling_entity,
        }  # fmt: skip
        return str((await ok(await self.crm.post("/v1/opportunities", json=body)))["id"])

    async def stage(self, opportunity: str, stage: str) -> dict[str, Any]:
        return await ok(
            await self.crm.patch(f"/v1/opportunities/{opportunity}", json={"stage": stage})
        )

    async def saga(self, opportunity: str) -> dict[str, Any] | None:
        answer = await self.api.get("/v1/quote-to-cash", params={"opportunity": opportunity})
        if answer.status_code == 404:
            return None
        items: list[dict[str, Any]] = (await ok(answer))["items"]
        return items[0]

    async def reaches(self, opportunity: str, *states: str, within: float = 20) -> dict[str, Any]:
        """Wait until the opportunity's saga is in one of ``states``; answer it."""
        seen: dict[str, Any] = {}

        async def there() -> bool:
            saga = await self.saga(opportunity)
            seen["saga"] = saga
            return saga is not None and saga["state"] in states

        await eventually(there, within=within, what=f"{opportunity} {states} (last: {seen})")
        return dict(seen["saga"])

    async def published(self, event_type: str, correlation_id: str) -> int:
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM messaging.outbox WHERE event_type = $1 "
                "AND correlation_id = $2",
                event_type,
                correlation_id,
            )
        )


async def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.is_success, f"{answer.status_code} {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


def rate_card(card_id: str, currency: str) -> Envelope[RateCardPublished]:
    [sample] = [e for e in sample_envelopes() if isinstance(e.payload, RateCardPublished)]
    text = sample.payload.rate_card.model_dump_json().replace('"USD"', f'"{currency}"')
    card = RateCard.model_validate(json.loads(text) | {"id": card_id})
    event = RateCardPublished(rate_card=card, published_version=1, published_at=datetime.now(UTC))
    return Envelope.new(
        event, producer=Producer(service="billing-readiness"), tenant_id="acme",
        legal_entity_id="le-de", data_residency_region="eu", correlation_id=card_id,
        subject_version=1,
    )  # fmt: skip


@asynccontextmanager
async def running(database_url: str, amqp_url: str, **overrides: Any) -> AsyncIterator[Q2c]:
    """The sandbox systems, and project-sync's api and worker on them."""
    await apply_migrations(database_url, [*DEFINITION.migrations, SANDBOX_MIGRATIONS])
    sandbox_settings = SandboxSettings(
        database_url=database_url, base_port=0, webhook_retry_base_s=0.05
    )
    async with run_sandbox(sandbox_settings) as sandbox:
        async with _service(sandbox, database_url, amqp_url, overrides) as q2c:
            yield q2c


@asynccontextmanager
async def _service(
    sandbox: Sandbox, database_url: str, amqp_url: str, overrides: dict[str, Any]
) -> AsyncIterator[Q2c]:
    urls = sandbox.urls
    values: dict[str, Any] = {
        "database_url": database_url, "amqp_url": amqp_url, "http_port": free_port(),
        "worker_http_port": 0, "api_keys": {KEY: ["q2c:read", "q2c:write", "links:write"]},
        "crm_instances": {"crm": {"url": urls["crm"], "webhook_secret": SECRET}},
        "psa_instances": {"psa": {"url": urls["psa"]}},
        "erp_instances": {"erp": {"kind": "rest", "url": urls["erp"]}},
        "erp_by_region": {"eu": "erp", "us": "erp"},
        "entity_by_country": {"DE": "le-de", "US": "le-us"}, "default_legal_entity": "le-de",
        "entity_regions": {"le-de": "eu", "le-us": "us"},
        "entity_currencies": {"le-de": ["EUR"], "le-us": ["USD"], "le-fr": ["EUR"]},
        "ingest_interval_s": 0.05, "poll_interval_s": 0.2, "poll_lag_s": 0,
        "watchdog_interval_s": 0.3, "resume_interval_s": 0.3, "probe_max_s": 0.5,
    }  # fmt: skip
    settings = Settings(**(values | overrides))
    erp_port = RestErp(HttpTarget(urls["erp"], downstream="erp:test"), instance="erp")
    for entity in ENTITIES.values():
        await erp_port.ensure_legal_entity(entity, key=entity.id)
    api_url = f"http://127.0.0.1:{settings.http_port}"
    try:
        async with (
            serve_in_process(DEFINITION, settings, pool_size=8) as pool,
            httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": KEY}, timeout=10) as api,
            httpx.AsyncClient(base_url=urls["crm"], timeout=10) as crm,
            httpx.AsyncClient(base_url=urls["erp"], timeout=10) as erp,
            httpx.AsyncClient(base_url=urls["psa"], timeout=10) as psa,
            httpx.AsyncClient(base_url=urls["control"], timeout=10) as control,
        ):
            async with pool.acquire() as db, db.transaction():
                await Outbox().add(db, rate_card("rc-eur", "EUR"), rate_card("rc-usd", "USD"))
            hook = {"url": f"{api_url}/v1/inbound/crm/crm", "secret": SECRET, "event_types": []}
            await ok(await crm.post("/v1/webhooks", json=hook))
            await eventually(lambda: _rate_cards(pool), what="the rate cards taken in", within=20)
            yield Q2c(api, crm, erp, psa, control, pool, erp_port)
    finally:
        await erp_port.aclose()


async def _rate_cards(pool: asyncpg.Pool) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM project_sync.rate_cards")) == 2


# -- the stories ------------------------------------------------------------------------------


async def test_a_won_opportunity_runs_to_an_active_project(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url) as q2c:
        account = await q2c.account("Globex GmbH", "DE", VALID_VAT)
        deal = await q2c.opportunity(account)
        await q2c.stage(deal, "Closed Won")
        opportunity = canonical_id("crm", deal)

        shell = await q2c.reaches(opportunity, "awaiting_sow")
        code = shell["project_code"]
        assert code
        assert shell["erp"]["ref"]
        assert shell["psa"]["ref"]
        contract = {
            "billing_model": "time_and_materials",
            "total_value": {"amount": "120000.00", "currency": "EUR"},
            "po_number": "PO-4711", "po_required": True, "start_date": "2026-12-01",
            "why": "SOW signed by Globex",
        }  # fmt: skip
        approved = await q2c.api.put(f"/v1/opportunities/{opportunity}/contract", json=contract)
        assert approved.status_code == 202, approved.text
        active = await q2c.reaches(opportunity, "active")

        # One project in each system, under the ERP's code, written back to the CRM.
        erp_projects = await ok(await q2c.erp.get("/v1/projects", params={"code": code}))
        psa_projects = await ok(await q2c.psa.get("/v1/projects", params={"code": code}))
        assert len(erp_projects["items"]) == 1
        assert erp_projects["items"][0]["status"] == "in_progress"
        assert [p["id"] for p in psa_projects["items"]] == [active["psa"]["ref"]]
        assert psa_projects["items"][0]["status"] == "in_progress"
        assert (await ok(await q2c.crm.get(f"/v1/opportunities/{deal}")))[
            "erp_project_code"
        ] == code
        # The customer is linked both ways.
        account_now = await ok(await q2c.crm.get(f"/v1/accounts/{account}"))
        customer = await ok(await q2c.api.get(f"/v1/customers/{canonical_id('crm', account)}"))
        assert customer["linked"]
        assert customer["matched_by"] == "created"
        assert account_now["erp_customer_id"] == customer["erp"]["ref"]
        # Announced once each, through the outbox.
        assert await q2c.published("ProjectShellCreated", opportunity) == 1
        assert await q2c.published("ProjectActivated", opportunity) == 1
        assert await q2c.published("CustomerLinked", canonical_id("crm", account)) == 1
        body = await q2c.pool.fetchval(
            "SELECT body FROM messaging.outbox WHERE event_type = 'ProjectActivated'"
        )
        project = json.loads(body)["payload"]["project"]
        assert project["code"] == code
        assert project["status"] == "active"
        # Open for time and expenses: time-expense takes the flags as the project's gates.
        assert project["flags"]["time_entry_open"] is True
        assert project["flags"]["expense_entry_open"] is True
        assert project["contract_id"] == f"sow-{opportunity}"
        assert {(r["system"], r["external_id"]) for r in project["refs"]} == {
            ("erp", active["erp"]["ref"]),
            ("psa", active["psa"]["ref"]),
        }
        # The status shows each step with when.
        steps = [step["step"] for step in active["steps"]]
        assert steps == [
            "validate", "erp_shell", "psa_shell", "crm_writeback", "shell_created",
            "awaiting_sow", "activating", "active",
        ]  # fmt: skip
        assert active["contract_id"] == f"sow-{opportunity}"
        # The billing code, from the read model: open from activation, not before.
        today = datetime.now(UTC).date()
        check = await ok(
            await q2c.api.get(f"/v1/billing-codes/{code}", params={"date": str(today)})
        )
        assert check["open"] is True
        assert check["project_id"] == active["project_id"]
        before = str(today - timedelta(days=1))
        early = await ok(await q2c.api.get(f"/v1/billing-codes/{code}", params={"date": before}))
        assert early == early | {"open": False, "reason": "not_open_yet"}
        # A further project for the same customer validates against the same read model; one
        # in a currency the entity does not sell in, on an unknown card, lists both problems.
        proposal = {"name": "Phase 2", "selling_legal_entity_id": "le-de",
                    "customer_id": canonical_id("crm", account), "currency": "EUR"}  # fmt: skip
        valid = await ok(await q2c.api.post("/v1/projects/validate", json=proposal))
        assert valid == {"valid": True, "problems": []}
        wrong = proposal | {"currency": "USD", "rate_card_id": "rc-none"}
        invalid = await ok(await q2c.api.post("/v1/projects/validate", json=wrong))
        assert invalid["valid"] is False
        codes = {problem["code"] for problem in invalid["problems"]}
        assert codes == {"currency_not_allowed", "rate_card_unknown"}, invalid
        # Nobody without credentials reads it.
        async with httpx.AsyncClient(base_url=str(q2c.api.base_url)) as anonymous:
            refused = await anonymous.get("/v1/quote-to-cash", params={"opportunity": opportunity})
        assert refused.status_code == 401


async def test_a_customer_found_by_tax_id_is_linked_not_duplicated(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url) as q2c:
        company = await q2c.erp_port.find(ErpObject.COMPANY, "le-de")
        assert company is not None
        subsidiary = company.external_id
        existing = Customer(
            id="erp-side-customer", name="Initech AG", legal_entity_id="le-de", country="DE",
            currency="EUR", tax_profile=TaxProfile(country="DE", vat_id=OTHER_VALID_VAT),
        )  # fmt: skip
        made = await q2c.erp_port.upsert_customer(existing, company=subsidiary, key="legacy-1")
        account = await q2c.account("Initech AG", "DE", "de 136.695.976")
        customer_id = canonical_id("crm", account)

        async def linked() -> bool:
            answer = await q2c.api.get(f"/v1/customers/{customer_id}")
            return answer.status_code == 200 and answer.json()["crm_linked"]

        await eventually(linked, what="the account linked", within=20)
        customer = await ok(await q2c.api.get(f"/v1/customers/{customer_id}"))
        assert customer["matched_by"] == "tax_id"
        assert customer["erp"]["ref"] == made.external_id
        listed = await ok(await q2c.erp.get("/v1/customers", params={"vat_id": OTHER_VALID_VAT}))
        assert [item["id"] for item in listed["items"]] == [made.external_id]
        linked_event = await q2c.pool.fetchrow(
            "SELECT body FROM messaging.outbox WHERE event_type = 'CustomerLinked'"
        )
        assert linked_event is not None
        assert json.loads(linked_event["body"])["payload"]["matched_by"] == "tax_id"


async def test_an_invalid_vat_id_holds_the_saga_and_the_fix_resumes_it(
    database_url: str, amqp_url: str
) -> None:
    # No sweep: the release comes with the customer's CustomerLinked.
    async with running(database_url, amqp_url, resume_interval_s=3600) as q2c:
        account = await q2c.account("Hooli GmbH", "DE", "DE123456789")  # check digit wrong
        deal = await q2c.opportunity(account)
        await q2c.stage(deal, "Closed Won")
        opportunity = canonical_id("crm", deal)

        held = await q2c.reaches(opportunity, "failed")
        assert held["step"] == "validate"
        assert held["failure_reason"] == "setup_invalid"
        assert "vat_invalid" in [problem["code"] for problem in held["problems"]]
        failed = await ok(await q2c.api.get("/v1/sagas", params={"state": "failed"}))
        assert [(s["opportunity_id"], s["reason"]) for s in failed["items"]] == [
            (opportunity, "setup_invalid")
        ]
        customer = await ok(await q2c.api.get(f"/v1/customers/{canonical_id('crm', account)}"))
        assert [p["code"] for p in customer["tax_problems"]] == ["vat_invalid"]
        assert customer["linked"] is False
        # An operator's resume is audited; the data is still wrong, so it fails again.
        why = {"why": "checked the VAT id with the customer"}
        resumed = await q2c.api.post(f"/v1/sagas/{opportunity}/resume", json=why)
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["state"] == "failed"
        audit = await q2c.pool.fetchrow(
            "SELECT actor, why FROM project_sync.saga_log WHERE actor IS NOT NULL"
        )
        assert audit is not None
        assert audit["why"] == why["why"]
        assert audit["actor"].startswith("api-key:")
        retry = await q2c.api.post(f"/v1/sagas/{opportunity}/retry", json=why)
        assert retry.status_code == 409  # a failed saga is resumed, not retried

        # Fixed at the source, it resumes by itself.
        await ok(await q2c.crm.patch(f"/v1/accounts/{account}", json={"tax_id": VALID_VAT}))
        resumed_saga = await q2c.reaches(opportunity, "awaiting_sow")
        assert resumed_saga["failure_reason"] is None
        assert resumed_saga["project_code"]


async def test_lost_before_time_cancels_both_shells(database_url: str, amqp_url: str) -> None:
    async with running(database_url, amqp_url) as q2c:
        account = await q2c.account("Umbrella GmbH", "DE", VALID_VAT)
        deal = await q2c.opportunity(account)
        await q2c.stage(deal, "Closed Won")
        opportunity = canonical_id("crm", deal)
        shell = await q2c.reaches(opportunity, "awaiting_sow")

        other = await q2c.opportunity(account)
        await q2c.stage(other, "Closed Won")
        cancelled_by_hand = canonical_id("crm", other)
        await q2c.reaches(cancelled_by_hand, "awaiting_sow")

        await q2c.stage(deal, "Closed Lost")
        ended = await q2c.reaches(opportunity, "cancelled")
        why = {"why": "the customer withdrew by phone"}
        cancel = await q2c.api.post(f"/v1/sagas/{cancelled_by_hand}/cancel", json=why)
        assert cancel.status_code == 200, cancel.text
        assert cancel.json()["state"] == "cancelled"
        again = await q2c.api.post(f"/v1/sagas/{cancelled_by_hand}/cancel", json=why)
        assert again.status_code == 409
        audit = await q2c.pool.fetch(
            "SELECT opportunity_id, event, why FROM project_sync.saga_log WHERE actor IS NOT NULL"
        )
        assert [tuple(row) for row in audit] == [(cancelled_by_hand, "CancelRequested", why["why"])]
        assert await q2c.published("ProjectCancelled", cancelled_by_hand) == 1

        erp_project = await ok(await q2c.erp.get(f"/v1/projects/{shell['erp']['ref']}"))
        psa_project = await ok(await q2c.psa.get(f"/v1/projects/{shell['psa']['ref']}"))
        assert erp_project["status"] == "cancelled"
        assert psa_project["status"] == "cancelled"
        assert await q2c.published("ProjectCancelled", opportunity) == 1
        assert await q2c.published("ProjectFlaggedForFinance", opportunity) == 0
        check = await ok(
            await q2c.api.get(
                f"/v1/billing-codes/{ended['project_code']}", params={"date": "2026-12-01"}
            )
        )
        assert check == check | {"open": False, "reason": "project_cancelled"}


async def test_lost_after_time_logged_closes_for_time_and_flags(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url, sow_from_opportunity=True) as q2c:
        account = await q2c.account("Stark GmbH", "DE", VALID_VAT)
        deal = await q2c.opportunity(account)
        await q2c.stage(deal, "Closed Won")
        opportunity = canonical_id("crm", deal)
        active = await q2c.reaches(opportunity, "active")  # no contract system: T&M from the deal

        resource = await ok(
            await q2c.psa.post("/v1/resources", json={"name": "Ada", "worker_ref": "w-1"})
        )
        entry = {
            "resource_id": resource["id"], "project_id": active["psa"]["ref"],
            "date": str(date.today()), "minutes": 240,
        }  # fmt: skip
        await ok(await q2c.psa.post("/v1/time-entries", json=entry))
        await q2c.stage(deal, "Closed Lost")
        flagged = await q2c.reaches(opportunity, "flagged_for_finance")

        erp_project = await ok(await q2c.erp.get(f"/v1/projects/{active['erp']['ref']}"))
        psa_project = await ok(await q2c.psa.get(f"/v1/projects/{active['psa']['ref']}"))
        assert erp_project["status"] != "cancelled"
        assert psa_project["status"] == "completed"
        assert await q2c.published("ProjectFlaggedForFinance", opportunity) == 1
        assert await q2c.published("ProjectClosedForTime", opportunity) == 1
        assert await q2c.published("ProjectCancelled", opportunity) == 0
        later = str(date.today() + timedelta(days=3))
        check = await ok(
            await q2c.api.get(
                f"/v1/billing-codes/{flagged['project_code']}", params={"date": later}
            )
        )
        assert check == check | {"open": False, "reason": "closed_for_time"}


async def test_duplicated_and_reordered_deliveries_change_nothing(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url, sow_from_opportunity=True) as q2c:
        faults = {"seed": 7, "webhook_duplicate_pct": 100, "webhook_reorder_pct": 50,
                  "feed_duplicate_pct": 50, "feed_reorder_pct": 50}  # fmt: skip
        await ok(await q2c.control.put("/_sandbox/faults/crm", json=faults))
        account = await q2c.account("Wayne GmbH", "DE", VALID_VAT)
        deals = [await q2c.opportunity(account, "Prospecting") for _ in range(3)]
        for deal in deals:
            for stage in ("Qualification", "Negotiation", "Closed Won"):
                await q2c.stage(deal, stage)
        opportunities = [canonical_id("crm", deal) for deal in deals]
        for opportunity in opportunities:
            await q2c.reaches(opportunity, "active", within=30)

        # An older version delivered late is landed, and changes nothing.
        older = await ok(await q2c.crm.get(f"/v1/opportunities/{deals[0]}"))
        older |= {"version": older["version"] - 1, "stage": "Negotiation"}
        async with q2c.pool.acquire() as db:
            await Landing(db).land("crm", "crm", "opportunity", older, "webhook")

        async def settled() -> bool:
            pending = await q2c.pool.fetchval(
                "SELECT count(*) FROM connectors.inbound WHERE status = 'pending'"
            )
            return int(pending) == 0

        await eventually(settled, what="every landed record ingested")
        for opportunity in opportunities:
            saga = await q2c.saga(opportunity)
            assert saga is not None
            assert saga["generation"] == 1
            assert saga["state"] == "active"
            code = saga["project_code"]
            assert (
                len((await ok(await q2c.erp.get("/v1/projects", params={"code": code})))["items"])
                == 1
            )
            assert (
                len((await ok(await q2c.psa.get("/v1/projects", params={"code": code})))["items"])
                == 1
            )
            assert await q2c.published("OpportunityCommitted", opportunity) == 1
            assert await q2c.published("ProjectActivated", opportunity) == 1
        customers = await ok(await q2c.erp.get("/v1/customers", params={"vat_id": VALID_VAT}))
        assert len(customers["items"]) == 1


async def test_a_psa_outage_mid_saga_resumes_without_a_duplicate(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url) as q2c:
        account = await q2c.account("Cyberdyne GmbH", "DE", VALID_VAT)
        customer_id = canonical_id("crm", account)

        async def linked() -> bool:
            answer = await q2c.api.get(f"/v1/customers/{customer_id}")
            return answer.status_code == 200 and answer.json()["linked"]

        await eventually(linked, what="the customer linked")
        erp_customer = (await ok(await q2c.api.get(f"/v1/customers/{customer_id}")))["erp"]["ref"]
        down = {"error_rate": 1.0, "error_status": 503}
        await ok(await q2c.control.put("/_sandbox/faults/psa", json=down))
        deal = await q2c.opportunity(account)
        await q2c.stage(deal, "Closed Won")
        opportunity = canonical_id("crm", deal)

        async def erp_shell_made() -> bool:
            params = {"customer_id": erp_customer}
            found = await ok(await q2c.erp.get("/v1/projects", params=params))
            return len(found["items"]) == 1

        # The ERP shell is made, the PSA refuses: the handling rolls back and is retried.
        await eventually(erp_shell_made, what="the ERP shell made before the PSA answers")
        assert await q2c.published("ProjectShellCreated", opportunity) == 0

        await ok(await q2c.control.put("/_sandbox/faults/psa", json={"error_rate": 0.0}))
        shell = await q2c.reaches(opportunity, "awaiting_sow", within=30)
        erp_projects = await ok(
            await q2c.erp.get("/v1/projects", params={"customer_id": erp_customer})
        )
        assert [p["id"] for p in erp_projects["items"]] == [shell["erp"]["ref"]]
        code = shell["project_code"]
        psa_projects = await ok(await q2c.psa.get("/v1/projects", params={"code": code}))
        assert len(psa_projects["items"]) == 1
        assert await q2c.published("ProjectShellCreated", opportunity) == 1


async def test_a_saga_past_its_step_time_is_alerted_once_and_listed(
    database_url: str, amqp_url: str
) -> None:
    limits = {Step.AWAITING_SOW: 0.2}
    async with running(database_url, amqp_url, step_timeouts_s=limits) as q2c:
        account = await q2c.account("Tyrell GmbH", "DE", VALID_VAT)
        deal = await q2c.opportunity(account)
        await q2c.stage(deal, "Closed Won")
        opportunity = canonical_id("crm", deal)
        await q2c.reaches(opportunity, "awaiting_sow")

        async def alerted() -> bool:
            return await q2c.published("QuoteToCashStuck", opportunity) == 1

        await eventually(alerted, what="the stuck alert", within=20)
        stuck = await ok(await q2c.api.get("/v1/sagas", params={"state": "stuck"}))
        assert [(s["opportunity_id"], s["step"], s["stuck"]) for s in stuck["items"]] == [
            (opportunity, "awaiting_sow", True)
        ]
        # However often the watchdog looks again, the visit is alerted once.
        settings = Settings(database_url=database_url, step_timeouts_s=limits)
        uow = functools.partial(SqlUnitOfWork, outbox=Outbox())
        deps = dependencies(settings, Systems(), transactions(q2c.pool, uow))
        for _ in range(3):
            assert await watch_stuck(deps.transactions, deps.runner, settings.step_limits()) == 0
        assert await q2c.published("QuoteToCashStuck", opportunity) == 1
        body = await q2c.pool.fetchval(
            "SELECT body FROM messaging.outbox WHERE event_type = 'QuoteToCashStuck'"
        )
        assert json.loads(body)["payload"]["step"] == "awaiting_sow"


async def test_a_step_waits_for_the_selling_entitys_company_and_resumes(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url) as q2c:
        account = await q2c.account("Soylent SARL", "DE", VALID_VAT)
        deal = await q2c.opportunity(account, selling_entity="le-fr")  # no company in the ERP
        await q2c.stage(deal, "Closed Won")
        opportunity = canonical_id("crm", deal)

        # It may wait for its customer first (the account's link races the commit); then,
        # once validated, for the company at the ERP shell.
        company_key = "legal-entity-in-erp:erp:le-fr"

        async def waits_for_the_company() -> bool:
            saga = await q2c.saga(opportunity)
            return saga is not None and saga.get("waiting_for") == company_key

        await eventually(waits_for_the_company, within=20, what=f"{opportunity} to wait for le-fr")
        waiting = await q2c.saga(opportunity)
        assert waiting is not None
        assert waiting["state"] == "waiting"
        assert waiting["step"] == "erp_shell"
        listed = await ok(await q2c.api.get("/v1/sagas", params={"state": "waiting"}))
        assert [s["opportunity_id"] for s in listed["items"]] == [opportunity]

        france = LegalEntity(
            id="le-fr", name="Acme France SAS", country="FR", functional_currency="EUR",
            data_residency_region="eu",
        )  # fmt: skip
        company = await q2c.erp_port.ensure_legal_entity(france, key="le-fr")
        link = {"instance": "erp", "company": company.external_id, "why": "set up in the ERP"}
        linked = await q2c.api.put("/v1/legal-entities/le-fr/erp-company", json=link)
        assert linked.status_code == 200, linked.text
        shell = await q2c.reaches(opportunity, "awaiting_sow")  # resumed by the sweep
        assert shell["project_code"]


async def test_a_saga_waiting_for_its_customer_fails_when_the_account_has_an_invalid_vat_id(
    database_url: str, amqp_url: str
) -> None:
    # The opportunity is committed before its account is known (a dropped webhook, the feed
    # not read yet): its saga waits for the customer. The account then lands with an invalid
    # VAT id: the saga is checked again and fails with the reason, instead of waiting for a
    # link that never comes; fixed in the CRM, it resumes. No webhooks, no polling, no sweep:
    # the test lands each record itself, in that order.
    quiet = {"poll_interval_s": 3600, "resume_interval_s": 3600}
    async with running(database_url, amqp_url, **quiet) as q2c:
        await ok(await q2c.control.put("/_sandbox/faults/crm", json={"webhook_drop_pct": 100}))
        account = await q2c.account("Initrode GmbH", "DE", "DE123456789")  # check digit wrong
        deal = await q2c.opportunity(account)
        await q2c.stage(deal, "Closed Won")
        opportunity = canonical_id("crm", deal)
        customer_id = canonical_id("crm", account)

        async def land(kind: str, path: str, record_id: str) -> None:
            record = await ok(await q2c.crm.get(f"/v1/{path}/{record_id}"))
            async with q2c.pool.acquire() as db:
                await Landing(db).land("crm", "crm", kind, record, "webhook")

        await land("opportunity", "opportunities", deal)
        waiting = await q2c.reaches(opportunity, "waiting")
        assert waiting["waiting_for"] == f"customer:{customer_id}"

        await land("account", "accounts", account)
        held = await q2c.reaches(opportunity, "failed")
        assert held["step"] == "validate"
        assert held["failure_reason"] == "setup_invalid"
        assert "vat_invalid" in [problem["code"] for problem in held["problems"]]
        failed = await ok(await q2c.api.get("/v1/sagas", params={"state": "failed"}))
        assert [(s["opportunity_id"], s["reason"]) for s in failed["items"]] == [
            (opportunity, "setup_invalid")
        ]

        await ok(await q2c.crm.patch(f"/v1/accounts/{account}", json={"tax_id": VALID_VAT}))
        await land("account", "accounts", account)
        resumed = await q2c.reaches(opportunity, "awaiting_sow")
        assert resumed["failure_reason"] is None
        assert resumed["project_code"]
