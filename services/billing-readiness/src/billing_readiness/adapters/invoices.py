"""billing-readiness's invoices and its audit trail, behind the service layer's ports (plain SQL
on one transaction)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from billing_readiness.domain import (
    Proposal,
)
from billing_readiness.service_layer.unit_of_work import (
    AbstractAudit,
    AbstractInvoices,
    InvoiceRecord,
    InvoiceTotals,
)
from tandem_messaging import DbConnection

__all__ = ["SqlAudit", "SqlInvoices"]

_PROPOSE = """
INSERT INTO billing_readiness.invoices (invoice_id, project_id, customer_id, seller_entity,
    period, currency, status, credit_of, subtotal, tax_total, total, proposal)
VALUES ($1, $2, $3, $4, $5, $6, 'proposed', $7, $8, $9, $10, $11::jsonb)
ON CONFLICT (invoice_id) DO NOTHING
RETURNING true
"""


# An invoice with its date (as proposed) and the sum and count of the charges marked on it.
_TOTALS = """
SELECT i.invoice_id, i.project_id, i.seller_entity, i.period, i.currency, i.status,
    i.credit_of, i.invoice_date, i.subtotal, i.total, i.erp_instance, i.erp_id, i.number,
    i.erp_subtotal, i.erp_total, i.proposed_at,
    COALESCE(sum(c.amount), 0) AS charged, count(c.charge_id)::int AS charges
FROM (SELECT *, COALESCE((proposal->>'invoice_date')::date, proposed_at::date) AS invoice_date
      FROM billing_readiness.invoices) i
LEFT JOIN billing_readiness.charges c ON c.invoice_id = i.invoice_id
WHERE {where}
GROUP BY i.invoice_id, i.project_id, i.seller_entity, i.period, i.currency, i.status,
    i.credit_of, i.invoice_date, i.subtotal, i.total, i.erp_instance, i.erp_id, i.number,
    i.erp_subtotal, i.erp_total, i.proposed_at
ORDER BY i.invoice_date, i.invoice_id
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

    async def dated(self, start: date, end: date) -> list[InvoiceTotals]:
        rows = await self.connection.fetch(
            _TOTALS.format(where="i.invoice_date BETWEEN $1 AND $2"), start, end
        )
        return [InvoiceTotals(**dict(row)) for row in rows]

    async def named(self, invoice_ids: Sequence[str]) -> list[InvoiceTotals]:
        rows = await self.connection.fetch(
            _TOTALS.format(where="i.invoice_id = ANY($1::text[])"), list(invoice_ids)
        )
        return [InvoiceTotals(**dict(row)) for row in rows]


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
