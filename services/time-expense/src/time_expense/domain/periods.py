"""Which accounting date an approved entry posts on (DOMAIN.md §4.3, §7.3).

The work date is kept; the accounting date is the work date when its period is open. When it is
closed (or locked), the late-time policy decides: post into the first open period after it, with
``late`` set, or hold it for finance (``period_closed``) until the period is reopened. Never
retried blindly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from tandem_contracts.entities import AccountingPeriod, PeriodStatus
from tandem_contracts.events import PostingFailureReason
from time_expense.domain.errors import DependencyPending, PostingRefused
from time_expense.domain.keys import period_open_key

__all__ = ["LatePolicy", "Placement", "place_in_period"]


class LatePolicy(StrEnum):
    """What to do with approved time whose work-date period is closed (a tenant setting)."""

    POST_TO_NEXT_OPEN = "post_to_next_open"
    PARK = "park"


@dataclass(frozen=True)
class Placement:
    """The accounting date to post on, and whether that is a late posting."""

    accounting_date: date
    late: bool


def place_in_period(
    work_date: date, periods: Iterable[AccountingPeriod], policy: LatePolicy
) -> Placement:
    """Answer where an entry worked on ``work_date`` posts, or refuse it with a reason."""
    ordered = sorted(periods, key=lambda p: p.start_date)
    home = next((p for p in ordered if p.start_date <= work_date <= p.end_date), None)
    if home is None:
        raise PostingRefused(
            PostingFailureReason.PERIOD_CLOSED, f"no accounting period covers {work_date}"
        )
    if home.status is PeriodStatus.OPEN:
        return Placement(work_date, late=False)
    if policy is LatePolicy.PARK:  # finance decides: reopen the period, or replay elsewhere
        raise DependencyPending(
            period_open_key(home.legal_entity_id, home.start_date),
            PostingFailureReason.PERIOD_CLOSED,
            f"period {home.name} is {home.status}",
        )
    later = next(
        (p for p in ordered if p.start_date > home.end_date and p.status is PeriodStatus.OPEN),
        None,
    )
    if later is None:
        raise PostingRefused(
            PostingFailureReason.PERIOD_CLOSED,
            f"period {home.name} is {home.status} and no later period is open",
        )
    return Placement(later.start_date, late=True)
