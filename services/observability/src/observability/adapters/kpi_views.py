"""The KPIs read off the projector's tables, per residency region (DOMAIN.md §4.7, §5)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from observability.domain.kpis import allocated_minutes, capacity_minutes, ratio_pct
from tandem_messaging import DbConnection

__all__ = ["KpiQuery", "WorkerMonth", "kpis", "worker_months"]


@dataclass(frozen=True)
class KpiQuery:
    """What the KPIs are computed for."""

    today: date
    minutes_per_day: int
    region: str | None = None
    months: int = 3
    """Utilization is shown for this many months up to ``today``'s."""


@dataclass(frozen=True)
class WorkerMonth:
    """One consultant's month: billable and hard-booked minutes against capacity."""

    worker_id: str
    legal_entity_id: str | None
    org_unit_id: str | None
    region: str
    period: str
    billable_minutes: int
    booked_minutes: int
    capacity: int


def _periods(today: date, months: int) -> list[str]:
    periods, year, month = [], today.year, today.month
    for _ in range(months):
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return periods[::-1]


async def worker_months(
    connection: DbConnection, periods: list[str], minutes_per_day: int, region: str | None
) -> list[WorkerMonth]:
    """Every known consultant's months of ``periods``: billable, booked and capacity minutes."""
    workers = await connection.fetch(
        "SELECT worker_id, region, legal_entity_id, org_unit_id, hire_date, last_day"
        " FROM observability.workers WHERE $1::text IS NULL OR region = $1",
        region,
    )
    billable = await connection.fetch(
        """
        SELECT worker_id, to_char(work_date, 'YYYY-MM') AS period, sum(minutes) AS minutes
          FROM observability.time_entries
         WHERE billable AND NOT rejected AND approved_at IS NOT NULL
           AND to_char(work_date, 'YYYY-MM') = ANY($1::text[])
         GROUP BY worker_id, period
        """,
        periods,
    )
    booked = await connection.fetch(
        "SELECT worker_id, start_date, end_date, minutes_per_day, total_minutes"
        " FROM observability.allocations WHERE hard AND NOT cancelled"
    )
    billed: dict[tuple[str, str], int] = {
        (r["worker_id"], r["period"]): r["minutes"] for r in billable
    }
    bookings: dict[str, list[Any]] = defaultdict(list)
    for row in booked:
        bookings[row["worker_id"]].append(row)
    months: list[WorkerMonth] = []
    for worker in workers:
        for period in periods:
            capacity = capacity_minutes(
                period, minutes_per_day, worker["hire_date"], worker["last_day"]
            )
            if capacity == 0:
                continue
            months.append(
                WorkerMonth(
                    worker_id=worker["worker_id"],
                    legal_entity_id=worker["legal_entity_id"],
                    org_unit_id=worker["org_unit_id"],
                    region=worker["region"],
                    period=period,
                    billable_minutes=int(billed.get((worker["worker_id"], period), 0)),
                    booked_minutes=sum(
                        allocated_minutes(
                            period,
                            b["start_date"],
                            b["end_date"],
                            b["minutes_per_day"],
                            b["total_minutes"],
                        )
                        for b in bookings.get(worker["worker_id"], [])
                    ),
                    capacity=capacity,
                )
            )
    return months


