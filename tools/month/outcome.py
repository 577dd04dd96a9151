"""What time-expense made of the month, read from its own tables once it has settled."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

__all__ = ["Outcome", "settle"]

_WAITING_STILL_S = 60.0
_PROGRESS = """
SELECT
  (SELECT count(DISTINCT subject_id) FROM time_expense.postings
     WHERE subject_type = 'time_entry' AND kind = 'post') AS posted,
  (SELECT count(DISTINCT subject_id) FROM time_expense.postings
     WHERE subject_type = 'expense') AS expenses,
  (SELECT count(*) FROM time_expense.exceptions
     WHERE resolved_at IS NULL AND subject_type = 'time_entry') AS held,
  (SELECT count(*) FROM time_expense.exceptions
     WHERE resolved_at IS NULL AND subject_type = 'expense') AS held_expenses,
  (SELECT count(DISTINCT record_id) FROM connectors.inbound
     WHERE status = 'pending' AND detail IS NOT NULL) AS waiting,
  (SELECT count(*) FROM connectors.inbound
     WHERE status = 'pending' AND detail IS NULL) AS landing,
  (SELECT count(*) FROM messaging.outbox WHERE published_at IS NULL) AS unsent
"""
_BY_ENTITY = """
SELECT legal_entity_id, currency, count(*) FILTER (WHERE kind = 'post') AS lines,
  count(*) FILTER (WHERE kind = 'reversal') AS reversals, sum(minutes) AS minutes,
  sum(bill_amount) AS billed, count(*) FILTER (WHERE late) AS late
FROM time_expense.postings WHERE subject_type = 'time_entry'
GROUP BY 1, 2 ORDER BY 1, 2
"""
_EXPENSES = """
SELECT count(*) AS lines, count(DISTINCT currency) AS currencies
FROM time_expense.postings WHERE subject_type = 'expense'
"""
_REASONS = """
SELECT reason, subject_type, count(*) AS n FROM time_expense.exceptions
WHERE resolved_at IS NULL GROUP BY 1, 2 ORDER BY 3 DESC
"""
_WAITING = """
SELECT split_part(detail, ':', 1) AS reason, count(DISTINCT record_id) AS n
FROM connectors.inbound WHERE status = 'pending' AND detail IS NOT NULL GROUP BY 1
"""
# What time-expense announced, by event type (published or still to relay).
_ANNOUNCED = """
SELECT event_type, count(*) AS n FROM messaging.outbox
WHERE event_type IN ('TimeSubmitted', 'TimeApproved', 'TimeAdjusted', 'TimeRejected',
                     'ExpenseApproved', 'TimePosted', 'ExpensePosted', 'TimePostingFailed')
GROUP BY 1 ORDER BY 2 DESC
"""
_SPAN = """
SELECT min(posted_at) AS first, max(posted_at) AS last FROM time_expense.postings
WHERE subject_type = 'time_entry' AND kind = 'post'
"""


@dataclass
class Outcome:
    """Posted totals per entity and currency, exceptions by reason, and the posting span."""

    by_entity: list[dict[str, Any]] = field(default_factory=list)
    expenses_posted: int = 0
    exceptions: list[tuple[str, str, int]] = field(default_factory=list)
    announced: list[tuple[str, int]] = field(default_factory=list)
    posted_entries: int = 0
    held_entries: int = 0
    outstanding: int = 0
    seconds: float = 0.0

    @property
    def entries_per_second(self) -> float:
        return self.posted_entries / self.seconds if self.seconds else 0.0


async def settle(
    database_url: str, *, entries: int, expenses: int, within: float = 1800.0
) -> Outcome:
    """Wait until every approved entry and expense is posted or held as an exception (or the
    deadline passes: what is still outstanding is then reported), then read the outcome.

    An entry whose record waits (its project or worker not known to time-expense yet) counts
    as settled only once nothing has moved for ``_WAITING_STILL_S``: a wait that ends soon
    ends within it, and a month invoiced before those entries post is invoiced in parts."""
    connection = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + within
        last, still_since = None, time.monotonic()
        while time.monotonic() < deadline:
            row = await connection.fetchrow(_PROGRESS)
            assert row is not None  # noqa: S101 - an aggregate answers a row
            now = tuple(row)
            if now != last:
                last, still_since = now, time.monotonic()
            waited_out = row["waiting"] == 0 or time.monotonic() - still_since > _WAITING_STILL_S
            time_done = row["posted"] + row["held"] + row["waiting"] >= entries and waited_out
            expenses_done = row["expenses"] + row["held_expenses"] >= expenses
            if time_done and expenses_done and row["landing"] == 0 and row["unsent"] == 0:
                break
            await asyncio.sleep(0.5)
        outcome = await _read(connection)
        outcome.outstanding = max(0, entries - outcome.posted_entries - outcome.held_entries)
        return outcome
    finally:
        await connection.close()


async def _read(connection: asyncpg.Connection) -> Outcome:
    outcome = Outcome()
    outcome.by_entity = [dict(r) for r in await connection.fetch(_BY_ENTITY)]
    outcome.expenses_posted = int((await connection.fetchrow(_EXPENSES))["lines"])  # type: ignore[index]
    outcome.exceptions = [
        (r["reason"], r["subject_type"], r["n"]) for r in await connection.fetch(_REASONS)
    ]
    outcome.exceptions += [
        (r["reason"], "time_entry (waiting)", r["n"]) for r in await connection.fetch(_WAITING)
    ]
    outcome.held_entries = sum(n for _, kind, n in outcome.exceptions if kind.startswith("time"))
    outcome.announced = [(r["event_type"], r["n"]) for r in await connection.fetch(_ANNOUNCED)]
    span = await connection.fetchrow(_SPAN)
    outcome.posted_entries = int(
        sum(Decimal(r["lines"] - r["reversals"]) for r in outcome.by_entity)
    )
    if span and span["first"] and span["last"]:
        outcome.seconds = (span["last"] - span["first"]).total_seconds()
    return outcome
