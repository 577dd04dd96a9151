"""The posting ledger's tables: entries, the posting journal and the business exceptions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal

from tandem_contracts.entities import Expense, TimeEntry
from tandem_messaging import DbConnection
from time_expense.domain import EntryLedger, Post, Stage

__all__ = ["BusinessException", "JournalLine", "Ledgers"]

_LEDGER = """
SELECT version, stage, current, posted, posted_version FROM time_expense.entries
WHERE entry_id = $1 FOR UPDATE
"""
_SAVE_LEDGER = """
INSERT INTO time_expense.entries (entry_id, version, stage, worker_id, project_id, timesheet_id,
    legal_entity_id, region, work_date, current, posted, posted_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12)
ON CONFLICT (entry_id) DO UPDATE
    SET version = EXCLUDED.version, stage = EXCLUDED.stage, current = EXCLUDED.current,
        posted = EXCLUDED.posted, posted_version = EXCLUDED.posted_version,
        worker_id = EXCLUDED.worker_id, project_id = EXCLUDED.project_id,
        timesheet_id = EXCLUDED.timesheet_id, work_date = EXCLUDED.work_date,
        updated_at = clock_timestamp()
"""
_JOURNAL = """
INSERT INTO time_expense.postings (key, subject_type, subject_id, kind, erp_instance, erp_id,
    project_id, worker_id, legal_entity_id, work_date, accounting_date, late, minutes,
    bill_amount, cost_amount, amount, currency)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
ON CONFLICT (key) DO NOTHING
"""
_LINE = """
SELECT key, subject_type, subject_id, kind, erp_instance, erp_id, project_id, worker_id,
    legal_entity_id, work_date, accounting_date, late, minutes, bill_amount, cost_amount,
    amount, currency
FROM time_expense.postings WHERE key = $1
"""
_WORK_DATES = """
SELECT key, work_date FROM time_expense.postings WHERE key = ANY($1::text[])
"""
# What Tandem priced each entry at: the net of its journal lines (reversals negative).
_PRICED = """
SELECT subject_id, min(currency) AS currency, sum(bill_amount) AS amount
FROM time_expense.postings
WHERE subject_type = 'time_entry' AND subject_id = ANY($1::text[]) AND bill_amount IS NOT NULL
GROUP BY subject_id HAVING count(DISTINCT currency) = 1
"""
_HELD = """
SELECT subject_id FROM time_expense.exceptions
WHERE subject_type = 'time_entry' AND resolved_at IS NULL
UNION
SELECT record_id FROM time_expense.inbound
WHERE record_type = 'time_entry' AND status = 'pending' AND detail IS NOT NULL
"""
_OPEN = """
INSERT INTO time_expense.exceptions (subject_type, subject_id, event_id, reason, detail,
    retryable, waiting_for, project_id, worker_id, legal_entity_id, region, org_unit_ids)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (subject_type, subject_id) DO UPDATE
    SET event_id = EXCLUDED.event_id, reason = EXCLUDED.reason, detail = EXCLUDED.detail,
        retryable = EXCLUDED.retryable, waiting_for = EXCLUDED.waiting_for,
        opened_at = clock_timestamp(), resolved_at = NULL
"""
_RESOLVE = """
UPDATE time_expense.exceptions SET resolved_at = clock_timestamp()
WHERE subject_type = $1 AND subject_id = ANY($2::text[]) AND resolved_at IS NULL
"""
_EXPENSE = "SELECT version, stage FROM time_expense.expenses WHERE expense_id = $1 FOR UPDATE"
_SAVE_EXPENSE = """
INSERT INTO time_expense.expenses (expense_id, version, stage, current)
VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (expense_id) DO UPDATE
    SET version = EXCLUDED.version, stage = EXCLUDED.stage, current = EXCLUDED.current,
        updated_at = clock_timestamp()