def _utilization(months: list[WorkerMonth]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[tuple[str, str, str | None], list[WorkerMonth]] = defaultdict(list)
    for month in months:
        groups[(month.region, month.period, month.org_unit_id)].append(month)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (region, period, org_unit), members in sorted(groups.items(), key=lambda g: str(g[0])):
        capacity = sum(m.capacity for m in members)
        out[region].append(
            {
                "period": period,
                "org_unit_id": org_unit,
                "workers": len(members),
                "billable_pct": ratio_pct(sum(m.billable_minutes for m in members), capacity),
                "forecast_pct": ratio_pct(sum(m.booked_minutes for m in members), capacity),
            }
        )
    return out


_COMPLETENESS = """
SELECT region, domain, count(*) FILTER (WHERE started_at IS NOT NULL) AS started,
       count(*) FILTER (WHERE started_at IS NOT NULL AND completed_at IS NOT NULL) AS completed
  FROM observability.flows WHERE $1::text IS NULL OR region = $1
 GROUP BY region, domain
"""
_APPROVAL_LAG = """
SELECT region, count(*) AS count,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY lag) AS p90
  FROM (SELECT region, extract(epoch FROM approved_at - submitted_at) / 3600.0 AS lag
          FROM observability.time_entries
         WHERE submitted_at IS NOT NULL AND approved_at IS NOT NULL AND NOT rejected
           AND ($1::text IS NULL OR region = $1)) lags
 GROUP BY region
"""
# Hour-weighted days from work to the invoice that billed it (DOMAIN.md §5: billing lag).
_TIME_TO_INVOICE = """
SELECT t.region, sum(t.minutes * (c.invoiced_at::date - t.work_date))::float8
                 / NULLIF(sum(t.minutes), 0) AS days, count(DISTINCT t.entry_id) AS count
  FROM observability.charges c
  JOIN observability.time_entries t ON t.entry_id = ANY(c.source_ids)
 WHERE c.source = 'time' AND c.invoiced_at IS NOT NULL AND t.work_date IS NOT NULL
   AND t.minutes IS NOT NULL AND ($1::text IS NULL OR c.region = $1)
 GROUP BY t.region
"""
_WIP = """
SELECT region, currency,
       CASE WHEN $2::date - bill_date <= 30 THEN '0-30' WHEN $2::date - bill_date <= 60 THEN '31-60'
            WHEN $2::date - bill_date <= 90 THEN '61-90' ELSE '90+' END AS bucket,
       sum(amount) AS amount
  FROM observability.charges
 WHERE invoiced_at IS NULL AND ($1::text IS NULL OR region = $1)
 GROUP BY region, currency, bucket ORDER BY region, currency, bucket
"""
# Billed value of time ÷ its standard value (hours x rate-card rate) for invoiced time.
_REALIZATION = """
WITH billed AS (
    SELECT region, currency, charge_id, amount, source_ids FROM observability.charges
     WHERE source = 'time' AND invoiced_at IS NOT NULL AND ($1::text IS NULL OR region = $1)
), covered AS (
    SELECT DISTINCT t.entry_id, t.standard_value, b.region, b.currency
      FROM billed b JOIN observability.time_entries t ON t.entry_id = ANY(b.source_ids)
     WHERE t.standard_value IS NOT NULL
)
SELECT b.region, b.currency, b.billed, s.standard FROM
  (SELECT region, currency, sum(amount) AS billed FROM billed GROUP BY region, currency) b
  LEFT JOIN (SELECT region, currency, sum(standard_value) AS standard FROM covered
              GROUP BY region, currency) s USING (region, currency)
"""
_LEAKAGE = """
SELECT region, currency, kind, sum(amount) AS amount, count(DISTINCT project_id) AS projects
  FROM observability.leakage WHERE $1::text IS NULL OR region = $1
 GROUP BY region, currency, kind ORDER BY region, currency, kind
"""


def _cents(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


async def kpis(connection: DbConnection, query: KpiQuery) -> dict[str, dict[str, Any]]:
    """Every KPI, per region."""
    region = query.region
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "completeness": {},
            "approval_lag_hours": {"p50": None, "p90": None, "count": 0},
            "time_to_invoice_days": {"mean_hour_weighted": None, "count": 0},
            "unbilled_wip": [],
            "realization": [],
            "utilization": [],
            "leakage": [],
        }
    )
    for r in await connection.fetch(_COMPLETENESS, region):
        ratio = r["completed"] / r["started"] if r["started"] else None
        out[r["region"]]["completeness"][r["domain"]] = {
            "started": r["started"], "completed": r["completed"], "ratio": ratio,
        }  # fmt: skip
    for r in await connection.fetch(_APPROVAL_LAG, region):
        out[r["region"]]["approval_lag_hours"] = {
            "p50": r["p50"], "p90": r["p90"], "count": r["count"],
        }  # fmt: skip
    for r in await connection.fetch(_TIME_TO_INVOICE, region):
        out[r["region"]]["time_to_invoice_days"] = {
            "mean_hour_weighted": r["days"], "count": r["count"],
        }  # fmt: skip
    for r in await connection.fetch(_WIP, region, query.today):
        out[r["region"]]["unbilled_wip"].append(
            {"currency": r["currency"], "bucket": r["bucket"], "amount": _cents(r["amount"])}
        )
    for r in await connection.fetch(_REALIZATION, region):
        standard = r["standard"]
        out[r["region"]]["realization"].append(
            {
                "currency": r["currency"],
                "billed": _cents(r["billed"]),
                "standard": _cents(standard) if standard is not None else None,
                "ratio": float(r["billed"] / standard) if standard else None,
            }
        )
    for r in await connection.fetch(_LEAKAGE, region):
        out[r["region"]]["leakage"].append(
            {"currency": r["currency"], "kind": r["kind"], "amount": _cents(r["amount"]),
             "projects": r["projects"]}
        )  # fmt: skip
    months = await worker_months(
        connection, _periods(query.today, query.months), query.minutes_per_day, region
    )
    for key, rows in _utilization(months).items():
        out[key]["utilization"] = rows
    return dict(out)
