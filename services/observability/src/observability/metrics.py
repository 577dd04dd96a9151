"""observability's own Prometheus metrics: the SLOs' latencies and the business KPIs.

The histograms are observed once per completed flow by the KPI projector (a flow completes
once: the projector marks it in the same transaction), so their rates are the SLIs the chart's
SLO rules read. The gauges are the KPIs, per residency region, refreshed by a job.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram

__all__ = ["Metrics", "shared_metrics"]

_POSTING_BUCKETS = (60, 300, 600, 900, 1800, 3600, 7200, 21_600, 86_400, 259_200)
_QUOTE_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14_400, 86_400, 604_800)


class Metrics:
    """Histograms of flows and gauges of KPIs, in ``registry``."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.time_posting = Histogram(
            "tandem_time_approval_to_posting_seconds",
            "Approved time entry to its posting in the ERP (business time)",
            buckets=_POSTING_BUCKETS,
            registry=registry,
        )
        self.quote_to_cash = Histogram(
            "tandem_quote_to_cash_seconds",
            "Committed opportunity to its project active (business time)",
            buckets=_QUOTE_BUCKETS,
            registry=registry,
        )
        self.projector_lag = Gauge(
            "tandem_observability_projector_lag_steps",
            "Recorded steps not yet folded into the KPIs",
            registry=registry,
        )
        kpi = ("region",)
        self.completeness = Gauge(
            "tandem_kpi_sync_completeness_ratio",
            "Flows completed / started, per domain",
            (*kpi, "domain"),
            registry=registry,
        )
        self.approval_lag = Gauge(
            "tandem_kpi_approval_lag_hours",
            "Timesheet submitted to approved, hours",
            (*kpi, "quantile"),
            registry=registry,
        )
        self.time_to_invoice = Gauge(
            "tandem_kpi_time_to_invoice_days",
            "Work date to invoice posted, hour-weighted mean days",
            kpi,
            registry=registry,
        )
        self.unbilled_wip = Gauge(
            "tandem_kpi_unbilled_wip",
            "Charges not yet invoiced, by age bucket",
            (*kpi, "currency", "bucket"),
            registry=registry,
        )
        self.realization = Gauge(
            "tandem_kpi_realization_ratio",
            "Invoiced time value / its standard value",
            (*kpi, "currency"),
            registry=registry,
        )
        self.utilization = Gauge(
            "tandem_kpi_utilization_pct",
            "Billable (actual) and hard-booked (forecast) minutes / capacity, per org unit",
            (*kpi, "period", "org_unit", "kind"),
            registry=registry,
        )
        self.leakage = Gauge(
            "tandem_kpi_revenue_leakage",
            "Revenue leakage reported, by kind",
            (*kpi, "currency", "kind"),
            registry=registry,
        )
        self._kpi_gauges = (
            self.completeness,
            self.approval_lag,
            self.time_to_invoice,
            self.unbilled_wip,
            self.realization,
            self.utilization,
            self.leakage,
        )

    def clear_kpis(self) -> None:
        """Forget every KPI series (before setting a fresh snapshot)."""
        for gauge in self._kpi_gauges:
            gauge.clear()


_SHARED: dict[int, Metrics] = {}


def shared_metrics(registry: CollectorRegistry = REGISTRY) -> Metrics:
    """The one ``Metrics`` of ``registry`` (a process wires the api and the worker alike)."""
    if id(registry) not in _SHARED:
        _SHARED[id(registry)] = Metrics(registry)
    return _SHARED[id(registry)]
