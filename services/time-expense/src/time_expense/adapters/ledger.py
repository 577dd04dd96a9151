"""The ledger tables in SQL: entries' ledgers, the posting journal, business exceptions.

``SqlLedgers`` lives for one transaction: an entry's ledger is read (and locked) once, and what
handlers keep is written at ``flush`` with one statement, so a lane's batch of a worker's
entries costs one read per entry and one write for all of them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import date
from decimal import Decimal

from tandem_contracts.entities import Expense, TimeEntry
from tandem_messaging import DbConnection
from time_expense.domain import EntryLedger, Post, Stage
from time_expense.service_layer.unit_of_work import (
    AbstractLedgers,
    BusinessException,
    ExpenseLedger,
    JournalLine,
    RunRecord,
)

__all__ = ["SqlLedgers"]

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
_REWRITTEN = "UPDATE time_expense.postings SET erp_id = $2 WHERE key = $1"
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
SELECT subject_id FROM time_expense.exceptions WHERE subject_type = $1 AND resolved_at IS NULL
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
_RUN = """
INSERT INTO time_expense.reconciliation_runs (run_id, legal_entity_id, start_date, end_date,
    trigger, psa_entries, erp_lines, mismatches, repaired, started_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10) RETURNING sequence
"""
_EXPENSE = """
SELECT version, stage, current FROM time_expense.expenses WHERE expense_id = $1 FOR UPDATE
"""
_SAVE_EXPENSE = """
INSERT INTO time_expense.expenses (expense_id, version, stage, current)
VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (expense_id) DO UPDATE
    SET version = EXCLUDED.version, stage = EXCLUDED.stage, current = EXCLUDED.current,
        updated_at = clock_timestamp()
"""


class SqlLedgers(AbstractLedgers):
    """The ledger tables in the transaction of ``connection``."""

    def __init__(self, connection: DbConnection) -> None:
        self._db = connection
        self._read: dict[str, EntryLedger | None] = {}
        self._kept: dict[str, tuple[EntryLedger, TimeEntry, str]] = {}
        self._resolved: dict[str, set[str]] = {}

    async def entry(self, entry_id: str) -> EntryLedger | None:
        """The entry's ledger as kept in this transaction, else as stored (locked)."""
        if entry_id in self._kept:
            return self._kept[entry_id][0]
        if entry_id not in self._read:
            self._read[entry_id] = await self._fetch_entry(entry_id)
        return self._read[entry_id]

    async def _fetch_entry(self, entry_id: str) -> EntryLedger | None:
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

    def keep(self, ledger: EntryLedger, about: TimeEntry, region: str) -> None:
        """Save at ``flush``."""
        self._kept[ledger.entry_id] = (ledger, about, region)

    async def journal(self, *lines: JournalLine) -> None:
        """Record lines written to the ERP (once per idempotency key), in one round trip."""
        await self._db.executemany(_JOURNAL, [_journal_row(line) for line in lines])

    async def journal_line(self, key: str) -> JournalLine | None:
        """The line written under ``key``, if any."""
        row = await self._db.fetchrow(_LINE, key)
        return JournalLine(**dict(row)) if row else None

    async def rewritten(self, key: str, erp_id: str) -> None:
        """Point the line written under ``key`` at the ERP record that now holds it."""
        await self._db.execute(_REWRITTEN, key, erp_id)

    async def work_dates(self, keys: Sequence[str]) -> dict[str, date]:
        """The work date of each journal line written under one of ``keys``."""
        rows = await self._db.fetch(_WORK_DATES, list(keys))
        return {row["key"]: row["work_date"] for row in rows}

    async def priced(self, entry_ids: Sequence[str]) -> dict[str, tuple[Decimal, str]]:
        """What Tandem posted each entry at, net of reversals."""
        rows = await self._db.fetch(_PRICED, list(entry_ids))
        return {row["subject_id"]: (row["amount"], row["currency"]) for row in rows}

    async def held(self, subject_type: str) -> set[str]:
        """Subjects with an open business exception."""
        return {str(row[0]) for row in await self._db.fetch(_HELD, subject_type)}

    async def open_exception(self, exception: BusinessException) -> None:
        """Open (or refresh) the subject's business exception."""
        await self._db.execute(
            _OPEN, exception.subject_type, exception.subject_id, exception.event_id,
            exception.reason, exception.detail[:2000], exception.retryable,
            exception.waiting_for, exception.project_id, exception.worker_id,
            exception.legal_entity_id, exception.region, list(exception.org_unit_ids),
        )  # fmt: skip

    def resolve(self, subject_type: str, subject_id: str) -> None:
        """Close the subject's open exception at ``flush``."""
        self._resolved.setdefault(subject_type, set()).add(subject_id)

    async def expense(self, expense_id: str) -> ExpenseLedger | None:
        """The expense's ledger, locked for this transaction."""
        row = await self._db.fetchrow(_EXPENSE, expense_id)
        if row is None:
            return None
        return ExpenseLedger(Expense.model_validate_json(row["current"]), row["version"],
                             row["stage"])  # fmt: skip

    async def save_expense(self, expense: Expense, version: int, stage: str) -> None:
        """Record the expense's latest version and stage."""
        await self._db.execute(_SAVE_EXPENSE, expense.id, version, stage, expense.model_dump_json())

    async def record_run(self, run: RunRecord) -> int:
        """Record a reconciliation run."""
        return int(
            await self._db.fetchval(
                _RUN,
                run.run_id,
                run.legal_entity_id,
                run.start,
                run.end,
                run.trigger,
                run.psa_entries,
                run.erp_lines,
                json.dumps(run.mismatches),
                run.repaired,
                run.started_at,
            )
        )

    async def flush(self) -> None:
        """Write the kept ledgers and close the resolved exceptions, a statement each."""
        if self._kept:
            await self._db.executemany(
                _SAVE_LEDGER, [_ledger_row(*kept) for kept in self._kept.values()]
            )
            self._read.update((entry_id, kept[0]) for entry_id, kept in self._kept.items())
            self._kept.clear()
        for subject_type, ids in self._resolved.items():
            await self._db.execute(_RESOLVE, subject_type, sorted(ids))
        self._resolved.clear()


def _ledger_row(ledger: EntryLedger, about: TimeEntry, region: str) -> tuple[object, ...]:
    return (
        ledger.entry_id, ledger.version, ledger.stage.value, about.worker_id, about.project_id,
        about.timesheet_id, about.project_legal_entity_id, region, about.work_date,
        ledger.current.model_dump_json() if ledger.current else None,
        ledger.posted.entry.model_dump_json() if ledger.posted else None,
        ledger.posted.version if ledger.posted else None,
    )  # fmt: skip


_JOURNAL_COLUMNS = tuple(f.name for f in fields(JournalLine))  # in _JOURNAL's order


def _journal_row(line: JournalLine) -> tuple[object, ...]:
    return tuple(getattr(line, name) for name in _JOURNAL_COLUMNS)
