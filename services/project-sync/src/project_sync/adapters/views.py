"""Read-side queries of the process API: sagas, customers, the projects' read model."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from project_sync.domain.saga import SETTLED, Step
from tandem_messaging import DbConnection

__all__ = ["Views", "is_stuck_row"]


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def is_stuck_row(row: Any, now: datetime, limits: Mapping[Step, timedelta]) -> bool:
    """Whether a saga row is past its step's limit (as ``domain.saga.is_stuck``)."""
    step = Step(row["step"])
    limit = limits.get(step)
    return step not in SETTLED and limit is not None and now - row["entered_at"] > limit


_BILLING_CODE = """
SELECT p.project_id, p.status, p.open_from, p.closed_from, p.time_requires_assignment,
       p.time_requires_assignment AND $2::text IS NOT NULL AND EXISTS (
           SELECT 1 FROM project_sync.project_assignments a
           WHERE a.project_id = p.project_id AND a.worker_id = $2 AND a.start_date <= $3
             AND a.end_date >= $3 AND a.status IN ('confirmed', 'active')) AS assigned
FROM project_sync.projects p WHERE p.code = $1 ORDER BY p.generation DESC LIMIT 1
"""


class Views:
    """The API's reads, on one connection."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def quote_to_cash(
        self, *, opportunity: str | None, customer: str | None, project: str | None
    ) -> list[dict[str, Any]]:
        """Each matching saga (every generation of the opportunity), with its steps."""
        rows = await self.db.fetch(
            "SELECT s.*, o.crm_instance, o.crm_id FROM project_sync.sagas s "
            "LEFT JOIN project_sync.opportunities o USING (opportunity_id) "
            "WHERE ($1::text IS NULL OR s.opportunity_id = $1) "
            "AND ($2::text IS NULL OR s.customer_id = $2) "
            "AND ($3::text IS NULL OR s.project_id = $3 OR s.project_code = $3) "
            "AND (s.generation > 0 OR $1::text IS NOT NULL) "
            "ORDER BY s.opportunity_id, s.generation DESC LIMIT 100",
            opportunity,
            customer,
            project,
        )
        answers = []
        for row in rows:
            steps = await self.db.fetch(
                "SELECT step, entered_at, left_at FROM project_sync.saga_steps "
                "WHERE opportunity_id = $1 AND generation = $2 ORDER BY visit",
                row["opportunity_id"],
                row["generation"],
            )
            failure = _loaded(row["failure"]) or {}
            sow = _loaded(row["sow"]) or {}
            answers.append(
                {
                    "opportunity_id": row["opportunity_id"],
                    "generation": row["generation"],
                    "project_id": row["project_id"],
                    "customer_id": row["customer_id"],
                    "legal_entity_id": row["legal_entity_id"],
                    "step": row["step"],
                    "state": row["state"],
                    "since": row["entered_at"],
                    "project_code": row["project_code"],
                    "erp": {"instance": row["erp_instance"], "ref": row["erp_project_ref"]},
                    "psa": {"instance": row["psa_instance"], "ref": row["psa_project_ref"]},
                    "crm": {"instance": row["crm_instance"], "ref": row["crm_id"]},
                    "waiting_for": row["waiting_for"],
                    "failure_reason": row["failure_reason"],
                    "failure_detail": failure.get("detail"),
                    "problems": failure.get("problems", []),
                    "last_error": row["last_error"],
                    "attempts": row["attempts"],
                    "contract_id": sow.get("contract_id"),
                    "stuck_alerted": row["alerted_visit"] is not None,
                    "steps": [dict(step) for step in steps],
                }
            )
        return answers

    async def sagas(
        self,
        *,
        state: str | None,
        reason: str | None,
        now: datetime,
        limits: Mapping[Step, timedelta],
        limit: int,
    ) -> list[dict[str, Any]]:
        """The latest generation of each opportunity, filtered; the longest held first."""
        rows = await self.db.fetch(
            "SELECT DISTINCT ON (opportunity_id) * FROM project_sync.sagas "
            "WHERE ($1::text IS NULL OR $1 = 'stuck' OR state = $1) "
            "AND ($2::text IS NULL OR failure_reason = $2) "
            "ORDER BY opportunity_id, generation DESC",
            state,
            reason,
        )
        answers = []
        for row in rows:
            stuck = is_stuck_row(row, now, limits)
            if state == "stuck" and not stuck:
                continue
            failure = _loaded(row["failure"]) or {}
            answers.append(
                {
                    "opportunity_id": row["opportunity_id"],
                    "generation": row["generation"],
                    "step": row["step"],
                    "state": row["state"],
                    "since": row["entered_at"],
                    "stuck": stuck,
                    "waiting_for": row["waiting_for"],
                    "reason": row["failure_reason"],
                    "detail": failure.get("detail"),
                    "last_error": row["last_error"],
                }
            )
        answers.sort(key=lambda answer: answer["since"])
        return answers[:limit]

    async def customer(self, customer_id: str) -> dict[str, Any] | None:
        """A customer's link and tax problems."""
        row = await self.db.fetchrow(
            "SELECT * FROM project_sync.customers WHERE customer_id = $1", customer_id
        )
        if row is None:
            return None
        data = _loaded(row["data"])
        return {
            "customer_id": row["customer_id"],
            "name": data["name"],
            "legal_entity_id": row["legal_entity_id"],
            "country": row["country"],
            "tax_id": row["tax_id"],
            "crm_instance": row["crm_instance"],
            "crm_account_id": row["crm_account_id"],
            "erp": {"instance": row["erp_instance"], "ref": row["erp_customer_ref"]},
            "matched_by": row["matched_by"],
            "linked": row["erp_customer_ref"] is not None,
            "crm_linked": row["crm_linked_at"] is not None,
            "tax_problems": _loaded(row["tax_problems"]),
            "version": row["version"],
        }

    async def billing_code(
        self, code: str, on: date, worker_id: str | None
    ) -> dict[str, Any] | None:
        """Whether the project of ``code`` takes time dated ``on`` (from ``worker_id``)."""
        # One round trip: the project, and whether the worker is assigned on the date (asked
        # only when the project requires it), for a check answered in real time.
        row = await self.db.fetchrow(_BILLING_CODE, code, worker_id, on)
        if row is None:
            return None
        reason = None
        if row["status"] not in ("active", "on_hold", "closed"):
            reason = f"project_{row['status']}"
        elif row["open_from"] is None or on < row["open_from"]:
            reason = "not_open_yet"
        elif row["closed_from"] is not None and on >= row["closed_from"]:
            reason = "closed_for_time"
        elif row["time_requires_assignment"] and not row["assigned"]:
            reason = "worker_not_assigned"
        return {
            "code": code,
            "project_id": row["project_id"],
            "date": on,
            "worker_id": worker_id,
            "open": reason is None,
            "reason": reason,
            "status": row["status"],
            "open_from": row["open_from"],
            "closed_from": row["closed_from"],
        }