"""


@dataclass(frozen=True)
class JournalLine:
    """One line Tandem wrote to an ERP (a reversal has negative minutes and amounts)."""

    key: str
    subject_type: str
    subject_id: str
    kind: str
    erp_instance: str
    erp_id: str
    project_id: str
    worker_id: str
    legal_entity_id: str
    work_date: date
    accounting_date: date
    late: bool
    minutes: int
    bill_amount: Decimal | None
    cost_amount: Decimal | None
    amount: Decimal | None
    currency: str


@dataclass(frozen=True)
class BusinessException:
    """A business exception about one subject (a time entry or an expense)."""

    subject_type: str
    subject_id: str
    event_id: str
    reason: str
    detail: str
    retryable: bool
    waiting_for: str | None
    project_id: str | None
    worker_id: str | None
    legal_entity_id: str | None
    region: str | None
    org_unit_ids: tuple[str, ...] = ()


class Ledgers:
    """Reads and writes the ledger tables in the caller's transaction."""

    def __init__(self, connection: DbConnection) -> None:
        self._db = connection

    async def entry(self, entry_id: str) -> EntryLedger | None:
        """The entry's ledger, locked for this transaction, or ``None`` if never seen."""
        row = await self._db.fetchrow(_LEDGER, entry_id)
        if row is None:
            return None
        current = TimeEntry.model_validate_json(row["current"]) if row["current"] else None
        posted = (
            Post(TimeEntry.model_validate_json(row["posted"]), row["posted_version"])
            if row["posted"]
            else None
        )
        return EntryLedger(entry_id, row["version"], Stage(row["stage"]), current, posted)

    async def save_entries(self, saves: Sequence[tuple[EntryLedger, TimeEntry, str]]) -> None:
        """Write entries' ledgers, each ``(ledger, about, region)`` (``about`` gives the columns
        reports filter on), in one round trip."""
        await self._db.executemany(
            _SAVE_LEDGER,
            [
                (
                    ledger.entry_id,
                    ledger.version,
                    ledger.stage.value,
                    about.worker_id,
                    about.project_id,
                    about.timesheet_id,
                    about.project_legal_entity_id,
                    region,
                    about.work_date,
                    ledger.current.model_dump_json() if ledger.current else None,
                    ledger.posted.entry.model_dump_json() if ledger.posted else None,
                    ledger.posted.version if ledger.posted else None,
                )
                for ledger, about, region in saves
            ],
        )

    async def journal(self, *lines: JournalLine) -> None:
        """Record lines written to the ERP (once per idempotency key), in one round trip."""
        await self._db.executemany(_JOURNAL, [_journal_row(line) for line in lines])

    async def journal_line(self, key: str) -> JournalLine | None:
        """The line written under ``key``, if any."""
        row = await self._db.fetchrow(_LINE, key)
        return JournalLine(**dict(row)) if row else None

    async def work_dates(self, keys: list[str]) -> dict[str, date]:
        """The work date of each journal line written under one of ``keys``."""
        rows = await self._db.fetch(_WORK_DATES, keys)
        return {row["key"]: row["work_date"] for row in rows}

    async def priced(self, entry_ids: Sequence[str]) -> dict[str, tuple[Decimal, str]]:
        """The bill amount and currency Tandem posted each entry at, net of reversals (entries
        never posted, or posted unpriced, are absent)."""
        rows = await self._db.fetch(_PRICED, list(entry_ids))
        return {row["subject_id"]: (row["amount"], row["currency"]) for row in rows}

    async def held_entries(self) -> set[str]:
        """Time entries held as business exceptions (refused, or waiting for a dependency)."""
        return {str(row[0]) for row in await self._db.fetch(_HELD)}

    async def open_exception(self, exception: BusinessException) -> None:
        """Open (or refresh) the subject's business exception."""
        await self._db.execute(
            _OPEN,
            exception.subject_type,
            exception.subject_id,
            exception.event_id,
            exception.reason,
            exception.detail[:2000],
            exception.retryable,
            exception.waiting_for,
            exception.project_id,
            exception.worker_id,
            exception.legal_entity_id,
            exception.region,
            list(exception.org_unit_ids),
        )

    async def resolve_exceptions(self, subject_type: str, subject_ids: Sequence[str]) -> None:
        """Close the subjects' open exceptions, if any."""
        await self._db.execute(_RESOLVE, subject_type, list(subject_ids))

    async def expense_version(self, expense_id: str) -> int | None:
        """The last version of the expense handled, locked for this transaction."""
        row = await self._db.fetchrow(_EXPENSE, expense_id)
        return int(row["version"]) if row else None

    async def save_expense(self, expense: Expense, version: int, stage: str) -> None:
        """Record the expense's latest version and stage."""
        await self._db.execute(_SAVE_EXPENSE, expense.id, version, stage, expense.model_dump_json())


_JOURNAL_COLUMNS = tuple(f.name for f in fields(JournalLine))  # in _JOURNAL's order


def _journal_row(line: JournalLine) -> tuple[object, ...]:
    return tuple(getattr(line, name) for name in _JOURNAL_COLUMNS)
