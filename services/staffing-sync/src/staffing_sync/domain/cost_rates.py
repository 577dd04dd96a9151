"""A worker's effective-dated cost rates (DOMAIN.md §2.2 CostRate, §2.1 Dates).

A rate holds from its ``effective_from`` until the day before the next one starts, and the
last one is open-ended: the series is kept by start dates alone, one rate per date, so it
never overlaps and covers every day from the first start on. That is what the HRIS does (a new
rate closes the open-ended one before it), what Tryton's dated employee cost prices are, and
what Runn's "new contract from date" means. An ``effective_to`` an HRIS sends is derived from
the next start and so not kept: a bounded rate with nothing after it would leave days without
a cost, which nothing downstream can price.

* A rate starting inside a period **splits** it: the earlier part keeps its rate, the new one
  runs until the next start.
* A second rate for the same start date is a **correction**: the one the HRIS wrote last
  replaces the other (by ``written_at``, then ``version``), whatever order they arrive in.
* Merging is idempotent and order-free: any order of the same changes gives the same series.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise

from tandem_contracts import Money
from tandem_contracts.entities import CostRate

__all__ = ["CostRateSeries", "MergeOutcome", "RateChange"]


@dataclass(frozen=True, slots=True)
class RateChange:
    """An hourly cost from ``effective_from`` on, as the HRIS wrote it at ``written_at``."""

    effective_from: date
    hourly_cost: Money
    written_at: datetime
    version: int = 1

    def _precedence(self) -> tuple[datetime, int, str, Decimal]:
        # Content breaks a tie between two writes of one instant, so every order agrees.
        return (self.written_at, self.version, self.hourly_cost.currency, self.hourly_cost.amount)


class MergeOutcome(StrEnum):
    """What merging a change did to the series."""

    ADDED = "added"  # a new start date (splitting the period it falls in, if any)
    CORRECTED = "corrected"  # a later write replaced the rate of the same start date
    UNCHANGED = "unchanged"  # the same rate again: a redelivery, or a rewrite of equal amount
    SUPERSEDED = "superseded"  # an earlier write than the one kept for that date: ignored

    @property
    def is_news(self) -> bool:
        """Whether the rate in force changed on some day (a ``CostRateChanged`` to publish)."""
        return self in {MergeOutcome.ADDED, MergeOutcome.CORRECTED}


@dataclass(frozen=True, slots=True)
class CostRateSeries:
    """A worker's rate changes, one per start date, oldest first."""

    changes: tuple[RateChange, ...] = ()

    def __post_init__(self) -> None:
        starts = [change.effective_from for change in self.changes]
        if any(later <= earlier for earlier, later in pairwise(starts)):
            raise ValueError("a cost-rate series has one rate per start date, oldest first")

    @classmethod
    def of(cls, changes: Iterable[RateChange]) -> CostRateSeries:
        """The series that merging ``changes`` in any order gives."""
        series = cls()
        for change in changes:
            series, _ = series.merge(change)
        return series

    def merge(self, change: RateChange) -> tuple[CostRateSeries, MergeOutcome]:
        """This series with ``change`` merged in, and what that did."""
        starts = [known.effective_from for known in self.changes]
        at = bisect_right(starts, change.effective_from)
        if at and starts[at - 1] == change.effective_from:
            kept = self.changes[at - 1]
            if change._precedence() <= kept._precedence():
                same = change._precedence() == kept._precedence()
                return self, MergeOutcome.UNCHANGED if same else MergeOutcome.SUPERSEDED
            replaced = (*self.changes[: at - 1], change, *self.changes[at:])
            equal = change.hourly_cost == kept.hourly_cost
            return CostRateSeries(replaced), (
                MergeOutcome.UNCHANGED if equal else MergeOutcome.CORRECTED
            )
        added = (*self.changes[:at], change, *self.changes[at:])
        return CostRateSeries(added), MergeOutcome.ADDED

    def rate_on(self, day: date) -> Money | None:
        """The hourly cost in force on ``day``; None before the first rate starts."""
        at = bisect_right([change.effective_from for change in self.changes], day)
        return self.changes[at - 1].hourly_cost if at else None

    def periods(self, worker_id: str) -> tuple[CostRate, ...]:
        """The series as canonical cost rates: contiguous, the last one open-ended."""
        ends = [change.effective_from - timedelta(days=1) for change in self.changes[1:]]
        return tuple(
            CostRate(
                worker_id=worker_id,
                hourly_cost=change.hourly_cost,
                effective_from=change.effective_from,
                effective_to=end,
            )
            for change, end in zip(self.changes, [*ends, None], strict=True)
        )

    def period_from(self, effective_from: date, worker_id: str) -> CostRate | None:
        """The period starting on ``effective_from`` (what a ``CostRateChanged`` carries)."""
        for period in self.periods(worker_id):
            if period.effective_from == effective_from:
                return period
        return None
