"""Where each SLO stands, measured from observability's own records.

The chart's rules measure the same SLOs in Prometheus from the services' metrics; this is the
console's view, from what observability saw on the bus:

- the flow SLOs (time posted within 15 minutes, quote-to-cash within an hour) count the flows
  due in each window: completed there, or overdue and not completed (bad);
- the parking SLO counts the messages parked in the window across the parking lots against
  the events the bus carried in it (each event once, whatever number of consumers).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from observability.domain.slo import SLOS, SloStatus, status, window_seconds
from observability.service_layer.dependencies import Dependencies
from observability.service_layer.ports import SourceUnavailable

__all__ = ["FLOW_SLOS", "slo_statuses"]

logger = logging.getLogger(__name__)

FLOW_SLOS: dict[str, tuple[str, float]] = {
    "time-posted-in-15m": ("time_posting", 900.0),
    "quote-to-cash-within-1h": ("quote_to_cash", 3600.0),
}
_PARKING = "messages-handled-unparked"


async def _parked_times(deps: Dependencies) -> list[datetime]:
    times: list[datetime] = []
    for service in deps.parking_lots.services():
        try:
            items = await deps.parking_lots.list(service, status="all", limit=500)
        except SourceUnavailable as exc:
            logger.warning("parking lot of %s unavailable for the SLOs: %s", service, exc)
            continue
        times.extend(datetime.fromisoformat(item["parked_at"]) for item in items)
    return times


async def slo_statuses(deps: Dependencies) -> list[SloStatus]:
    """Every SLO's status now."""
    now = deps.clock()
    parked: list[datetime] | None = None
    statuses: list[SloStatus] = []
    for slo in SLOS:
        counts: dict[str, tuple[float, float]] = {}
        for window in {slo.period, *slo.alert_windows}:
            since = now - timedelta(seconds=window_seconds(window))
            if slo.name in FLOW_SLOS:
                domain, threshold = FLOW_SLOS[slo.name]
                counts[window] = await deps.store.flow_counts(domain, threshold, since, now)
            elif slo.name == _PARKING:
                parked = await _parked_times(deps) if parked is None else parked
                bad = sum(1 for at in parked if at >= since)
                total = max(await deps.store.steps_since(since), bad)
                counts[window] = (total - bad, total)
        statuses.append(status(slo, counts))
    return statuses
