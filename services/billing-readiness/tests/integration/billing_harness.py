"""The harness of billing-readiness's flows: its api and worker (in this process, as the kit
runs them) on real PostgreSQL and RabbitMQ, beside the in-process sandbox ERP (a real HTTP
system with its own database, periods and gapless numbers). Customers, contracts, projects and
postings are announced through the outbox, as their producers publish them; invoices are
read back from the sandbox ERP. Shared by the flow tests of this directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from billing_readiness.bootstrap import DEFINITION
from billing_readiness.settings import Settings
from tandem_connectors.http import HttpTarget
from tandem_connectors.rest import RestErp
from tandem_contracts import Envelope, ExternalRef, Money, Producer, SystemKind, decode
from tandem_contracts.entities import (
    BillingModel,
    Contract,
    ContractStatus,
    Customer,
    CustomerStatus,
    LegalEntity,
    Project,
    ProjectStatus,
    TaxpayerKind,
    TaxProfile,
)
from tandem_contracts.events import (
    AccountUpserted,
    ProjectActivated,
    SOWApproved,
    TimeApproved,
    TimePosted,
)
from tandem_messaging import Outbox
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations, serve_in_process
from tandem_testing import eventually, free_port

KEY = "billing-operator-key"
READER = "billing-reader-key"
ENTITIES = (
    LegalEntity(id="le-uk", name="Acme UK Ltd", country="GB", functional_currency="GBP",
                data_residency_region="eu"),
    LegalEntity(id="le-de", name="Acme Deutschland GmbH", country="DE",
                functional_currency="EUR", data_residency_region="eu"),
)  # fmt: skip
_ANNOUNCED = """
SELECT body FROM messaging.outbox WHERE event_type = $1 ORDER BY id
"""


@dataclass
class Billing:
    """billing-readiness beside the sandbox ERP: its API (operator and reader keys), the ERP
    adapter, its database."""

    api: httpx.AsyncClient
    reader: httpx.AsyncClient
    erp: RestErp
    pool: asyncpg.Pool
    companies: dict[str, str]

    async def announce(self, *envelopes: Envelope[Any]) -> None:
        """Publish the events through the outbox, one transaction each."""
        for envelope in envelopes:
            async with self.pool.acquire() as db, db.transaction():
                await Outbox().add(db, envelope)

    async def announced(self, event_type: str) -> list[Envelope[Any]]:
        """Every event of ``event_type`` in the outbox, in order."""
        rows = await self.pool.fetch(_ANNOUNCED, event_type)
        return [decode(bytes(row["body"])) for row in rows]

    async def announces(self, event_type: str, count: int, within: float = 30) -> None:
        async def there() -> bool:
            return len(await self.announced(event_type)) >= count

        await eventually(there, within=within, what=f"{event_type} x{count}")

    async def charges(self, project_id: str, *, expected: int) -> list[dict[str, Any]]:
        """The project's charges, once there are ``expected`` of them."""
        found: list[dict[str, Any]] = []

        async def made() -> bool:
            page = await ok(await self.reader.get("/v1/charges", params={"project_id": project_id}))
            found[:] = page["items"]
            return len(found) >= expected

        await eventually(made, within=30, what=f"{expected} charges of {project_id}")
        return found

    async def readiness(self) -> dict[str, list[str]]:
        body = await ok(await self.api.post("/v1/readiness"))
        projects: dict[str, list[str]] = body["projects"]
        return projects

    async def invoice(self, invoice_id: str) -> dict[str, Any]:
        """billing-readiness's record of an invoice, once the ERP posted it."""
        found: dict[str, Any] = {}

        async def posted() -> bool:
            rows = (await ok(await self.reader.get("/v1/invoices")))["items"]
            found.update(next((r for r in rows if r["invoice_id"] == invoice_id), {}))
            return found.get("status") == "posted"

        await eventually(posted, within=30, what=f"{invoice_id} posted")
        return found


async def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.is_success, f"{answer.status_code} {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


async def ok_list(answer: httpx.Response) -> list[dict[str, Any]]:
    assert answer.is_success, f"{answer.status_code} {answer.text}"
    body: list[dict[str, Any]] = answer.json()
    return body


