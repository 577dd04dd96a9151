"""Read-side queries for the process API: sync status, posting summaries, exceptions."""

from __future__ import annotations

from datetime import date
from typing import Any

from tandem_messaging import DbConnection

__all__ = ["Views"]

_ENTRY = """
SELECT entry_id, version, stage, worker_id, project_id, timesheet_id, legal_entity_id, region,
    work_date, updated_at FROM time_expense.entries WHERE entry_id = $1
"""
_ENTRIES = """
SELECT entry_id, version, stage, worker_id, project_id, timesheet_id, legal_entity_id, region,
    work_date, updated_at FROM time_expense.entries
WHERE ($1::text IS NULL OR timesheet_id = $1) AND ($2::text IS NULL OR project_id = $2)
  AND ($3::text IS NULL OR stage = $3) AND ($4::text IS NULL OR entry_id > $4)
ORDER BY entry_id LIMIT $5
"""
_LINES = """
SELECT key, kind, erp_instance, erp_id, accounting_date, late, minutes, bill_amount,
    cost_amount, amount, currency, posted_at FROM time_expense.postings
WHERE subject_id = $1 ORDER BY sequence
"""
_OPEN_EXCEPTION = """
SELECT reason, detail, retryable, waiting_for, opened_at FROM time_expense.exceptions
WHERE subject_id = $1 AND resolved_at IS NULL
"""
_SUMMARY = """
SELECT project_id, legal_entity_id, currency, subject_type,
    count(*) FILTER (WHERE kind = 'post') AS posted,
    count(*) FILTER (WHERE kind = 'reversal') AS reversed,
    count(*) FILTER (WHERE late) AS late,
    sum(minutes) AS net_minutes, sum(bill_amount) AS bill_amount,
    sum(cost_amount) AS cost_amount, sum(amount) AS amount
FROM time_expense.postings
WHERE accounting_date BETWEEN $1 AND $2
  AND ($3::text IS NULL OR project_id = $3) AND ($4::text IS NULL OR legal_entity_id = $4)
GROUP BY project_id, legal_entity_id, currency, subject_type
ORDER BY project_id, subject_type, currency
"""
# Business exceptions of the consumer, plus PSA records ingestion holds back until their
# project or worker is known (waiting, released by the next ingest pass after it arrives).
_EXCEPTIONS = """
SELECT * FROM (
    SELECT subject_type, subject_id, event_id::text AS event_id, reason, detail, retryable,
        waiting_for, project_id, worker_id, legal_entity_id, region, org_unit_ids, opened_at,
        resolved_at
    FROM time_expense.exceptions
    UNION ALL
    SELECT DISTINCT ON (record_type, record_id) record_type, record_id, NULL,
        split_part(detail, ':', 1), detail, true, 'reference data', NULL,
        payload->>'resource_id', NULL, NULL, '{}'::text[], received_at, NULL
    FROM connectors.inbound WHERE system = 'psa' AND status = 'pending' AND detail IS NOT NULL
    ORDER BY 1, 2, 13
) AS found
WHERE ($1::text IS NULL OR reason = $1) AND ($2::text IS NULL OR legal_entity_id = $2)
  AND ($3::text IS NULL OR region = $3) AND ($4::text IS NULL OR $4 = ANY(org_unit_ids))
  AND ($5::bool IS FALSE OR resolved_at IS NULL)
  AND ($6::text IS NULL OR subject_id > $6)
ORDER BY subject_id LIMIT $7
"""


class Views:
    """Answers the process API's questions from the service's tables."""

    def __init__(self, connection: DbConnection) -> None:
        self._db = connection

    async def entry(self, entry_id: str) -> dict[str, Any] | None:
        """One entry's status, its journal lines and its open exception."""
        row = await self._db.fetchrow(_ENTRY, entry_id)
        if row is None:
            return None
        lines = await self._db.fetch(_LINES, entry_id)
        problem = await self._db.fetchrow(_OPEN_EXCEPTION, entry_id)
        return {
            **dict(row),
            "postings": [dict(line) for line in lines],
            "exception": dict(problem) if problem else None,
        }

    async def entries(
        self,
        *,
        timesheet_id: str | None,
        project_id: str | None,
        stage: str | None,
        after: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Entries by timesheet, project and stage, in id order after ``after``."""
        rows = await self._db.fetch(_ENTRIES, timesheet_id, project_id, stage, after, limit)
        return [dict(row) for row in rows]

    async def summary(
        self, start: date, end: date, project_id: str | None, legal_entity_id: str | None
    ) -> list[dict[str, Any]]:
        """Posted totals per project and currency with accounting dates in [start, end]."""
        rows = await self._db.fetch(_SUMMARY, start, end, project_id, legal_entity_id)
        return [dict(row) for row in rows]

    async def exceptions(
        self,
        *,
        reason: str | None,
        legal_entity_id: str | None,
        region: str | None,
        org_unit_id: str | None,
        open_only: bool,
        after: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Business exceptions matching the filters, in subject order after ``after``."""
        rows = await self._db.fetch(
            _EXCEPTIONS, reason, legal_entity_id, region, org_unit_id, open_only, after, limit
        )
        return [dict(row) for row in rows]
