"""observability's periodic jobs (on the ``schedule`` role, one replica at a time).

- ``fold-kpis``: fold recorded steps into the KPI tables and observe each completed flow's
  latency once (the SLOs' histograms);
- ``kpi-metrics``: publish the KPIs as Prometheus gauges;
- ``utilization``: announce each consultant's ended month that breached its thresholds
  (``UtilizationThresholdBreached``, once per worker, month and direction);
- ``step-retention``: forget steps older than the retention.
"""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from observability.adapters.kpi_views import KpiQuery
from observability.domain.kpis import Thresholds, breach, ratio_pct
from observability.service_layer.dependencies import Dependencies
from tandem_contracts import Envelope, Producer
from tandem_contracts.events import BreachDirection, UtilizationThresholdBreached

__all__ = [
    "check_utilization",
    "fold_kpis",
    "previous_period",
    "publish_kpi_metrics",
    "purge",
    "settled_period",
]

logger = logging.getLogger(__name__)

_PAGE = 2_000
_FOLD_BUDGET_S = 20.0


async def fold_kpis(deps: Dependencies) -> int:
    """Fold what was recorded since the last run (bounded in time); answer steps folded."""
    started, folded = time.monotonic(), 0
    while time.monotonic() - started < _FOLD_BUDGET_S:
        count, completed = await deps.store.fold(_PAGE)
        # Observed after the commit: a rolled-back page is folded (and observed) again.
        for flow in completed:
            if flow.domain == "time_posting":
                deps.metrics.time_posting.observe(flow.seconds)
            elif flow.domain == "quote_to_cash":
                deps.metrics.quote_to_cash.observe(flow.seconds)
        folded += count
        if count == 0 and not completed:
            break
    deps.metrics.projector_lag.set(await deps.store.unfolded())
    return folded


def kpi_query(deps: Dependencies, region: str | None = None) -> KpiQuery:
    """The KPIs as of today, with the settings' working day."""
    return KpiQuery(
        today=deps.clock().date(),
        minutes_per_day=deps.settings.capacity_minutes_per_day,
        region=region,
    )


async def publish_kpi_metrics(deps: Dependencies) -> int:
    """Set the KPI gauges from a fresh snapshot; answer the regions shown."""
    snapshot = await deps.store.kpis(kpi_query(deps))
    m = deps.metrics
    m.clear_kpis()
    for region, k in snapshot.items():
        for domain, c in k["completeness"].items():
            if c["ratio"] is not None:
                m.completeness.labels(region, domain).set(c["ratio"])
        for quantile in ("p50", "p90"):
            value = k["approval_lag_hours"][quantile]
            if value is not None:
                m.approval_lag.labels(region, quantile).set(value)
        if k["time_to_invoice_days"]["mean_hour_weighted"] is not None:
            m.time_to_invoice.labels(region).set(k["time_to_invoice_days"]["mean_hour_weighted"])
        for w in k["unbilled_wip"]:
            m.unbilled_wip.labels(region, w["currency"], w["bucket"]).set(float(w["amount"]))
        for r in k["realization"]:
            if r["ratio"] is not None:
                m.realization.labels(region, r["currency"]).set(r["ratio"])
        for u in k["utilization"]:
            for kind, field in (("billable", "billable_pct"), ("forecast", "forecast_pct")):
                if u[field] is not None:
                    labels = (region, u["period"], u["org_unit_id"] or "", kind)
                    m.utilization.labels(*labels).set(float(u[field]))
        for leak in k["leakage"]:
            m.leakage.labels(region, leak["currency"], leak["kind"]).set(float(leak["amount"]))
    return len(snapshot)


def previous_period(today: date) -> str:
    """The month before ``today``'s, ``YYYY-MM``."""
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def settled_period(today: date, grace_days: int) -> str | None:
    """The last month that ended at least ``grace_days`` ago, if it is last month (an older
    one was checked when it settled)."""
    period = previous_period(today)
    ended = today.replace(day=1) - timedelta(days=1)
    return period if (today - ended).days >= grace_days else None


async def check_utilization(deps: Dependencies, period: str | None = None) -> int:
    """Announce the breaches of ``period``'s utilization (by default last month, once it
    settled); answer how many were new."""
    settings = deps.settings
    thresholds = Thresholds(
        settings.utilization_target_pct,
        settings.utilization_low_ratio,
        settings.utilization_burnout_pct,
    )
    if period is None:
        period = settled_period(deps.clock().date(), settings.utilization_grace_days)
        if period is None:
            return 0
    announced = 0
    for month in await deps.store.worker_months([period], settings.capacity_minutes_per_day):
        actual = ratio_pct(month.billable_minutes, month.capacity)
        found = breach(actual, thresholds) if actual is not None else None
        if found is None or month.legal_entity_id is None:
            continue
        direction, threshold = found
        async with deps.transactions() as uow:
            if not await uow.breaches.first(month.worker_id, period, direction):
                continue
            await uow.publish(_breach_event(deps, month, actual, threshold, direction))
            announced += 1
    return announced


def _breach_event(
    deps: Dependencies, month: Any, actual: Decimal | None, threshold: Decimal, direction: str
) -> Envelope[Any]:
    payload = UtilizationThresholdBreached(
        resource_id=month.worker_id,
        org_unit_id=month.org_unit_id,
        period=month.period,
        actual_pct=min(actual or Decimal(0), Decimal(1000)),
        target_pct=deps.settings.utilization_target_pct,
        threshold_pct=threshold,
        direction=BreachDirection(direction),
    )
    key = f"utilization:{month.worker_id}:{month.period}:{direction}"
    return Envelope.new(
        payload,
        producer=Producer(service=deps.settings.service_name),
        tenant_id=deps.settings.tenant_id,
        legal_entity_id=month.legal_entity_id,
        data_residency_region=month.region,
        correlation_id=key,
        subject_version=1,
        idempotency_key=key,
    )


async def purge(deps: Dependencies) -> int:
    """Forget steps older than the retention (after the KPIs folded them in)."""
    before = deps.clock() - timedelta(days=deps.settings.step_retention_days)
    return await deps.store.purge_steps(before)