def envelope(payload: Any, version: int, entity: str = "le-uk", service: str = "project-sync",
             correlation: str | None = None) -> Envelope[Any]:  # fmt: skip
    return Envelope.new(
        payload, producer=Producer(service=service), tenant_id="acme", legal_entity_id=entity,
        data_residency_region="eu", correlation_id=correlation or payload.subject_id,
        subject_version=version,
    )  # fmt: skip


def customer(customer_id: str, country: str = "GB", *, on_hold: bool = False,
             vat_id: str | None = None, validated: bool = False) -> Customer:  # fmt: skip
    profile = TaxProfile(
        country=country, vat_id=vat_id, taxable_person=TaxpayerKind.B2B,
        vat_id_validated_at=datetime(2026, 1, 5, tzinfo=UTC) if validated else None,
    )  # fmt: skip
    return Customer(
        id=customer_id, name=f"Customer {customer_id}", legal_entity_id="le-uk",
        country=country, currency="GBP", tax_profile=profile, payment_terms_days=30,
        status=CustomerStatus.ON_HOLD if on_hold else CustomerStatus.ACTIVE,
        refs=(ExternalRef(system=SystemKind.CRM, instance="crm", object_type="account",
                          external_id=f"acc-{customer_id}"),),
    )  # fmt: skip


def account(found: Customer, version: int) -> Envelope[Any]:
    return envelope(AccountUpserted(customer=found, upserted_at=datetime.now(UTC)), version)


def activated(
    project_id: str,
    customer_id: str,
    model: BillingModel = BillingModel.TIME_AND_MATERIALS,
    *,
    entity: str = "le-uk",
    currency: str = "GBP",
    contract_id: str | None = None,
    version: int = 2,
) -> Envelope[Any]:
    project = Project(
        id=project_id, name="Rollout", customer_id=customer_id, legal_entity_id=entity,
        currency=currency, billing_model=model, contract_id=contract_id,
        status=ProjectStatus.ACTIVE, start_date=date(2026, 10, 1),
    )  # fmt: skip
    return envelope(ProjectActivated(project=project, activated_at=datetime.now(UTC)), version,
                    entity, correlation=f"opp-{project_id}")  # fmt: skip


def sow(contract_id: str, project_id: str, customer_id: str, model: BillingModel, *,
        total: str, cap: str | None = None, po: str | None = "PO-1", version: int = 1,
        start: date = date(2026, 10, 1), end: date | None = None,
        names_project: bool = True) -> Envelope[Any]:  # fmt: skip
    contract = Contract(
        id=contract_id, customer_id=customer_id, selling_legal_entity_id="le-uk",
        po_number=po, billing_model=model, total_value=Money.of(total, "GBP"),
        cap=Money.of(cap, "GBP") if cap else None, start_date=start, end_date=end,
        status=ContractStatus.APPROVED,
    )  # fmt: skip
    # project-sync's SOW names no project: its project names the contract (``names_project``).
    named = (project_id,) if names_project else ()
    event = SOWApproved(contract=contract, project_ids=named, approved_at=datetime.now(UTC))
    return envelope(event, version)


def posted(entry_id: str, project_id: str, minutes: int, rate: str, *, on: date,
           worker_entity: str = "le-uk", cost: str | None = None,
           reversal_of: str | None = None, version: int = 3,
           role: str | None = None) -> Envelope[Any]:  # fmt: skip
    bill_rate = Money.of(rate, "GBP")
    event = TimePosted(
        time_entry_id=entry_id, project_id=project_id, worker_id="w-1",
        erp_ref=ExternalRef(system=SystemKind.ERP, instance="erp", object_type="time_line",
                            external_id=f"tl-{entry_id}-{version}"),
        work_date=on, accounting_date=on, duration_minutes=minutes,
        bill_amount=bill_rate.times(Decimal(minutes) / 60), billable=True, bill_rate=bill_rate,
        cost_amount=Money.of(cost, "GBP") if cost else None, reversal_of=reversal_of,
        worker_legal_entity_id=worker_entity, project_legal_entity_id="le-uk",
        posted_at=datetime.now(UTC), role_id=role,
    )  # fmt: skip
    return envelope(event, version, service="time-expense")


