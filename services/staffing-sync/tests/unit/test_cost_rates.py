"""A worker's dated cost rates: splits, corrections, the rate at a date, and order-free merges."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from staffing_sync.domain.cost_rates import CostRateSeries, MergeOutcome, RateChange
from tandem_contracts import Money
from tandem_contracts.entities import CostRate

WRITTEN = datetime(2025, 1, 1, 12, tzinfo=UTC)


def rate(start: date, amount: str, *, later_by: int = 0, currency: str = "USD") -> RateChange:
    """A rate change from ``start`` written ``later_by`` minutes after the first write."""
    return RateChange(
        effective_from=start,
        hourly_cost=Money(amount=Decimal(amount), currency=currency),
        written_at=WRITTEN + timedelta(minutes=later_by),
    )


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def test_the_first_rate_is_open_ended_and_none_holds_before_it() -> None:
    series, outcome = CostRateSeries().merge(rate(date(2025, 1, 1), "50"))
    assert outcome is MergeOutcome.ADDED
    assert series.periods("wrk-1") == (
        CostRate(worker_id="wrk-1", hourly_cost=usd("50"), effective_from=date(2025, 1, 1)),
    )
    assert series.rate_on(date(2024, 12, 31)) is None
    assert series.rate_on(date(2030, 1, 1)) == usd("50")


def test_a_rate_effective_mid_month_splits_the_period_it_falls_in() -> None:
    series = CostRateSeries.of([rate(date(2025, 1, 1), "50"), rate(date(2025, 7, 1), "60")])
    series, outcome = series.merge(rate(date(2025, 3, 15), "55"))
    assert outcome is MergeOutcome.ADDED
    spans = [(p.effective_from, p.effective_to, p.hourly_cost) for p in series.periods("wrk-1")]
    assert spans == [
        (date(2025, 1, 1), date(2025, 3, 14), usd("50")),
        (date(2025, 3, 15), date(2025, 6, 30), usd("55")),
        (date(2025, 7, 1), None, usd("60")),
    ]
    assert series.rate_on(date(2025, 3, 14)) == usd("50")
    assert series.rate_on(date(2025, 3, 15)) == usd("55")
    assert series.period_from(date(2025, 3, 15), "wrk-1") == CostRate(
        worker_id="wrk-1",
        hourly_cost=usd("55"),
        effective_from=date(2025, 3, 15),
        effective_to=date(2025, 6, 30),
    )
    assert series.period_from(date(2025, 3, 16), "wrk-1") is None


def test_a_later_correction_of_a_start_date_replaces_its_rate() -> None:
    series = CostRateSeries.of([rate(date(2025, 1, 1), "50")])
    series, outcome = series.merge(rate(date(2025, 1, 1), "52", later_by=5))
    assert outcome is MergeOutcome.CORRECTED
    assert outcome.is_news
    assert series.rate_on(date(2025, 1, 1)) == usd("52")
    assert len(series.changes) == 1


def test_an_earlier_write_arriving_after_its_correction_is_superseded() -> None:
    corrected = CostRateSeries.of([rate(date(2025, 1, 1), "52", later_by=5)])
    series, outcome = corrected.merge(rate(date(2025, 1, 1), "50"))
    assert outcome is MergeOutcome.SUPERSEDED
    assert not outcome.is_news
    assert series == corrected


def test_a_redelivery_and_a_rewrite_of_the_same_amount_change_nothing_that_matters() -> None:
    series = CostRateSeries.of([rate(date(2025, 1, 1), "50")])
    assert series.merge(rate(date(2025, 1, 1), "50")) == (series, MergeOutcome.UNCHANGED)
    rewritten, outcome = series.merge(rate(date(2025, 1, 1), "50.00", later_by=1))
    assert outcome is MergeOutcome.UNCHANGED
    assert rewritten.rate_on(date(2025, 1, 1)) == usd("50")


def test_a_new_currency_from_a_date_is_a_rate_like_any_other() -> None:
    series = CostRateSeries.of(
        [rate(date(2025, 1, 1), "50"), rate(date(2025, 8, 1), "40", currency="GBP")]
    )
    assert series.rate_on(date(2025, 8, 1)) == Money(amount=Decimal("40"), currency="GBP")


def test_a_series_out_of_order_is_refused() -> None:
    with pytest.raises(ValueError, match="one rate per start date"):
        CostRateSeries((rate(date(2025, 2, 1), "50"), rate(date(2025, 1, 1), "40")))


# -- properties --------------------------------------------------------------------------------

_CHANGES = st.lists(
    st.builds(
        rate,
        st.dates(date(2024, 1, 1), date(2026, 12, 31)),
        st.sampled_from(["40", "50", "55.50", "60"]),
        later_by=st.integers(0, 3),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300)
@given(changes=_CHANGES)
def test_periods_never_overlap_and_cover_every_day_from_the_first_start(
    changes: list[RateChange],
) -> None:
    periods = CostRateSeries.of(changes).periods("wrk-1")
    assert periods[0].effective_from == min(change.effective_from for change in changes)
    assert periods[-1].effective_to is None
    for earlier, later in pairwise(periods):
        assert earlier.effective_to == later.effective_from - timedelta(days=1)
        assert earlier.effective_from <= earlier.effective_to


@settings(max_examples=300)
@given(changes=_CHANGES, data=st.data())
def test_merging_is_order_free_and_idempotent(
    changes: list[RateChange], data: st.DataObject
) -> None:
    series = CostRateSeries.of(changes)
    reordered = data.draw(st.permutations(changes))
    again = data.draw(st.lists(st.sampled_from(changes), max_size=5))
    assert CostRateSeries.of([*reordered, *again]) == series
    for change in changes:
        assert series.merge(change)[0] == series


@settings(max_examples=200)
@given(changes=_CHANGES, day=st.dates(date(2023, 6, 1), date(2027, 6, 1)))
def test_the_rate_on_a_day_is_the_latest_write_of_the_latest_start_on_or_before_it(
    changes: list[RateChange], day: date
) -> None:
    started = [change for change in changes if change.effective_from <= day]
    expected = None
    if started:
        start = max(change.effective_from for change in started)
        same_start = [change for change in started if change.effective_from == start]
        expected = max(same_start, key=lambda c: (c.written_at, c.hourly_cost.amount)).hourly_cost
    assert CostRateSeries.of(changes).rate_on(day) == expected
