"""``SqlKpiStore``: the KPI store port on observability's tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from observability.adapters.kpi_views import KpiQuery, WorkerMonth, kpis, worker_months
from observability.adapters.projector import CompletedFlow, fold_page

__all__ = ["SqlKpiStore"]


class SqlKpiStore:
    """The KPI store on a connection pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def fold(self, page_size: int) -> tuple[int, list[CompletedFlow]]:
        """Fold one page of steps in one transaction."""
        async with self._pool.acquire() as connection, connection.transaction():
            return await fold_page(connection, page_size)

    async def unfolded(self) -> int:
        """Steps not folded into the KPIs yet."""
        async with self._pool.acquire() as connection:
            count = await connection.fetchval(
                "SELECT count(*) FROM observability.steps WHERE NOT folded"
            )
        return int(count)

    async def kpis(self, query: KpiQuery) -> dict[str, dict[str, Any]]:
        """Every KPI per region, in one repeatable-read snapshot."""
        async with self._pool.acquire() as connection:
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                return await kpis(connection, query)

    async def worker_months(self, periods: list[str], minutes_per_day: int) -> list[WorkerMonth]:
        """Each consultant's months of ``periods``."""
        async with self._pool.acquire() as connection:
            return await worker_months(connection, periods, minutes_per_day, None)

    async def purge_steps(self, before: datetime) -> int:
        """Delete old steps and their keys."""
        async with self._pool.acquire() as connection, connection.transaction():
            seqs = await connection.fetchval(
                "WITH gone AS (DELETE FROM observability.steps WHERE recorded_at < $1 AND folded"
                " RETURNING seq) SELECT array_agg(seq) FROM gone",
                before,
            )
            if not seqs:
                return 0
            await connection.execute(
                "DELETE FROM observability.step_keys WHERE seq = ANY($1::bigint[])", seqs
            )
            return len(seqs)

    async def flow_counts(
        self, domain: str, threshold_s: float, since: datetime, now: datetime
    ) -> tuple[int, int]:
        """(good, total) flows of ``domain`` due in the window."""
        async with self._pool.acquire() as connection:
            row = await connection.fetchrow(
                """
                SELECT count(*) FILTER (WHERE completed_at IS NOT NULL
                          AND completed_at - started_at <= make_interval(secs => $2)) AS good,
                       count(*) AS total
                  FROM observability.flows
                 WHERE domain = $1 AND started_at IS NOT NULL
                   AND ((completed_at IS NOT NULL AND completed_at BETWEEN $3 AND $4)
                     OR (completed_at IS NULL AND started_at + make_interval(secs => $2)
                         BETWEEN $3 AND $4))
                """,
                domain,
                threshold_s,
                since,
                now,
            )
        assert row is not None  # noqa: S101 - an aggregate answers one row
        return int(row["good"]), int(row["total"])

    async def steps_since(self, since: datetime) -> int:
        """Steps recorded since ``since``."""
        async with self._pool.acquire() as connection:
            count = await connection.fetchval(
                "SELECT count(*) FROM observability.steps WHERE recorded_at >= $1", since
            )
        return int(count)
