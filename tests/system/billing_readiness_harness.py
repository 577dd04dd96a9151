"""billing-readiness on real parts, for its system story (issue 16): the real Tryton ERP,
RabbitMQ and PostgreSQL, and ``python -m billing_readiness api | worker`` as real subprocesses
(so a test can SIGKILL the worker).

What other services would announce — customers, contracts, projects, posted time, expenses and
milestones — is published straight to the events exchange, as a producer publishes it: keyed
with billing-readiness's lane key (``partition_header``), so each project's events keep their
order. The worker consumes and relays; it does not run the scheduled jobs, so an invoice is
proposed only when the story asks (``POST /v1/readiness``), never halfway through charging
(the kit runs a job first at the worker's start). ``Billing`` reads the process API and the
service's own tables (its invoices' proposals and recorded ERP totals, its outbox).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx

from billing_readiness.service_layer.handlers import QUEUE, lane_of
from tandem_connectors.ports import ErpInvoice
from tandem_connectors.tryton import TrytonClient, TrytonErp
from tandem_contracts import Envelope, ExternalRef, Money, Producer, SystemKind, decode, encode
from tandem_contracts.entities import (
    BillingModel,
    Contract,
    ContractStatus,
    Customer,
    CustomerStatus,
    LegalEntity,
    Milestone,
    MilestoneStatus,
    MilestoneTrigger,
    Project,
    ProjectStatus,
    TaxpayerKind,
    TaxProfile,
)
from tandem_contracts.events import (
    AccountUpserted,
    ExpensePosted,
    MilestoneCompleted,
    ProjectActivated,
    SOWApproved,
    TimePosted,
)
from tandem_messaging import declare_events_exchange, partition_header
from tandem_testing import LocalService, TrytonServer, eventually

__all__ = [
    "ENTITIES", "ERP_INSTANCE", "KEY", "Billing", "BillingDeployment", "InTryton", "account",
    "activated", "billing_deployment", "customer", "expense_posted", "in_tryton",
    "milestone_completed", "ok", "publish", "sow", "time_posted", "tryton_invoices",
]  # fmt: skip

ERP_INSTANCE = "erp-tryton"
KEY = "system-test-billing-operator-key"
TENANT = "acme"
REGION = "eu"
ENTITIES = {
    "le-uk": LegalEntity(id="le-uk", name="Acme Consulting UK Ltd", country="GB",
                         functional_currency="GBP", data_residency_region=REGION),
    "le-de": LegalEntity(id="le-de", name="Acme Beratung GmbH", country="DE",
                         functional_currency="EUR", data_residency_region=REGION),
}  # fmt: skip
_PRODUCERS: dict[type[Any], str] = {
    AccountUpserted: "project-sync", SOWApproved: "project-sync",
    ProjectActivated: "project-sync", MilestoneCompleted: "project-sync",
    TimePosted: "time-expense", ExpensePosted: "time-expense",
}  # fmt: skip
_INVOICES = """
SELECT invoice_id, project_id, customer_id, seller_entity, status, credit_of, subtotal,
    tax_total, total, number, erp_id, erp_subtotal, erp_tax_total, erp_total, proposal
FROM billing_readiness.invoices ORDER BY invoice_id
"""


async def ok(answer: httpx.Response) -> Any:
    assert answer.is_success, f"{answer.request.url} {answer.status_code} {answer.text}"
    return answer.json()


@dataclass
class BillingDeployment(LocalService):
    """billing-readiness's processes; its ERP instances as a JSON setting."""

    erp_instances: dict[str, dict[str, Any]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**super().env(), "TANDEM_ERP_INSTANCES": json.dumps(self.erp_instances)}

    async def wait_worker_consuming(self, name: str = "worker", within: float = 60.0) -> None:
        """Wait until worker ``name`` is ready and consumes billing-readiness's queue."""
        await self.wait_worker(name, within)
        await self.wait_consuming(QUEUE, within)


