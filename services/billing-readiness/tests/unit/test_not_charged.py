"""Approved billable time never charged (DOMAIN.md §5 ``NOT_CHARGED``): it leaks once it has
waited longer than N days after its approval, worth its frozen value; refused time counts
too; time approved without a rate counts as an item at zero."""

from datetime import UTC, date, datetime, timedelta

from billing_readiness.service_layer.leakage import not_charged
from billing_readiness.service_layer.unit_of_work import PendingTime
from tandem_contracts import Money
from tandem_contracts.events import LeakageKind

TODAY = date(2026, 11, 29)


def pending(
    entry_id: str,
    *,
    days_ago: int,
    value: str | None = "150.00",
    project_id: str = "prj-1",
    currency: str = "GBP",
    worked: date = date(2026, 10, 12),
    failed: str | None = None,
) -> PendingTime:
    approved = datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time(), UTC)
    worth = Money.of(value, currency) if value is not None else None
    return PendingTime(entry_id, project_id, worked, approved + timedelta(hours=9), worth, failed)


def test_time_approved_more_than_n_days_ago_leaks_with_its_value() -> None:
    entries = [
        pending("te-1", days_ago=11, worked=date(2026, 10, 14)),
        pending("te-2", days_ago=30, value="75.50", worked=date(2026, 10, 2)),
        pending("te-3", days_ago=10),  # exactly N days: not yet
        pending("te-4", days_ago=40, failed="period_closed", worked=date(2026, 10, 1)),
    ]
    leak = not_charged("prj-1", entries, today=TODAY, after_days=10, currency="GBP")
    assert leak is not None
    assert leak.kind is LeakageKind.NOT_CHARGED
    assert leak.amount == Money.of("375.50", "GBP")
    # Oldest work first; the refused entry is leakage too.
    assert leak.item_ids == ("te-4", "te-2", "te-1")
    assert leak.oldest == date(2026, 10, 1)


def test_nothing_old_enough_or_of_another_project_is_no_leak() -> None:
    entries = [pending("te-1", days_ago=3), pending("te-2", days_ago=30, project_id="prj-2")]
    assert not_charged("prj-1", entries, today=TODAY, after_days=10, currency="GBP") is None


def test_time_without_a_rate_counts_at_zero_in_the_project_currency() -> None:
    entries = [pending("te-1", days_ago=20, value=None)]
    leak = not_charged("prj-1", entries, today=TODAY, after_days=10, currency="EUR")
    assert leak is not None
    assert (leak.amount, leak.item_ids) == (Money.of("0", "EUR"), ("te-1",))


def test_an_unknown_project_takes_the_currency_of_its_time_or_none() -> None:
    valued = [pending("te-1", days_ago=20, value=None), pending("te-2", days_ago=20)]
    leak = not_charged("prj-1", valued, today=TODAY, after_days=10, currency=None)
    assert leak is not None
    assert leak.amount == Money.of("150.00", "GBP")
    unvalued = [pending("te-1", days_ago=20, value=None)]
    assert not_charged("prj-1", unvalued, today=TODAY, after_days=10, currency=None) is None


def test_values_in_another_currency_are_items_not_amounts() -> None:
    entries = [pending("te-1", days_ago=20), pending("te-2", days_ago=20, currency="USD")]
    leak = not_charged("prj-1", entries, today=TODAY, after_days=10, currency="GBP")
    assert leak is not None
    assert leak.amount == Money.of("150.00", "GBP")
    assert set(leak.item_ids) == {"te-1", "te-2"}
