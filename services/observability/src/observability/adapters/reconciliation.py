"""Reconciliation results per domain, from the ``ReconciliationMismatch`` events seen.

A domain is the reconciling service and the systems it compares (``time-expense: psa->erp``).
A run that finds nothing publishes nothing, so a domain is listed once it first disagreed;
its latest run's mismatches are counted by kind.
"""

from __future__ import annotations

from typing import Any

from tandem_messaging import DbConnection

__all__ = ["reconciliation"]


async def reconciliation(connection: DbConnection, recent: int = 20) -> list[dict[str, Any]]:
    """Each domain: its latest run's mismatches by kind, and its most recent mismatches."""
    runs = await connection.fetch(
        """
        WITH latest AS (
            SELECT DISTINCT ON (domain) domain, run_id, detected_at
              FROM observability.mismatches ORDER BY domain, detected_at DESC
        )
        SELECT l.domain, l.run_id, l.detected_at, m.kind, count(*) AS n
          FROM latest l JOIN observability.mismatches m
            ON m.domain = l.domain AND m.run_id = l.run_id
         GROUP BY l.domain, l.run_id, l.detected_at, m.kind ORDER BY l.domain
        """
    )
    domains: dict[str, dict[str, Any]] = {}
    for row in runs:
        entry = domains.setdefault(
            row["domain"],
            {"domain": row["domain"], "last_run_id": row["run_id"],
             "last_run_at": row["detected_at"], "mismatches": {}, "recent": []},
        )  # fmt: skip
        entry["mismatches"][row["kind"]] = row["n"]
    for name, entry in domains.items():
        rows = await connection.fetch(
            "SELECT run_id, kind, scope_key, project_id, detected_at, service"
            " FROM observability.mismatches WHERE domain = $1"
            " ORDER BY detected_at DESC, seq DESC LIMIT $2",
            name,
            recent,
        )
        entry["recent"] = [dict(row) for row in rows]
    return list(domains.values())
