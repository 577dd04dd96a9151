"""Folding recorded steps into the KPI tables, a page at a time, in one transaction per page.

The projector reads steps not yet folded, in ``seq`` order, applies each one's facts with a few
batched statements per table, and marks them folded in the same transaction: a page is folded
in once, whatever crashes. (Not a watermark on ``seq``: lanes commit out of ``seq`` order, and
a watermark would pass a step whose transaction had not committed yet, losing it.) Events of
one entity may arrive in any order (an invoice before one of its charges): every statement is
written to give the same result either way.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tandem_messaging import DbConnection

__all__ = ["CompletedFlow", "fold_page"]


@dataclass(frozen=True)
class CompletedFlow:
    """A flow whose start and end are both known now, for the first time."""

    domain: str
    seconds: float


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


async def fold_page(connection: DbConnection, page_size: int) -> tuple[int, list[CompletedFlow]]:
    """Fold the next page of steps; answer how many were folded and the flows completed."""
    rows = await connection.fetch(
        "SELECT seq, event_type, region, occurred_at, facts FROM observability.steps"
        " WHERE NOT folded ORDER BY seq LIMIT $1 FOR UPDATE",
        page_size,
    )
    if not rows:
        return 0, []
    statements: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    flow_keys: list[tuple[str, str]] = []
    for row in rows:
        facts = json.loads(row["facts"])
        _plan(row["event_type"], row["region"], row["occurred_at"], row["seq"], facts, statements)
        if "flow" in facts:
            flow_keys.append((facts["flow"][0], facts["flow"][1]))
    for sql, args in statements.items():
        await connection.executemany(sql, args)
    completed = await _completed(connection, flow_keys)
    seqs = [row["seq"] for row in rows]
    await connection.execute(
        "UPDATE observability.steps SET folded = true WHERE seq = ANY($1::bigint[])", seqs
    )
    await connection.execute(
        "UPDATE observability.projector SET last_seq = greatest(last_seq, $1), moved_at = now()"
        " WHERE name = 'kpis'",
        seqs[-1],
    )
    return len(rows), completed


async def _completed(connection: DbConnection, keys: list[tuple[str, str]]) -> list[CompletedFlow]:
    if not keys:
        return []
    rows = await connection.fetch(
        """
        UPDATE observability.flows f SET observed = true
          FROM unnest($1::text[], $2::text[]) AS k(domain, key)
         WHERE f.domain = k.domain AND f.key = k.key AND NOT f.observed
           AND f.started_at IS NOT NULL AND f.completed_at IS NOT NULL
        RETURNING f.domain, extract(epoch FROM f.completed_at - f.started_at)::float8 AS seconds
        """,
        [domain for domain, _ in keys],
        [key for _, key in keys],
    )
    return [CompletedFlow(row["domain"], max(row["seconds"], 0.0)) for row in rows]


_FLOW_START = """
INSERT INTO observability.flows (domain, key, region, started_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (domain, key) DO UPDATE SET started_at = LEAST(
    COALESCE(observability.flows.started_at, EXCLUDED.started_at), EXCLUDED.started_at)
"""
_FLOW_END = """
INSERT INTO observability.flows (domain, key, region, completed_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (domain, key) DO UPDATE SET completed_at = LEAST(
    COALESCE(observability.flows.completed_at, EXCLUDED.completed_at), EXCLUDED.completed_at)
"""
_WORKER = """
INSERT INTO observability.workers (worker_id, region, legal_entity_id, org_unit_id, hire_date,
                                   last_day)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (worker_id) DO UPDATE SET region = EXCLUDED.region,
    legal_entity_id = EXCLUDED.legal_entity_id, org_unit_id = EXCLUDED.org_unit_id,
    hire_date = EXCLUDED.hire_date,
    last_day = COALESCE(EXCLUDED.last_day, observability.workers.last_day)
"""
_WORKER_LAST_DAY = """
INSERT INTO observability.workers (worker_id, region, last_day) VALUES ($1, $2, $3)
ON CONFLICT (worker_id) DO UPDATE SET last_day = EXCLUDED.last_day
"""
_ENTRY = """
INSERT INTO observability.time_entries (entry_id, timesheet_id, worker_id, project_id, region,
    work_date, minutes, billable, standard_value, currency, approved_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (entry_id) DO UPDATE SET timesheet_id = EXCLUDED.timesheet_id,
    worker_id = EXCLUDED.worker_id, project_id = EXCLUDED.project_id, region = EXCLUDED.region,
    work_date = EXCLUDED.work_date, minutes = EXCLUDED.minutes, billable = EXCLUDED.billable,
    standard_value = COALESCE(EXCLUDED.standard_value, observability.time_entries.standard_value),
    currency = COALESCE(EXCLUDED.currency, observability.time_entries.currency),
    approved_at = EXCLUDED.approved_at
"""
_SUBMITTED = """
INSERT INTO observability.time_entries (entry_id, timesheet_id, region, submitted_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (entry_id) DO UPDATE SET submitted_at = LEAST(
    COALESCE(observability.time_entries.submitted_at, EXCLUDED.submitted_at),
    EXCLUDED.submitted_at)
"""
# An entry approved unrated (its rate frozen from the rate card only when it posts) takes its
# standard value from the posting; one rated at approval keeps that.
_POSTED = """
INSERT INTO observability.time_entries (entry_id, worker_id, project_id, region, work_date,
                                        minutes, billable, posted_at, standard_value, currency)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (entry_id) DO UPDATE SET posted_at = EXCLUDED.posted_at,
    standard_value = COALESCE(observability.time_entries.standard_value,
                              EXCLUDED.standard_value),
    currency = COALESCE(observability.time_entries.currency, EXCLUDED.currency),
    worker_id = COALESCE(observability.time_entries.worker_id, EXCLUDED.worker_id),
    project_id = COALESCE(observability.time_entries.project_id, EXCLUDED.project_id),
    work_date = COALESCE(observability.time_entries.work_date, EXCLUDED.work_date),
    minutes = COALESCE(observability.time_entries.minutes, EXCLUDED.minutes),
    billable = COALESCE(observability.time_entries.billable, EXCLUDED.billable)
"""
_REJECTED = """
INSERT INTO observability.time_entries (entry_id, region, rejected) VALUES ($1, $2, true)
ON CONFLICT (entry_id) DO UPDATE SET rejected = true
"""
_ALLOCATION = """
INSERT INTO observability.allocations (assignment_id, worker_id, region, start_date, end_date,
    minutes_per_day, total_minutes, hard)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (assignment_id) DO UPDATE SET worker_id = EXCLUDED.worker_id,
    start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date,
    minutes_per_day = EXCLUDED.minutes_per_day, total_minutes = EXCLUDED.total_minutes,
    hard = EXCLUDED.hard
"""
_CANCELLED = "UPDATE observability.allocations SET cancelled = true WHERE assignment_id = $1"
_CHARGE = """
INSERT INTO observability.charges (charge_id, project_id, region, source, source_ids, amount,
    currency, bill_date, invoice_id, invoiced_at)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, i.invoice_id, i.posted_at
  FROM (SELECT 1) one LEFT JOIN LATERAL (
        SELECT invoice_id, posted_at FROM observability.invoices
         WHERE $1 = ANY(charge_ids) AND posted_at IS NOT NULL LIMIT 1) i ON true
ON CONFLICT (charge_id) DO NOTHING
"""
_INVOICE_READY = """
INSERT INTO observability.invoices (invoice_id, region, currency, subtotal, charge_ids)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT (invoice_id) DO NOTHING
"""
_INVOICE_POSTED = """
INSERT INTO observability.invoices (invoice_id, region, currency, subtotal, charge_ids, posted_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (invoice_id) DO UPDATE SET posted_at = EXCLUDED.posted_at,
    charge_ids = EXCLUDED.charge_ids, subtotal = EXCLUDED.subtotal
"""
_CHARGES_INVOICED = """
UPDATE observability.charges SET invoice_id = $1, invoiced_at = $2
 WHERE charge_id = ANY($3::text[]) AND invoiced_at IS NULL
"""
_LEAKAGE = """
INSERT INTO observability.leakage (project_id, kind, currency, region, amount, items, detected_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (project_id, kind, currency) DO UPDATE SET amount = EXCLUDED.amount,
    items = EXCLUDED.items, detected_at = EXCLUDED.detected_at
 WHERE observability.leakage.detected_at <= EXCLUDED.detected_at
"""
_MISMATCH = """
INSERT INTO observability.mismatches (seq, service, domain, region, run_id, kind, scope_key,
    project_id, detected_at)
SELECT $1, s.service, s.service || ': ' || $2, $3, $4, $5, $6, $7, $8
  FROM observability.steps s WHERE s.seq = $1
ON CONFLICT (seq) DO NOTHING
"""


def _plan(
    event_type: str,
    region: str,
    at: datetime,
    seq: int,
    f: dict[str, Any],
    out: dict[str, list[tuple[Any, ...]]],
) -> None:
    """Add the statements ``event_type``'s facts ``f`` need to ``out``."""
    if "flow" in f:
        domain, key, phase = f["flow"]
        out[_FLOW_START if phase == "start" else _FLOW_END].append((domain, key, region, at))
    if event_type in ("TimeApproved", "TimeAdjusted"):
        value = None if f["rate"] is None else Decimal(f["rate"]) * f["minutes"] / 60
        out[_ENTRY].append(
            (f["entry"], f["timesheet"], f["worker"], f["project"], region,
             _d(f["work_date"]), f["minutes"], f["billable"], value, f["currency"], at)
        )  # fmt: skip
        if "replaces" in f:
            out[_REJECTED].append((f["replaces"], region))
    elif event_type == "TimeSubmitted":
        out[_SUBMITTED].extend((entry, f["timesheet"], region, at) for entry in f["entries"])
    elif event_type == "TimePosted" and f.get("reversal_of") is None:
        out[_POSTED].append(
            (f["entry"], f["worker"], f["project"], region, _d(f["work_date"]), f["minutes"],
             f["billable"], at, *(
                 (Decimal(f["amount"]), f["currency"])
                 if f["billable"] and f["amount"] is not None else (None, None)))
        )  # fmt: skip
    elif event_type == "TimeRejected":
        out[_REJECTED].append((f["entry"], region))
    elif event_type in ("ConsultantOnboarded", "WorkerUpdated"):
        out[_WORKER].append(
            (f["worker"], region, f["entity"], f["org_unit"], _d(f["hire_date"]),
             _d(f["last_day"]))
        )  # fmt: skip
    elif event_type == "WorkerTerminated":
        out[_WORKER_LAST_DAY].append((f["worker"], region, _d(f["last_day"])))
    elif event_type == "AssignmentConfirmed":
        out[_ALLOCATION].append(
            (f["assignment"], f["worker"], region, _d(f["start"]), _d(f["end"]),
             f["minutes_per_day"], f["total_minutes"], f["hard"])
        )  # fmt: skip
    elif event_type == "AssignmentCancelled":
        out[_CANCELLED].append((f["assignment"],))
    elif event_type == "ChargeCreated":
        out[_CHARGE].append(
            (f["charge"], f["project"], region, f["source"], f["source_ids"],
             Decimal(f["amount"]), f["currency"], _d(f["bill_date"]))
        )  # fmt: skip
    elif event_type == "InvoiceReady":
        out[_INVOICE_READY].append(
            (f["invoice"], region, f["currency"], Decimal(f["subtotal"]), f["charges"])
        )
    elif event_type == "InvoicePosted":
        out[_INVOICE_POSTED].append(
            (f["invoice"], region, f["currency"], Decimal(f["subtotal"]), f["charges"], at)
        )
        out[_CHARGES_INVOICED].append((f["invoice"], at, f["charges"]))
    elif event_type == "RevenueLeakageDetected":
        out[_LEAKAGE].append(
            (f["project"], f["kind"], f["currency"], region, Decimal(f["amount"]), f["items"], at)
        )
    elif event_type == "ReconciliationMismatch":
        out[_MISMATCH].append(
            (seq, f"{f['source']}->{f['target']}", region, f["run"], f["kind"], f["scope"],
             f["project"], at)
        )  # fmt: skip
