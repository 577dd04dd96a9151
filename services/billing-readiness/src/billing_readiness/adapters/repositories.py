"""billing-readiness's tables behind the service layer's ports (plain SQL on one transaction)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from billing_readiness.domain import (
    BillingTerms,
    ChargeLine,
    CustomerStanding,
    Ledger,
    Proposal,
)
from billing_readiness.service_layer.unit_of_work import (
    AbstractAudit,
    AbstractCharges,
    AbstractCustomers,
    AbstractInvoices,
    AbstractPending,
    AbstractProjects,
    ChargeRecord,
    InvoiceRecord,
    KnownProject,
)
from tandem_contracts import Money
from tandem_contracts.entities import (
    BillingModel,
    ChargeSource,
    Contract,
    Customer,
    CustomerStatus,
    Project,
    TaxProfile,
)
from tandem_contracts.events import HoldReason
from tandem_messaging import DbConnection

__all__ = [
    "SqlAudit",
    "SqlCharges",
    "SqlCustomers",
    "SqlInvoices",
    "SqlPending",
    "SqlProjects",
    "charge_record",
]

_KEEP_CUSTOMER = """
INSERT INTO billing_readiness.customers (customer_id, version, country, currency, tax_profile,
    on_credit_hold, payment_terms_days)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)
ON CONFLICT (customer_id) DO UPDATE SET version = EXCLUDED.version, country = EXCLUDED.country,
    currency = EXCLUDED.currency, tax_profile = EXCLUDED.tax_profile,
    on_credit_hold = EXCLUDED.on_credit_hold, payment_terms_days = EXCLUDED.payment_terms_days,
    updated_at = clock_timestamp()
WHERE billing_readiness.customers.version < EXCLUDED.version
RETURNING true
"""


class SqlCustomers(AbstractCustomers):
    def __init__(self, connection: DbConnection) -> None:
        self.connection = connection

    async def keep(self, customer: Customer, version: int) -> bool:
        kept = await self.connection.fetchval(
            _KEEP_CUSTOMER, customer.id, version, customer.country, customer.currency,
            customer.tax_profile.model_dump_json(),
            customer.status is CustomerStatus.ON_HOLD, customer.payment_terms_days,
        )  # fmt: skip
        return bool(kept)

    async def standing(self, customer_id: str) -> CustomerStanding | None:
        row = await self.connection.fetchrow(
            "SELECT country, tax_profile, on_credit_hold FROM billing_readiness.customers "
            "WHERE customer_id = $1",
            customer_id,
        )
        if row is None:
            return None
        return CustomerStanding(
            customer_id=customer_id, country=row["country"],
            tax_profile=TaxProfile.model_validate_json(row["tax_profile"]),
            on_credit_hold=row["on_credit_hold"],
        )  # fmt: skip

    async def payment_terms(self, customer_id: str) -> int | None:
        days = await self.connection.fetchval(
            "SELECT payment_terms_days FROM billing_readiness.customers WHERE customer_id = $1",
            customer_id,
        )
        return int(days) if days is not None else None


_KEEP_PROJECT = """
INSERT INTO billing_readiness.projects (project_id, version, customer_id, legal_entity_id,
    region, currency, billing_model, contract_id, start_date, end_date, correlation_id,
    total_value)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (project_id) DO UPDATE SET version = EXCLUDED.version,
    customer_id = EXCLUDED.customer_id, legal_entity_id = EXCLUDED.legal_entity_id,
    region = EXCLUDED.region, currency = EXCLUDED.currency,
    billing_model = EXCLUDED.billing_model,
    contract_id = COALESCE(EXCLUDED.contract_id, billing_readiness.projects.contract_id),
    start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date,
    correlation_id = COALESCE(billing_readiness.projects.correlation_id, EXCLUDED.correlation_id),
    updated_at = clock_timestamp()