def billing_deployment(
    tryton: TrytonServer, database_url: str, amqp_url: str, logs: Path
) -> BillingDeployment:
    """billing-readiness on the Tryton ERP for both entities (GB and DE), the pair
    (le-de worker, le-uk project) allowed, probing a lost ERP fast."""
    erp = {"kind": "tryton", "url": tryton.url, "database": tryton.database,
           "user": tryton.user, "password": tryton.password}  # fmt: skip
    scopes = ["billing:read", "billing:release", "billing:operate"]
    return BillingDeployment(
        module="billing_readiness",
        name="billing-readiness",
        database_url=database_url,
        amqp_url=amqp_url,
        logs=logs,
        erp_instances={ERP_INSTANCE: erp},
        settings={
            "TANDEM_LOG_LEVEL": os.environ.get("STORY_LOG_LEVEL", "WARNING"),
            "TANDEM_TENANT_ID": TENANT,
            "TANDEM_API_KEYS": json.dumps({KEY: scopes}),
            "TANDEM_ERP_BY_REGION": json.dumps({REGION: ERP_INSTANCE}),
            "TANDEM_DEFAULT_REGION": REGION,
            "TANDEM_ENTITY_REGIONS": json.dumps(dict.fromkeys(ENTITIES, REGION)),
            "TANDEM_ENTITY_COUNTRIES": json.dumps({e.id: e.country for e in ENTITIES.values()}),
            "TANDEM_INTERCOMPANY_PAIRS": json.dumps([["le-de", "le-uk"]]),
            "TANDEM_WORKER_ROLES": json.dumps(["consume", "relay"]),
            "TANDEM_PROBE_MAX_S": "0.5",
            "TANDEM_PARTITION_HEARTBEAT_S": "0.3",
            "TANDEM_PARTITION_LEASE_TTL_S": "1.5",
            "TANDEM_RATE_LIMIT": "100000/minute",
            # The test's Tryton runs on SQLite: a few lanes at a time, not sixteen writers.
            "TANDEM_CONCURRENCY": "4",
        },
    )


