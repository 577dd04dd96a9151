"""Read-side queries of the process API (one connection, no locks)."""

from __future__ import annotations

from datetime import date
from typing import Any

from billing_readiness.adapters.charges import charge_record
from billing_readiness.service_layer.unit_of_work import ChargeRecord
from tandem_messaging import DbConnection

__all__ = ["Views"]

_CHARGES = """
SELECT charge_id, project_id, source, source_id, quantity, rate, amount, currency, bill_date,
    period, billable, holds, intercompany, seller_entity, buyer_entity, reverses, note, category,
    status, invoice_id
FROM billing_readiness.charges
WHERE ($1::text IS NULL OR project_id = $1) AND ($2::text IS NULL OR status = $2)
    AND (NOT $3 OR cardinality(holds) > 0) AND ($4::text IS NULL OR charge_id > $4)
ORDER BY charge_id LIMIT $5
"""
_INVOICES = """
SELECT invoice_id, project_id, customer_id, seller_entity, period, currency, status, credit_of,
    subtotal, tax_total, total, number, erp_instance, erp_id, erp_total, proposed_at, posted_at
FROM billing_readiness.invoices
WHERE ($1::text IS NULL OR project_id = $1) AND ($2::text IS NULL OR invoice_id > $2)
ORDER BY invoice_id LIMIT $3
"""
_SUMS = """
SELECT
    COALESCE(sum(amount) FILTER (WHERE billable AND NOT intercompany), 0) AS charged,
    COALESCE(sum(amount) FILTER (WHERE billable AND NOT intercompany AND status = 'invoiced'),
        0) AS invoiced,
    COALESCE(sum(amount) FILTER (WHERE billable AND NOT intercompany AND status = 'open'
        AND cardinality(holds) > 0), 0) AS held
FROM billing_readiness.charges WHERE project_id = $1
"""
_WIP = """
SELECT project_id, currency,
    sum(amount) AS total,
    COALESCE(sum(amount) FILTER (WHERE cardinality(holds) > 0), 0) AS held,
    CASE WHEN $1::date - bill_date <= 30 THEN '0-30'
         WHEN $1::date - bill_date <= 60 THEN '31-60'
         WHEN $1::date - bill_date <= 90 THEN '61-90' ELSE '90+' END AS bucket,
    count(*) AS charges
FROM billing_readiness.charges
WHERE status = 'open' AND billable AND NOT intercompany AND bill_date <= $1
    AND ($2::text IS NULL OR project_id = $2)
GROUP BY project_id, currency, bucket
ORDER BY project_id, currency, bucket
"""


class Views:
    """What the process API reads."""

    def __init__(self, connection: DbConnection) -> None:
        self.connection = connection

    async def charges(
        self, project_id: str | None, status: str | None, held: bool, after: str | None, limit: int
    ) -> list[ChargeRecord]:
        rows = await self.connection.fetch(_CHARGES, project_id, status, held, after, limit)
        return [charge_record(row) for row in rows]

    async def invoices(
        self, project_id: str | None, after: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        rows = await self.connection.fetch(_INVOICES, project_id, after, limit)
        return [dict(row) for row in rows]

    async def sums(self, project_id: str) -> dict[str, Any]:
        row = await self.connection.fetchrow(_SUMS, project_id)
        return dict(row) if row is not None else {}

    async def wip(self, as_of: date, project_id: str | None) -> list[dict[str, Any]]:
        return [dict(row) for row in await self.connection.fetch(_WIP, as_of, project_id)]