WHERE billing_readiness.projects.version < EXCLUDED.version
RETURNING true
"""
_KEEP_CONTRACT = """
INSERT INTO billing_readiness.contracts (contract_id, version, contract, project_ids)
VALUES ($1, $2, $3::jsonb, $4)
ON CONFLICT (contract_id) DO UPDATE SET version = EXCLUDED.version,
    contract = EXCLUDED.contract, project_ids = EXCLUDED.project_ids,
    updated_at = clock_timestamp()
WHERE billing_readiness.contracts.version < EXCLUDED.version
RETURNING true
"""
_GET_PROJECT = """
SELECT p.*, c.contract FROM billing_readiness.projects p
LEFT JOIN LATERAL (
    SELECT contract FROM billing_readiness.contracts k
    WHERE k.contract_id = p.contract_id OR p.project_id = ANY (k.project_ids)
    ORDER BY (k.contract_id = p.contract_id) DESC, k.updated_at DESC LIMIT 1
) c ON true
WHERE p.project_id = $1
"""


class SqlProjects(AbstractProjects):
    def __init__(self, connection: DbConnection) -> None:
        self.connection = connection

    async def keep(self, project: Project, region: str, version: int, correlation_id: str) -> bool:
        value = project.budget.amount.amount if project.budget.amount else None
        kept = await self.connection.fetchval(
            _KEEP_PROJECT, project.id, version, project.customer_id, project.legal_entity_id,
            region, project.currency, project.billing_model.value, project.contract_id,
            project.start_date, project.end_date, correlation_id, value,
        )  # fmt: skip
        return bool(kept)

    async def keep_contract(
        self, contract: Contract, project_ids: Sequence[str], version: int
    ) -> bool:
        kept = await self.connection.fetchval(
            _KEEP_CONTRACT, contract.id, version, contract.model_dump_json(), list(project_ids)
        )
        return bool(kept)

    async def change_order(self, project_id: str, cap: Any, total_value: Any) -> None:
        await self.connection.execute(
            "UPDATE billing_readiness.projects SET cap = COALESCE($2, cap), "
            "total_value = COALESCE($3, total_value), updated_at = clock_timestamp() "
            "WHERE project_id = $1",
            project_id,
            cap.amount if cap is not None else None,
            total_value.amount if total_value is not None else None,
        )

    async def get(self, project_id: str) -> KnownProject | None:
        row = await self.connection.fetchrow(_GET_PROJECT, project_id)
        return _known(row) if row is not None else None

    async def of_customer(self, customer_id: str) -> list[str]:
        rows = await self.connection.fetch(
            "SELECT project_id FROM billing_readiness.projects WHERE customer_id = $1 "
            "ORDER BY project_id",
            customer_id,
        )
        return [row["project_id"] for row in rows]

    async def set_disputed(self, project_id: str, disputed: bool) -> None:
        await self.connection.execute(
            "UPDATE billing_readiness.projects SET disputed = $2, updated_at = clock_timestamp() "
            "WHERE project_id = $1",
            project_id,
            disputed,
        )


def _known(row: asyncpg.Record) -> KnownProject:
    """A project row with its contract: the contract's model, value, cap and PO; a change
    order's cap and value over the contract's."""
    currency = row["currency"]
    contract = Contract.model_validate_json(row["contract"]) if row["contract"] else None

    def money(amount: Decimal | None, fallback: Money | None) -> Money | None:
        if amount is not None:
            return Money(amount=amount, currency=currency)
        return fallback

    model = contract.billing_model if contract else BillingModel(row["billing_model"])
    terms = BillingTerms(
        project_id=row["project_id"], customer_id=row["customer_id"],
        legal_entity_id=row["legal_entity_id"], currency=currency, model=model,
        contract_id=contract.id if contract else row["contract_id"],
        cap=money(row["cap"], contract.cap if contract else None),
        total_value=money(
            row["total_value"] if contract is None or row["cap"] is not None else None,
            contract.total_value if contract else None,
        ),
        start=(contract.start_date if contract else None) or row["start_date"],
        end=(contract.end_date if contract else None) or row["end_date"],
        po_number=contract.po_number if contract else None,
    )  # fmt: skip
    terms_days = contract.payment_terms_days if contract else None
    return KnownProject(
        terms, row["region"], row["version"], row["disputed"], terms_days, row["correlation_id"]
    )


_ADD_CHARGE = """
INSERT INTO billing_readiness.charges (charge_id, project_id, source, source_id, quantity, rate,
    amount, currency, bill_date, period, billable, holds, intercompany, seller_entity,
    buyer_entity, reverses, note, category)