def approved(entry_id: str, project_id: str, on: date) -> Envelope[Any]:
    from tandem_contracts.entities import TimeEntry, TimeEntryStatus

    entry = TimeEntry(
        id=entry_id, worker_id="w-1", worker_legal_entity_id="le-uk", project_id=project_id,
        project_legal_entity_id="le-uk", work_date=on, duration_minutes=60, billable=True,
        status=TimeEntryStatus.APPROVED,
    )  # fmt: skip
    event = TimeApproved(entry=entry, approval_version=1, approved_by="pm-1",
                         approved_at=datetime.now(UTC))  # fmt: skip
    return envelope(event, 1, service="time-expense")


@asynccontextmanager
async def running(database_url: str, amqp_url: str, **more: Any) -> AsyncIterator[Billing]:
    """The sandbox ERP with the two companies, and billing-readiness's api and worker on it."""
    await apply_migrations(database_url, [*DEFINITION.migrations, SANDBOX_MIGRATIONS])
    sandbox_settings = SandboxSettings(database_url=database_url, base_port=0)
    async with run_sandbox(sandbox_settings) as sandbox:
        url = sandbox.urls["erp"]
        values: dict[str, Any] = {
            "database_url": database_url, "amqp_url": amqp_url, "http_port": free_port(),
            "worker_http_port": 0,
            "api_keys": {KEY: ["billing:read", "billing:release", "billing:operate"],
                         READER: ["billing:read"]},
            "erp_instances": {"erp": {"kind": "rest", "url": url}},
            "erp_by_region": {"eu": "erp"}, "default_region": "eu", "probe_max_s": 0.5,
            "entity_countries": {"le-uk": "GB", "le-de": "DE"},
            "readiness_interval_s": 3600,
        } | more  # fmt: skip
        settings = Settings(**values)
        erp = RestErp(HttpTarget(url, downstream="erp:test"), instance="erp")
        try:
            companies = {}
            for entity in ENTITIES:
                written = await erp.ensure_legal_entity(entity, key=entity.id)
                companies[entity.id] = written.external_id
            api_url = f"http://127.0.0.1:{settings.http_port}"
            async with (
                serving(settings) as pool,
                httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": KEY},
                                  timeout=10) as api,
                httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": READER},
                                  timeout=10) as reader,
            ):  # fmt: skip
                yield Billing(api, reader, erp, pool, companies)
        finally:
            await erp.aclose()


def serving(settings: Settings) -> AbstractAsyncContextManager[asyncpg.Pool]:
    """billing-readiness's api and worker in this process, as the kit runs them."""
    return serve_in_process(DEFINITION, settings)


def approved_priced(
    entry_id: str, project_id: str, on: date, *, minutes: int, rate: str, at: datetime
) -> Envelope[Any]:
    """``TimeApproved`` of a billable entry at a frozen bill rate, approved ``at``."""
    from tandem_contracts.entities import TimeEntry, TimeEntryStatus

    entry = TimeEntry(
        id=entry_id, worker_id="w-1", worker_legal_entity_id="le-uk", project_id=project_id,
        project_legal_entity_id="le-uk", work_date=on, duration_minutes=minutes, billable=True,
        bill_rate=Money.of(rate, "GBP"), status=TimeEntryStatus.APPROVED,
    )  # fmt: skip
    event = TimeApproved(entry=entry, approval_version=1, approved_by="pm-1", approved_at=at)
    return envelope(event, 1, service="time-expense")


def rate_card(card_id: str, role: str, rate: str, *, version: int = 1) -> Envelope[Any]:
    """A tenant-wide GBP card pricing ``role`` at ``rate`` from the start of 2026."""
    from tandem_contracts.entities import (
        RateCard,
        RateCardScope,
        RateCardStatus,
        RateCardVersion,
        RoleRate,
    )
    from tandem_contracts.events import RateCardPublished

    row = RoleRate(role_id=role, bill_rate=Money.of(rate, "GBP"))
    card = RateCard(
        id=card_id, name=card_id, currency="GBP", scope=RateCardScope(),
        versions=(RateCardVersion(version=version, effective_from=date(2026, 1, 1),
                                  role_rates=(row,)),),
        status=RateCardStatus.PUBLISHED,
    )  # fmt: skip
    event = RateCardPublished(rate_card=card, published_version=version,
                              published_at=datetime.now(UTC))  # fmt: skip
    return envelope(event, version, service="project-sync")
