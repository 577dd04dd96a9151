"""Read-side queries of the process API: each worker's sync status and the onboarding
pipeline (a worker waiting or parked before it was ever applied is listed by its problem),
PSA bookings, and resource requests with their options."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from tandem_messaging import DbConnection

__all__ = ["PIPELINE", "Views"]

PIPELINE = ("waiting", "failed", "not_staffable_yet", "staffable", "terminated")
"""Where a worker stands, in the order the pipeline is read."""

_STATUS = """
SELECT * FROM (
    SELECT coalesce(w.worker_id, f.worker_id) AS worker_id, w.worker_number,
        w.legal_entity_id, w.status AS hris_status,
        w.start_date, w.last_day, w.version, w.worker, w.role_id,
        f.event_type, f.reason, f.detail, f.waiting_for, f.at AS failed_at,
        p.instance AS psa_instance, p.external_id AS psa_ref, p.version AS psa_version,
        p.synced_at AS psa_synced_at,
        e.instance AS erp_instance, e.external_id AS erp_ref, e.version AS erp_version,
        e.synced_at AS erp_synced_at,
        CASE WHEN f.waiting_for IS NOT NULL THEN 'waiting'
             WHEN f.worker_id IS NOT NULL THEN 'failed'
             WHEN w.last_day < $1 THEN 'terminated'
             WHEN p.worker_id IS NULL OR e.worker_id IS NULL OR w.start_date > $1
                 THEN 'not_staffable_yet'
             ELSE 'staffable' END AS pipeline
    FROM staffing_sync.workers w
    FULL JOIN staffing_sync.failures f ON f.worker_id = w.worker_id
    LEFT JOIN staffing_sync.synced p
        ON p.worker_id = coalesce(w.worker_id, f.worker_id) AND p.system = 'psa'
    LEFT JOIN staffing_sync.synced e
        ON e.worker_id = coalesce(w.worker_id, f.worker_id) AND e.system = 'erp'
) AS status
WHERE ($2::text IS NULL OR worker_id = $2) AND ($3::text IS NULL OR pipeline = $3)
  AND ($4::text IS NULL OR worker_id > $4)
ORDER BY worker_id LIMIT $5
"""
_BOOKING = """
SELECT assignment_id, instance, external_id, worker_id, project_id, psa_version, version,
    announced, cancelled, warnings, updated_at
FROM staffing_sync.bookings WHERE assignment_id = $1
"""
_RATES = """
SELECT effective_from, effective_to, amount::text AS amount, currency
FROM staffing_sync.cost_rates WHERE worker_id = $1 ORDER BY effective_from
"""

_REQUESTS = """
SELECT request_id, project_id, request_version, version, status, problem, request, options,
    excluded, proposed_at, updated_at
FROM staffing_sync.requests r
WHERE ($1::text IS NULL OR request_id = $1) AND ($2::text IS NULL OR project_id = $2)
  AND ($3::text IS NULL OR (updated_at, request_id) < (
      SELECT updated_at, request_id FROM staffing_sync.requests WHERE request_id = $3))
ORDER BY updated_at DESC, request_id DESC LIMIT $4
"""


class Views:
    """The API's reads, on one connection."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def worker(self, worker_id: str, today: date) -> dict[str, Any] | None:
        """The worker's sync status across the HRIS, the PSA and the ERP (None: unknown)."""
        rows = await self.db.fetch(_STATUS, today, worker_id, None, None, 1)
        if not rows:
            return None
        status = _status(rows[0])
        status["cost_rates"] = [dict(row) for row in await self.db.fetch(_RATES, worker_id)]
        return status

    async def pipeline(
        self, today: date, stage: str | None, after: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Workers by where they stand (``stage`` None: all), by id after ``after``."""
        rows = await self.db.fetch(_STATUS, today, None, stage, after, limit)
        return [_status(row) for row in rows]

    async def booking(self, assignment_id: str) -> dict[str, Any] | None:
        """A PSA booking as staffing-sync handled it (None: never handled)."""
        row = await self.db.fetchrow(_BOOKING, assignment_id)
        if row is None:
            return None
        announced = row["announced"]
        state = "cancelled" if row["cancelled"] else "not_confirmed"
        return {
            **{k: row[k] for k in ("assignment_id", "worker_id", "project_id", "psa_version",
                                   "version", "updated_at")},
            "psa": {"instance": row["instance"], "ref": row["external_id"]},
            "status": "confirmed" if announced is not None else state,
            "assignment": json.loads(announced) if isinstance(announced, str) else announced,
            "warnings": list(row["warnings"]),
        }  # fmt: skip

    async def request(self, request_id: str) -> dict[str, Any] | None:
        """A resource request with its options and exclusions (None: never handled)."""
        rows = await self.db.fetch(_REQUESTS, request_id, None, None, 1)
        return _request(rows[0]) if rows else None

    async def requests(
        self, project_id: str | None, before: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Requests newest first (of ``project_id``; older than request ``before``)."""
        rows = await self.db.fetch(_REQUESTS, None, project_id, before, limit)
        return [_request(row) for row in rows]


def _request(row: Any) -> dict[str, Any]:
    loaded = {k: json.loads(row[k]) if isinstance(row[k], str) else row[k]
              for k in ("request", "options", "excluded")}  # fmt: skip
    return {
        **{k: row[k] for k in ("request_id", "project_id", "request_version", "version",
                               "status", "problem", "proposed_at", "updated_at")},
        **loaded,
    }  # fmt: skip


def _status(row: Any) -> dict[str, Any]:
    worker = json.loads(row["worker"]) if isinstance(row["worker"], str) else row["worker"]
    hris = next((r for r in (worker or {}).get("refs", ()) if r["system"] == "hris"), None)
    failure = None
    if row["reason"] is not None:
        failure = {
            "event_type": row["event_type"], "reason": row["reason"], "detail": row["detail"],
            "waiting_for": row["waiting_for"], "at": row["failed_at"],
        }  # fmt: skip
    return {
        "worker_id": row["worker_id"], "worker_number": row["worker_number"],
        "legal_entity_id": row["legal_entity_id"], "pipeline": row["pipeline"],
        "start_date": row["start_date"], "last_day": row["last_day"],
        "hris": {
            "status": row["hris_status"], "version": row["version"],
            "instance": hris["instance"] if hris else None,
            "ref": hris["external_id"] if hris else None,
        },
        "psa": _system(row, "psa"), "erp": _system(row, "erp"), "failure": failure,
    }  # fmt: skip


def _system(row: Any, system: str) -> dict[str, Any] | None:
    if row[f"{system}_ref"] is None:
        return None
    return {
        "instance": row[f"{system}_instance"], "ref": row[f"{system}_ref"],
        "synced_version": row[f"{system}_version"], "synced_at": row[f"{system}_synced_at"],
    }  # fmt: skip