SELECT id, project, source, source_id, quantity, rate, amount, currency, bill_date, period,
    billable, CASE WHEN holds = '' THEN '{}'::text[] ELSE string_to_array(holds, ',') END,
    intercompany, seller, buyer, reverses, note, category
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::numeric[],
    $7::numeric[], $8::text[], $9::date[], $10::text[], $11::boolean[], $12::text[],
    $13::boolean[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[])
    AS u(id, project, source, source_id, quantity, rate, amount, currency, bill_date, period,
        billable, holds, intercompany, seller, buyer, reverses, note, category)
ON CONFLICT (charge_id) DO NOTHING
RETURNING charge_id
"""
# Open billable charges of an ended period, or reversals of invoiced charges (credited at once).
_TO_INVOICE = """
SELECT DISTINCT c.project_id FROM billing_readiness.charges c
WHERE c.status = 'open' AND c.billable AND (c.period < $1 OR EXISTS (
    SELECT 1 FROM billing_readiness.charges o
    WHERE o.charge_id = c.reverses AND o.status = 'invoiced'))
ORDER BY c.project_id LIMIT $2
"""
_COLUMNS = """charge_id, project_id, source, source_id, quantity, rate, amount, currency,
    bill_date, period, billable, holds, intercompany, seller_entity, buyer_entity, reverses,
    note, category, status, invoice_id"""


def charge_record(row: asyncpg.Record) -> ChargeRecord:
    """A charges row as the domain's line with its invoicing state."""
    currency = row["currency"]
    line = ChargeLine(
        id=row["charge_id"], project_id=row["project_id"], source=ChargeSource(row["source"]),
        source_id=row["source_id"], quantity=row["quantity"].normalize(),
        rate=Money(amount=row["rate"], currency=currency),
        amount=Money(amount=row["amount"], currency=currency), bill_date=row["bill_date"],
        period=row["period"], billable=row["billable"],
        holds=frozenset(HoldReason(h) for h in row["holds"]),
        intercompany=row["intercompany"], seller_entity=row["seller_entity"],
        buyer_entity=row["buyer_entity"], reverses=row["reverses"], note=row["note"],
        category=row["category"],
    )  # fmt: skip
    return ChargeRecord(line, row["status"], row["invoice_id"])


