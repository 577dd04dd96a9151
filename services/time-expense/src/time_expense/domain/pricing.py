"""Freeze an approved entry's bill rate and cost at approval (DOMAIN.md §4.1, §4.4, §7.2, §7.4).

A rate already frozen on the entry (it carries its ``rate_source``) is kept: re-rating approved
time is an explicit ``TimeAdjusted``, never a side effect of a newer card. Otherwise the rate is
resolved from the cards in the project's billing currency. Cost is the worker's cost rate in
force on the work date, converted to the project currency at the work date, with the FX used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from tandem_contracts import Money
from tandem_contracts.entities import CostRate, Project, RateCard, TimeEntry
from tandem_contracts.events import PostingFailureReason
from tandem_pricing import RateQuery, resolve_bill_rate
from time_expense.domain.errors import PostingRefused
from time_expense.domain.fx import FxTable

__all__ = ["Priced", "price_entry"]

_MINUTES_PER_HOUR = Decimal(60)


@dataclass(frozen=True)
class Priced:
    """The entry with its rate frozen, and the amounts it posts."""

    entry: TimeEntry
    bill_amount: Money | None
    cost_amount: Money | None


def price_entry(
    entry: TimeEntry,
    project: Project,
    cards: Iterable[RateCard],
    cost_rates: Iterable[CostRate],
    fx: FxTable,
) -> Priced:
    """Freeze the bill rate (unless frozen already) and the cost of ``entry``."""
    hours = Decimal(entry.rounded_minutes or entry.duration_minutes) / _MINUTES_PER_HOUR
    entry = _with_bill_rate(entry, project, cards)
    cost = _cost_rate(entry, cost_rates)
    if cost is not None:
        converted = fx.convert(cost, project.currency, entry.work_date)
        entry = entry.model_copy(update={"cost_rate": converted.amount, "fx": converted.fx})
    return Priced(
        entry=entry,
        bill_amount=entry.bill_rate.times(hours) if entry.bill_rate else None,
        cost_amount=entry.cost_rate.times(hours) if entry.cost_rate else None,
    )


def _with_bill_rate(entry: TimeEntry, project: Project, cards: Iterable[RateCard]) -> TimeEntry:
    if not entry.billable or (entry.bill_rate is not None and entry.rate_source is not None):
        return entry
    if entry.role_id is None:
        raise PostingRefused(
            PostingFailureReason.RATE_UNRESOLVED, f"entry {entry.id} has no role to price"
        )
    query = RateQuery(
        project_id=project.id,
        account_id=project.customer_id,
        role_id=entry.role_id,
        currency=project.currency,
        on=entry.work_date,
        org_unit_ids=frozenset(project.org_unit_ids),
    )
    resolved = resolve_bill_rate(cards, query)
    if resolved is None:
        raise PostingRefused(
            PostingFailureReason.RATE_UNRESOLVED,
            f"no {project.currency} rate for role {entry.role_id} on {entry.work_date}",
        )
    return entry.model_copy(update={"bill_rate": resolved.rate, "rate_source": resolved.source})


def _cost_rate(entry: TimeEntry, cost_rates: Iterable[CostRate]) -> Money | None:
    """The worker's hourly cost in force on the work date, in its own currency."""
    live = [
        rate
        for rate in cost_rates
        if rate.worker_id == entry.worker_id
        and rate.effective_from <= entry.work_date
        and (rate.effective_to is None or entry.work_date <= rate.effective_to)
    ]
    latest = max(live, key=lambda rate: rate.effective_from, default=None)
    return latest.hourly_cost if latest else None
