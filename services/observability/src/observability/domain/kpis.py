"""The KPIs' arithmetic (DOMAIN.md §5), on plain numbers and dates: no I/O.

- capacity: working days (Monday to Friday) in a month a consultant was employed, times the
  minutes of a working day;
- billable utilization: billable minutes ÷ capacity; forecast utilization: hard-booked
  minutes ÷ capacity (an assignment's minutes spread over its working days);
- a month's breach: below target x ratio, or above the burnout line;
- percentiles (linear interpolation, as PostgreSQL's ``percentile_cont``).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

__all__ = [
    "Thresholds",
    "allocated_minutes",
    "breach",
    "capacity_minutes",
    "month_bounds",
    "percentile",
    "ratio_pct",
    "working_days",
]


def month_bounds(period: str) -> tuple[date, date]:
    """First and last day of ``YYYY-MM``."""
    year, month = (int(part) for part in period.split("-"))
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def working_days(start: date, end: date) -> int:
    """Monday-to-Friday days from ``start`` to ``end``, both included (0 when end < start)."""
    if end < start:
        return 0
    days = (end - start).days + 1
    weeks, rest = divmod(days, 7)
    count = weeks * 5
    for offset in range(rest):
        if (start + timedelta(days=weeks * 7 + offset)).weekday() < 5:
            count += 1
    return count


def capacity_minutes(
    period: str, minutes_per_day: int, hired: date | None = None, last_day: date | None = None
) -> int:
    """A consultant's available minutes in ``period``, counting only days employed."""
    first, last = month_bounds(period)
    start = max(first, hired) if hired else first
    end = min(last, last_day) if last_day else last
    return working_days(start, end) * minutes_per_day


def allocated_minutes(
    period: str, start: date, end: date, minutes_per_day: int | None, total_minutes: int
) -> int:
    """The minutes of an assignment that fall in ``period``: ``minutes_per_day`` on each of
    its working days there, or else its total spread evenly over its working days."""
    first, last = month_bounds(period)
    inside = working_days(max(first, start), min(last, end))
    if minutes_per_day is not None:
        return inside * minutes_per_day
    overall = working_days(start, end)
    return total_minutes * inside // overall if overall else 0


def ratio_pct(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """``part ÷ whole`` in per cent to two places (None without a whole)."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP)


@dataclass(frozen=True)
class Thresholds:
    """When a consultant's month is a breach."""

    target_pct: Decimal
    low_ratio: Decimal
    burnout_pct: Decimal

    @property
    def low_pct(self) -> Decimal:
        """Below this the month is a breach (target x ratio)."""
        return (self.target_pct * self.low_ratio).quantize(Decimal("0.01"), ROUND_HALF_UP)


def breach(actual_pct: Decimal, thresholds: Thresholds) -> tuple[str, Decimal] | None:
    """``("below" | "above", threshold)`` when ``actual_pct`` breaches, else None."""
    if actual_pct < thresholds.low_pct:
        return "below", thresholds.low_pct
    if actual_pct > thresholds.burnout_pct:
        return "above", thresholds.burnout_pct
    return None


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` percentile of ``values``, interpolated linearly (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