class SqlCharges(AbstractCharges):
    def __init__(self, connection: DbConnection) -> None:
        self.connection = connection

    async def add(self, lines: Sequence[ChargeLine]) -> list[ChargeLine]:
        if not lines:
            return []
        # Holds travel as one comma-joined text per charge (unnest flattens nested arrays).
        rows = await self.connection.fetch(
            _ADD_CHARGE,
            [c.id for c in lines], [c.project_id for c in lines],
            [c.source.value for c in lines], [c.source_id for c in lines],
            [c.quantity for c in lines], [c.rate.amount for c in lines],
            [c.amount.amount for c in lines], [c.amount.currency for c in lines],
            [c.bill_date for c in lines], [c.period for c in lines],
            [c.billable for c in lines],
            [",".join(sorted(h.value for h in c.holds)) for c in lines],
            [c.intercompany for c in lines], [c.seller_entity for c in lines],
            [c.buyer_entity for c in lines], [c.reverses for c in lines],
            [c.note for c in lines], [c.category for c in lines],
        )  # fmt: skip
        added = {row["charge_id"] for row in rows}
        return [c for c in lines if c.id in added]

    async def of_source(self, source_id: str) -> list[ChargeRecord]:
        rows = await self.connection.fetch(
            f"SELECT {_COLUMNS} FROM billing_readiness.charges WHERE source_id = $1 "  # noqa: S608
            "ORDER BY created_at, charge_id FOR UPDATE",
            source_id,
        )
        return [charge_record(row) for row in rows]

    async def get(self, charge_id: str) -> ChargeRecord | None:
        row = await self.connection.fetchrow(
            f"SELECT {_COLUMNS} FROM billing_readiness.charges WHERE charge_id = $1 "  # noqa: S608
            "FOR UPDATE",
            charge_id,
        )
        return charge_record(row) if row is not None else None

    async def open_of_project(self, project_id: str) -> list[ChargeRecord]:
        rows = await self.connection.fetch(
            f"SELECT {_COLUMNS} FROM billing_readiness.charges "  # noqa: S608
            "WHERE project_id = $1 AND status = 'open' ORDER BY bill_date, charge_id FOR UPDATE",
            project_id,
        )
        return [charge_record(row) for row in rows]

    async def set_holds(self, charge_id: str, holds: frozenset[HoldReason]) -> None:
        await self.connection.execute(
            "UPDATE billing_readiness.charges SET holds = $2, updated_at = clock_timestamp() "
            "WHERE charge_id = $1",
            charge_id,
            sorted(h.value for h in holds),
        )

    async def write_off(self, charge_id: str, note: str) -> None:
        await self.connection.execute(
            "UPDATE billing_readiness.charges SET billable = false, holds = '{}', note = $2, "
            "updated_at = clock_timestamp() WHERE charge_id = $1",
            charge_id,
            note,
        )

    async def ledger(self, project_id: str, currency: str) -> Ledger:
        row = await self.connection.fetchrow(
            "SELECT "
            "COALESCE(sum(amount) FILTER (WHERE billable AND NOT intercompany "
            "  AND source IN ('time', 'expense')), 0) AS billed, "
            "COALESCE(sum(amount) FILTER (WHERE NOT billable AND NOT intercompany "
            "  AND note = 'retainer drawdown'), 0) AS drawn "
            "FROM billing_readiness.charges WHERE project_id = $1 AND currency = $2",
            project_id,
            currency,
        )
        assert row is not None  # noqa: S101 - an aggregate always answers a row
        return Ledger(
            billed_within_cap=Money(amount=row["billed"], currency=currency),
            retainer_drawn=Money(amount=row["drawn"], currency=currency),
        )

    async def invoiced(self, charge_ids: Sequence[str], invoice_id: str) -> None:
        await self.connection.execute(
            "UPDATE billing_readiness.charges SET status = 'invoiced', invoice_id = $2, "
            "updated_at = clock_timestamp() WHERE charge_id = ANY($1::text[])",
            list(charge_ids),
            invoice_id,
        )

    async def projects_to_invoice(self, before_period: str, limit: int) -> list[str]:
        rows = await self.connection.fetch(_TO_INVOICE, before_period, limit)
        return [row["project_id"] for row in rows]


class SqlPending(AbstractPending):
    def __init__(self, connection: DbConnection) -> None:
        self.connection = connection

    async def approved(self, time_entry_id: str, project_id: str, work_date: date, at: Any) -> None:
        await self.connection.execute(
            "INSERT INTO billing_readiness.pending_time (time_entry_id, project_id, work_date, "
            "approved_at) VALUES ($1, $2, $3, $4) ON CONFLICT (time_entry_id) DO NOTHING",
            time_entry_id, project_id, work_date, at,
        )  # fmt: skip

    async def failed(
        self, time_entry_id: str, project_id: str, work_date: date, reason: str, at: Any
    ) -> None:
        await self.connection.execute(
            "INSERT INTO billing_readiness.pending_time (time_entry_id, project_id, work_date, "
            "approved_at, failed_reason) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (time_entry_id) DO UPDATE SET failed_reason = EXCLUDED.failed_reason",
            time_entry_id, project_id, work_date, at, reason,
        )  # fmt: skip

    async def posted(self, time_entry_id: str) -> str | None:
        project = await self.connection.fetchval(
            "DELETE FROM billing_readiness.pending_time WHERE time_entry_id = $1 "
            "RETURNING project_id",
            time_entry_id,
        )
        return str(project) if project is not None else None

    async def counts(self, project_id: str, up_to: date) -> tuple[int, int]:
        row = await self.connection.fetchrow(
            "SELECT count(*) FILTER (WHERE failed_reason IS NULL) AS pending, "
            "count(*) FILTER (WHERE failed_reason IS NOT NULL) AS failed "
            "FROM billing_readiness.pending_time WHERE project_id = $1 AND work_date <= $2",
            project_id,
            up_to,
        )
        assert row is not None  # noqa: S101 - an aggregate always answers a row
        return int(row["pending"]), int(row["failed"])


