"""billing-readiness's charges and the time it waits for, behind the service layer's ports
(plain SQL on one transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from billing_readiness.domain import (
    ChargeLine,
    Leak,
    Ledger,
)
from billing_readiness.service_layer.unit_of_work import (
    AbstractCharges,
    AbstractPending,
    ChargeRecord,
    PendingTime,
)
from tandem_contracts import Money
from tandem_contracts.entities import (
    ChargeSource,
)
from tandem_contracts.events import HoldReason
from tandem_messaging import DbConnection

__all__ = ["SqlCharges", "SqlPending", "charge_record"]

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
    AND c.project_id > $3
ORDER BY c.project_id LIMIT $2
"""
_COLUMNS = """charge_id, project_id, source, source_id, quantity, rate, amount, currency,
    bill_date, period, billable, holds, intercompany, seller_entity, buyer_entity, reverses,
    note, category, status, invoice_id"""
_INVOICED_UNRECORDED = f"""
SELECT {_COLUMNS} FROM billing_readiness.charges c
WHERE c.status = 'invoiced' AND NOT EXISTS (
    SELECT 1 FROM billing_readiness.invoices i WHERE i.invoice_id = c.invoice_id)
ORDER BY c.charge_id LIMIT $1
"""  # noqa: S608 - the column list is this module's constant


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

    async def set_standard_rate(self, charge_ids: Sequence[str], rate: Money) -> None:
        await self.connection.execute(
            "UPDATE billing_readiness.charges SET standard_rate = $2 "
            "WHERE charge_id = ANY($1::text[])",
            list(charge_ids),
            rate.amount,
        )

    async def standard_rates(self, project_id: str) -> dict[str, Money]:
        rows = await self.connection.fetch(
            "SELECT charge_id, standard_rate, currency FROM billing_readiness.charges "
            "WHERE project_id = $1 AND standard_rate IS NOT NULL",
            project_id,
        )
        return {
            row["charge_id"]: Money(amount=row["standard_rate"], currency=row["currency"])
            for row in rows
        }

    async def projects_to_invoice(
        self, before_period: str, limit: int, *, after: str = ""
    ) -> list[str]:
        rows = await self.connection.fetch(_TO_INVOICE, before_period, limit, after)
        return [row["project_id"] for row in rows]

    async def projects_with_open(self) -> list[str]:
        rows = await self.connection.fetch(
            "SELECT DISTINCT project_id FROM billing_readiness.charges WHERE status = 'open' "
            "ORDER BY project_id"
        )
        return [row["project_id"] for row in rows]

    async def open_to_report(self, project_id: str) -> list[ChargeRecord]:
        rows = await self.connection.fetch(
            f"SELECT {_COLUMNS} FROM billing_readiness.charges "  # noqa: S608
            "WHERE project_id = $1 AND status = 'open' ORDER BY bill_date, charge_id",
            project_id,
        )
        return [charge_record(row) for row in rows]

    async def invoiced_unrecorded(self, limit: int) -> list[ChargeRecord]:
        rows = await self.connection.fetch(_INVOICED_UNRECORDED, limit)
        return [charge_record(row) for row in rows]

    async def record_leak(self, leak: Leak, day: date) -> bool:
        kept = await self.connection.fetchval(
            "INSERT INTO billing_readiness.leakage (project_id, kind, day, amount, currency, "
            "items) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true",
            leak.project_id, leak.kind.value, day, leak.amount.amount, leak.amount.currency,
            len(leak.item_ids),
        )  # fmt: skip
        return bool(kept)


class SqlPending(AbstractPending):
    """Pending and refused time; a project's counts are remembered for the transaction until
    it writes pending time."""

    def __init__(self, connection: DbConnection) -> None:
        self.connection = connection
        self._counts: dict[tuple[str, date], tuple[int, int]] = {}

    async def approved(self, time_entry_id: str, project_id: str, work_date: date, at: Any) -> None:
        self._counts.clear()
        await self.connection.execute(
            "INSERT INTO billing_readiness.pending_time (time_entry_id, project_id, work_date, "
            "approved_at) VALUES ($1, $2, $3, $4) ON CONFLICT (time_entry_id) DO NOTHING",
            time_entry_id, project_id, work_date, at,
        )  # fmt: skip

    async def failed(
        self, time_entry_id: str, project_id: str, work_date: date, reason: str, at: Any
    ) -> None:
        self._counts.clear()
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
        if project is None:
            return None
        self._counts.clear()
        return str(project)

    async def counts(self, project_id: str, up_to: date) -> tuple[int, int]:
        if (project_id, up_to) in self._counts:
            return self._counts[(project_id, up_to)]
        row = await self.connection.fetchrow(
            "SELECT count(*) FILTER (WHERE failed_reason IS NULL) AS pending, "
            "count(*) FILTER (WHERE failed_reason IS NOT NULL) AS failed "
            "FROM billing_readiness.pending_time WHERE project_id = $1 AND work_date <= $2",
            project_id,
            up_to,
        )
        assert row is not None  # noqa: S101 - an aggregate always answers a row
        found = int(row["pending"]), int(row["failed"])
        self._counts[(project_id, up_to)] = found
        return found

    async def value(self, time_entry_id: str, amount: Money) -> None:
        await self.connection.execute(
            "UPDATE billing_readiness.pending_time SET bill_amount = $2, currency = $3 "
            "WHERE time_entry_id = $1",
            time_entry_id,
            amount.amount,
            amount.currency,
        )

    async def approved_before(self, at: datetime, project_id: str | None) -> list[PendingTime]:
        rows = await self.connection.fetch(
            "SELECT time_entry_id, project_id, work_date, approved_at, failed_reason, "
            "bill_amount, currency FROM billing_readiness.pending_time "
            "WHERE approved_at < $1 AND ($2::text IS NULL OR project_id = $2) "
            "ORDER BY approved_at, time_entry_id",
            at,
            project_id,
        )
        return [_pending(row) for row in rows]


def _pending(row: asyncpg.Record) -> PendingTime:
    """A pending_time row, valued when its approval carried a bill rate."""
    valued = row["bill_amount"] is not None and row["currency"]
    value = Money(amount=row["bill_amount"], currency=row["currency"]) if valued else None
    return PendingTime(
        row["time_entry_id"], row["project_id"], row["work_date"], row["approved_at"], value,
        row["failed_reason"],
    )  # fmt: skip
