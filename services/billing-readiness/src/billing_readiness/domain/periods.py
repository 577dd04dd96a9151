"""Billing periods: calendar months named ``YYYY-MM`` (DOMAIN.md §2.5 ``billing_period``).

A charge belongs to the month of its bill date; an invoice of a period may be proposed once the
period has ended, i.e. from the day after its last day.
"""

from __future__ import annotations

import calendar
from datetime import date

__all__ = ["month_end", "months", "period_end", "period_of"]


def period_of(day: date) -> str:
    """The billing period ``YYYY-MM`` ``day`` falls in."""
    return f"{day.year:04d}-{day.month:02d}"


def month_end(day: date) -> date:
    """The last day of ``day``'s month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def period_end(period: str) -> date:
    """The last day of ``period`` (``YYYY-MM``)."""
    year, month = int(period[:4]), int(period[5:7])
    return month_end(date(year, month, 1))


def months(start: date, end: date) -> list[date]:
    """The first day of every month from ``start``'s to ``end``'s, inclusive (at least one)."""
    first = date(start.year, start.month, 1)
    count = max(1, (end.year - start.year) * 12 + end.month - start.month + 1)
    return [
        date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
        for i in range(count)
    ]
