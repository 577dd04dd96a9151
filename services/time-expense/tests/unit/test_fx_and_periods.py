"""FX converts at the date with the rate carried; closed periods follow the late-time policy."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from tandem_contracts import Money
from tandem_contracts.entities import AccountingPeriod, FxRate, FxRateType, PeriodStatus
from tandem_contracts.events import PostingFailureReason
from time_expense.domain import FxTable, LatePolicy, PostingRefused, place_in_period


def rate(base: str, quote: str, value: str, on: date, kind: FxRateType = FxRateType.SPOT) -> FxRate:
    return FxRate(
        id=f"fx-{base}{quote}-{on.isoformat()}-{kind}",
        base=base,
        quote=quote,
        rate=Decimal(value),
        rate_type=kind,
        effective_date=on,
        source="ecb",
    )


TABLE = FxTable.of(
    [
        rate("GBP", "USD", "1.25", date(2026, 10, 1)),
        rate("GBP", "USD", "1.30", date(2026, 10, 12)),
        rate("USD", "INR", "83.50", date(2026, 10, 1)),
        rate("GBP", "USD", "9.99", date(2026, 10, 5), FxRateType.BUDGET),
    ]
)


def test_conversion_uses_the_latest_rate_on_or_before_the_work_date_and_carries_it() -> None:
    before = TABLE.convert(Money.of("100", "GBP"), "USD", date(2026, 10, 11))
    after = TABLE.convert(Money.of("100", "GBP"), "USD", date(2026, 10, 12))
    assert before.amount == Money.of("125.00", "USD")
    assert after.amount == Money.of("130.00", "USD")
    assert before.fx is not None
    assert (before.fx.rate_id, before.fx.rate_date) == (
        "fx-GBPUSD-2026-10-01-spot",
        date(2026, 10, 1),
    )


def test_a_pair_quoted_the_other_way_is_inverted() -> None:
    converted = TABLE.convert(Money.of("8350", "INR"), "USD", date(2026, 10, 20))
    assert converted.amount == Money.of("100.00", "USD")
    assert converted.fx is not None
    assert converted.fx.rate == (Decimal(1) / Decimal("83.50")).quantize(Decimal("1e-10"))


def test_same_currency_is_not_converted() -> None:
    same = TABLE.convert(Money.of("10", "USD"), "USD", date(2026, 10, 1))
    assert same.amount == Money.of("10", "USD")
    assert same.fx is None


@pytest.mark.parametrize(
    ("amount", "to", "on"),
    [
        (Money.of("1", "GBP"), "USD", date(2026, 9, 30)),
        (Money.of("1", "EUR"), "USD", date(2026, 10, 9)),
    ],
)
def test_a_missing_rate_is_a_typed_business_exception(amount: Money, to: str, on: date) -> None:
    with pytest.raises(PostingRefused) as caught:
        TABLE.convert(amount, to, on)
    assert caught.value.reason is PostingFailureReason.FX_RATE_MISSING


def period(month: int, status: PeriodStatus) -> AccountingPeriod:
    start = date(2026, month, 1)
    return AccountingPeriod(
        id=f"p-{month}",
        legal_entity_id="le-us",
        name=f"2026-{month:02d}",
        start_date=start,
        end_date=date(2026, month + 1, 1) - timedelta(days=1),
        status=status,
    )


PERIODS = [
    period(9, PeriodStatus.CLOSED),
    period(10, PeriodStatus.LOCKED),
    period(11, PeriodStatus.OPEN),
]


def test_an_open_period_keeps_the_work_date() -> None:
    placed = place_in_period(date(2026, 11, 3), PERIODS, LatePolicy.POST_TO_NEXT_OPEN)
    assert (placed.accounting_date, placed.late) == (date(2026, 11, 3), False)


def test_late_time_posts_into_the_first_open_period_flagged_late() -> None:
    placed = place_in_period(date(2026, 9, 30), PERIODS, LatePolicy.POST_TO_NEXT_OPEN)
    assert (placed.accounting_date, placed.late) == (date(2026, 11, 1), True)


@pytest.mark.parametrize(
    ("work_date", "periods", "policy"),
    [
        (date(2026, 9, 30), PERIODS, LatePolicy.PARK),
        (date(2026, 10, 2), PERIODS[:2], LatePolicy.POST_TO_NEXT_OPEN),
        (date(2027, 1, 4), PERIODS, LatePolicy.POST_TO_NEXT_OPEN),
    ],
    ids=["policy-parks", "no-later-open-period", "no-period-at-all"],
)
def test_closed_periods_are_refused_as_period_closed(
    work_date: date, periods: list[AccountingPeriod], policy: LatePolicy
) -> None:
    with pytest.raises(PostingRefused) as caught:
        place_in_period(work_date, periods, policy)
    assert caught.value.reason is PostingFailureReason.PERIOD_CLOSED