async def publish(amqp_url: str, *envelopes: Envelope[Any]) -> None:
    """Publish ``envelopes`` to the events exchange as their producers would: persistent,
    confirmed, each on its lane's partition."""
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_events_exchange(channel)
        for envelope in envelopes:
            message = aio_pika.Message(
                encode(envelope),
                headers=partition_header(lane_of(envelope)),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await exchange.publish(message, routing_key=envelope.routing_key)


def _envelope(payload: Any, version: int, entity: str, correlation: str) -> Envelope[Any]:
    return Envelope.new(
        payload, producer=Producer(service=_PRODUCERS[type(payload)]), tenant_id=TENANT,
        legal_entity_id=entity, data_residency_region=REGION, correlation_id=correlation,
        subject_version=version,
    )  # fmt: skip


def customer(
    customer_id: str, entity: str, country: str, currency: str, *, on_hold: bool = False,
    vat_id: str | None = None,
) -> Customer:  # fmt: skip
    """A business customer; a VAT id given was checked in VIES."""
    profile = TaxProfile(
        country=country, vat_id=vat_id, taxable_person=TaxpayerKind.B2B,
        vat_id_validated_at=datetime(2026, 1, 5, tzinfo=UTC) if vat_id else None,
    )  # fmt: skip
    return Customer(
        id=customer_id, name=f"Customer {customer_id}", legal_entity_id=entity, country=country,
        currency=currency, tax_profile=profile, payment_terms_days=30,
        status=CustomerStatus.ON_HOLD if on_hold else CustomerStatus.ACTIVE,
        refs=(ExternalRef(system=SystemKind.CRM, instance="crm", object_type="account",
                          external_id=f"acc-{customer_id}"),),
    )  # fmt: skip


def account(found: Customer, version: int) -> Envelope[Any]:
    event = AccountUpserted(customer=found, upserted_at=datetime.now(UTC))
    return _envelope(event, version, found.legal_entity_id, f"acc-{found.id}")


def sow(
    project_id: str, customer_id: str, entity: str, model: BillingModel, total: Money, *,
    start: date, end: date | None = None, cap: Money | None = None,
) -> Envelope[Any]:  # fmt: skip
    """The approved contract ``sow-<project>`` of one project, as project-sync announces it
    when the contract is approved: before the project exists, so naming none (the project
    names its contract when it is activated)."""
    contract = Contract(
        id=f"sow-{project_id}", customer_id=customer_id, selling_legal_entity_id=entity,
        po_number=f"PO-{project_id}", billing_model=model, total_value=total, cap=cap,
        start_date=start, end_date=end, status=ContractStatus.APPROVED,
    )  # fmt: skip
    event = SOWApproved(contract=contract, approved_at=_now())
    return _envelope(event, 1, entity, f"opp-{project_id}")


def activated(
    project_id: str, customer_id: str, entity: str, currency: str, model: BillingModel, *,
    start: date, contract: bool,
) -> Envelope[Any]:  # fmt: skip
    project = Project(
        id=project_id, name=f"Project {project_id}", customer_id=customer_id,
        legal_entity_id=entity, currency=currency, billing_model=model,
        contract_id=f"sow-{project_id}" if contract else None, status=ProjectStatus.ACTIVE,
        start_date=start,
    )  # fmt: skip
    event = ProjectActivated(project=project, activated_at=_now())
    return _envelope(event, 2, entity, f"opp-{project_id}")


def time_posted(
    entry_id: str, project_id: str, worker_id: str, minutes: int, rate: Money, *, on: date,
    worker_entity: str, project_entity: str, cost: Money | None = None,
    reversal_on: date | None = None,
) -> Envelope[Any]:  # fmt: skip
    """``TimePosted`` of an approved entry (billable, its rate frozen); with ``reversal_on``,
    its reversal posted that day (the same entry, ``reversal_of`` itself)."""
    posted_on = reversal_on or on
    event = TimePosted(
        time_entry_id=entry_id, project_id=project_id, worker_id=worker_id,
        erp_ref=ExternalRef(system=SystemKind.ERP, instance=ERP_INSTANCE,
                            object_type="time_line", external_id=f"tl-{entry_id}-{posted_on}"),
        work_date=on, accounting_date=posted_on, duration_minutes=minutes,
        bill_amount=rate.times(Decimal(minutes) / 60), cost_amount=cost, billable=True,
        bill_rate=rate, reversal_of=entry_id if reversal_on else None, posted_at=_now(),
        worker_legal_entity_id=worker_entity, project_legal_entity_id=project_entity,
    )  # fmt: skip
    return _envelope(event, 2 if reversal_on else 1, project_entity, f"opp-{project_id}")


def expense_posted(
    expense_id: str, project_id: str, entity: str, amount: Money, markup: Decimal,
    category: str, *, on: date,
) -> Envelope[Any]:  # fmt: skip
    """``ExpensePosted`` of a rebillable expense in the project's currency."""
    event = ExpensePosted(
        expense_id=expense_id, project_id=project_id,
        erp_ref=ExternalRef(system=SystemKind.ERP, instance=ERP_INSTANCE,
                            object_type="expense", external_id=f"ex-{expense_id}"),
        accounting_date=on, amount=amount, posted_at=_now(), billable=True,
        markup_multiplier=markup, category=category, expense_date=on,
    )  # fmt: skip
    return _envelope(event, 1, entity, f"opp-{project_id}")


def milestone_completed(
    milestone_id: str, project_id: str, entity: str, amount: Money, status: MilestoneStatus,
    *, on: date,
) -> Envelope[Any]:  # fmt: skip
    """A milestone that bills on approval, reported in ``status`` (done on ``on``)."""
    milestone = Milestone(
        id=milestone_id, project_id=project_id, name=f"Milestone {milestone_id}", amount=amount,
        billing_trigger=MilestoneTrigger.ON_APPROVAL, planned_date=on, actual_date=on,
        status=status,
    )  # fmt: skip
    event = MilestoneCompleted(milestone=milestone, completed_at=_now())
    return _envelope(event, 1, entity, f"opp-{project_id}")


@dataclass
class Billing:
    """billing-readiness's process API (an operator's key) and its database."""

    api: httpx.AsyncClient
    database_url: str

    async def charges(self, **params: Any) -> list[dict[str, Any]]:
        """Every charge (of ``params``' filter), page after page."""
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {**params, "limit": 1000}
        while True:
            page = await ok(await self.api.get("/v1/charges", params=query))
            items += page["items"]
            if not page["next_after"]:
                return items
            query["after"] = page["next_after"]

    async def sources(self) -> int:
        """How many postings (time, expenses, milestones) have charges."""
        charges = await self.charges()
        return len({c["source_id"] for c in charges if c["source"] != "fixed_schedule"})

    async def charged_at_least(self, sources: int) -> bool:
        return await self.sources() >= sources

    async def charged(self, count: int, within: float = 60) -> list[dict[str, Any]]:
        """The charges, once there are ``count`` of them."""
        found: list[dict[str, Any]] = []

        async def made() -> bool:
            found[:] = await self.charges()
            return len(found) >= count

        try:
            await eventually(made, within=within, what=f"{count} charges", every=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {len(found)} made") from None
        return found

    async def readiness(self) -> dict[str, list[str]]:
        """Run the invoice-readiness pass now; per project, what it proposed or why not."""
        body = await ok(await self.api.post("/v1/readiness"))
        projects: dict[str, list[str]] = body["projects"]
        return projects

    async def invoices(self) -> list[dict[str, Any]]:
        # One page holds them all here: the story proposes a handful.
        page = await ok(await self.api.get("/v1/invoices", params={"limit": 1000}))
        assert page["next_after"] is None, "more invoices than one page"
        listed: list[dict[str, Any]] = page["items"]
        return listed

    async def posted_ids(self) -> set[str]:
        """The invoices the ERP has posted."""
        return {i["invoice_id"] for i in await self.invoices() if i["status"] == "posted"}

    async def any_posted(self) -> bool:
        return bool(await self.posted_ids())

    async def posted(self, invoice_ids: set[str], within: float = 60) -> None:
        """Wait until the ERP posted every one of ``invoice_ids``."""

        async def all_posted() -> bool:
            states = {i["invoice_id"]: i["status"] for i in await self.invoices()}
            return all(states.get(invoice) == "posted" for invoice in invoice_ids)

        await eventually(all_posted, within=within, what=f"{sorted(invoice_ids)} posted")

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.database_url)
        try:
            return list(await connection.fetch(query, *args))
        finally:
            await connection.close()

    async def recorded(self) -> dict[str, dict[str, Any]]:
        """billing-readiness's invoices as its table keeps them: the proposal (lines and
        charge ids) and the ERP's number and totals once posted."""
        rows = await self.fetch(_INVOICES)
        return {r["invoice_id"]: {**dict(r), "proposal": json.loads(r["proposal"])} for r in rows}

    async def announced(self, event_type: str) -> list[Envelope[Any]]:
        """What billing-readiness published of ``event_type`` (its outbox), in order."""
        rows = await self.fetch(
            "SELECT body FROM messaging.outbox WHERE event_type = $1 ORDER BY id", event_type
        )
        return [decode(bytes(row["body"])) for row in rows]


def _now() -> datetime:
    return datetime.now(UTC)


async def in_tryton(
    tryton: TrytonServer, customers: list[Customer]
) -> tuple[dict[str, str], dict[str, str]]:
    """The two companies (chart, fiscal years and periods) and ``customers`` made in Tryton
    through the adapter, each under its id as the key (as project-sync makes customers);
    answer the companies by legal entity and the customers' parties by id."""
    async with TrytonClient(tryton.url, tryton.database, tryton.user, tryton.password,
                            instance=ERP_INSTANCE) as client:  # fmt: skip
        erp = TrytonErp(client, instance=ERP_INSTANCE)
        companies = {e.id: (await erp.ensure_legal_entity(e, key=e.id)).external_id
                     for e in ENTITIES.values()}  # fmt: skip
        parties = {c.id: (await erp.upsert_customer(c, company=companies[c.legal_entity_id],
                                                    key=c.id)).external_id
                   for c in customers}  # fmt: skip
    return companies, parties


@dataclass(frozen=True)
class InTryton:
    """A customer invoice (or credit note) as Tryton holds it: the entity of its company,
    the adapter's reading of it (totals, lines by reference), its party and its comment."""

    entity: str
    invoice: ErpInvoice
    party: int
    party_code: str
    comment: str


async def tryton_invoices(
    client: TrytonClient, companies: dict[str, str], start: date, end: date
) -> tuple[list[str], dict[str, InTryton]]:
    """Every ``out`` invoice's reference in Tryton (a duplicate shows twice), and those of
    ``companies`` (legal entity -> company) dated in [start, end] by reference."""
    rows = await client.search_read(
        "account.invoice", [["type", "=", "out"]], ["reference", "party", "party.code", "comment"],
        context={"active_test": False},
    )  # fmt: skip
    parties = {row["reference"]: row for row in rows}
    erp, found = TrytonErp(client, instance=ERP_INSTANCE), {}
    for entity, company in companies.items():
        for invoice in await erp.customer_invoices(company=company, start=start, end=end):
            row = parties[invoice.key]
            code, comment = row["party."]["code"], row["comment"] or ""
            found[str(invoice.key)] = InTryton(entity, invoice, row["party"], code, comment)
    return [str(row["reference"]) for row in rows], found