_PROPOSE = """
INSERT INTO billing_readiness.invoices (invoice_id, project_id, customer_id, seller_entity,
    period, currency, status, credit_of, subtotal, tax_total, total, proposal)
VALUES ($1, $2, $3, $4, $5, $6, 'proposed', $7, $8, $9, $10, $11::jsonb)
ON CONFLICT (invoice_id) DO NOTHING
RETURNING true
"""


class SqlInvoices(AbstractInvoices):
    def __init__(self, connection: DbConnection) -> None:
        self.connection = connection

    async def propose(self, proposal: Proposal, body: dict[str, Any]) -> bool:
        kept = await self.connection.fetchval(
            _PROPOSE, proposal.invoice_id, proposal.project_id, proposal.customer_id,
            proposal.seller_entity, proposal.period, proposal.currency, proposal.credit_of,
            proposal.subtotal.amount, proposal.tax_total.amount, proposal.total.amount,
            json.dumps(body),
        )  # fmt: skip
        return bool(kept)

    async def get(self, invoice_id: str) -> InvoiceRecord | None:
        row = await self.connection.fetchrow(
            "SELECT invoice_id, project_id, status, credit_of, erp_instance, erp_id, number, "
            "proposal FROM billing_readiness.invoices WHERE invoice_id = $1 FOR UPDATE",
            invoice_id,
        )
        if row is None:
            return None
        return InvoiceRecord(
            row["invoice_id"], row["project_id"], row["status"], row["credit_of"],
            row["erp_instance"], row["erp_id"], row["number"], json.loads(row["proposal"]),
        )  # fmt: skip

    async def drafted(self, invoice_id: str, instance: str, erp_id: str) -> None:
        await self.connection.execute(
            "UPDATE billing_readiness.invoices SET status = 'drafted', erp_instance = $2, "
            "erp_id = $3 WHERE invoice_id = $1 AND status = 'proposed'",
            invoice_id,
            instance,
            erp_id,
        )

    async def posted(
        self, invoice_id: str, number: str, subtotal: Any, tax_total: Any, total: Any, at: Any
    ) -> None:
        await self.connection.execute(
            "UPDATE billing_readiness.invoices SET status = 'posted', number = $2, "
            "erp_subtotal = $3, erp_tax_total = $4, erp_total = $5, posted_at = $6 "
            "WHERE invoice_id = $1",
            invoice_id, number, subtotal, tax_total, total, at,
        )  # fmt: skip

    async def of_charge(self, charge_id: str) -> str | None:
        found = await self.connection.fetchval(
            "SELECT invoice_id FROM billing_readiness.charges WHERE charge_id = $1", charge_id
        )
        return str(found) if found is not None else None


class SqlAudit(AbstractAudit):
    def __init__(self, connection: DbConnection) -> None:
        self.connection = connection

    async def record(
        self, actor: str, action: str, subject: str, reason: str, detail: dict[str, Any]
    ) -> None:
        await self.connection.execute(
            "INSERT INTO billing_readiness.audit (actor, action, subject, reason, detail) "
            "VALUES ($1, $2, $3, $4, $5::jsonb)",
            actor, action, subject, reason, json.dumps(detail),
        )  # fmt: skip
