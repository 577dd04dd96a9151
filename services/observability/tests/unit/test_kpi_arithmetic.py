"""The KPIs' arithmetic on hand-computed cases: capacity, allocation, breaches, percentiles."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from observability.domain.kpis import (
    Thresholds,
    allocated_minutes,
    breach,
    capacity_minutes,
    percentile,
    ratio_pct,
    working_days,
)
from observability.service_layer.jobs import settled_period


def test_working_days_of_october_2026() -> None:
    # 1 Oct 2026 is a Thursday: 31 days, 22 working days.
    assert working_days(date(2026, 10, 1), date(2026, 10, 31)) == 22
    assert working_days(date(2026, 10, 3), date(2026, 10, 4)) == 0  # a weekend
    assert working_days(date(2026, 10, 5), date(2026, 10, 4)) == 0  # end before start


def test_capacity_counts_only_days_employed() -> None:
    assert capacity_minutes("2026-10", 480) == 22 * 480
    # Hired Monday 19 October: 19-23 and 26-30 are ten working days.
    assert capacity_minutes("2026-10", 480, hired=date(2026, 10, 19)) == 10 * 480
    # Last day Friday 9 October: 1-2 and 5-9 are seven.
    assert capacity_minutes("2026-10", 480, last_day=date(2026, 10, 9)) == 7 * 480
    assert capacity_minutes("2026-10", 480, hired=date(2026, 11, 2)) == 0


def test_an_assignment_counts_its_days_in_the_month() -> None:
    # 26 Oct - 6 Nov: 5 working days in October, 5 in November.
    assert allocated_minutes("2026-10", date(2026, 10, 26), date(2026, 11, 6), 240, 0) == 1200
    # Without minutes per day the total spreads evenly: 4,000 over 10 days, 5 in October.
    assert allocated_minutes("2026-10", date(2026, 10, 26), date(2026, 11, 6), None, 4000) == 2000
    assert allocated_minutes("2026-09", date(2026, 10, 26), date(2026, 11, 6), 240, 0) == 0


def test_breaches_below_target_ratio_and_above_burnout() -> None:
    thresholds = Thresholds(Decimal("75"), Decimal("0.90"), Decimal("85"))
    assert thresholds.low_pct == Decimal("67.50")
    assert breach(Decimal("67.49"), thresholds) == ("below", Decimal("67.50"))
    assert breach(Decimal("67.50"), thresholds) is None
    assert breach(Decimal("85.00"), thresholds) is None
    assert breach(Decimal("85.01"), thresholds) == ("above", Decimal("85"))


def test_ratio_in_per_cent() -> None:
    assert ratio_pct(7920, 10560) == Decimal("75.00")
    assert ratio_pct(1, 3) == Decimal("33.33")
    assert ratio_pct(5, 0) is None


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [([1.0, 2.0, 3.0, 4.0], 0.5, 2.5), ([1.0, 2.0, 3.0, 4.0], 0.9, 3.7), ([5.0], 0.9, 5.0)],
)
def test_percentiles_interpolate_as_postgres_does(
    values: list[float], fraction: float, expected: float
) -> None:
    assert percentile(values, fraction) == pytest.approx(expected)
    assert percentile([], 0.5) is None


def test_a_month_is_checked_once_it_settled() -> None:
    assert settled_period(date(2026, 11, 4), 5) is None  # October ended 4 days ago
    assert settled_period(date(2026, 11, 5), 5) == "2026-10"
    assert settled_period(date(2026, 1, 9), 5) == "2025-12"
    assert settled_period(date(2026, 11, 1), 0) == "2026-10"
