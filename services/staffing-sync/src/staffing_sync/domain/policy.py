"""A tenant's staffing settings: factor weights, tentative bookings, margin target, intercompany.

Every default here is a per-tenant setting (DOMAIN.md §7): a firm that sells scarce skills
weights skills up; one under margin pressure weights cost up.
"""

from __future__ import annotations

from dataclasses import dataclass

from staffing_sync.domain.availability import DEFAULT_SOFT_BOOKING_PCT
from staffing_sync.domain.factors import Factor

__all__ = ["DEFAULT_WEIGHTS", "StaffingPolicy", "Weights"]


@dataclass(frozen=True)
class Weights:
    """Relative weight of each factor in the total score; only the proportions matter.

    Defaults (out of 100): skills 30 (the wrong person is the costliest mistake), availability
    25 (a great fit who cannot do the hours is no fit), cost 15, location 10, utilization 10,
    intercompany 10. A weight of 0 leaves a factor out of the total (it is still explained).
    """

    skills: int = 30
    availability: int = 25
    cost: int = 15
    location: int = 10
    utilization: int = 10
    intercompany: int = 10

    def __post_init__(self) -> None:
        values = [self.of(factor) for factor in Factor]
        if any(value < 0 for value in values) or sum(values) == 0:
            raise ValueError("weights are non-negative and at least one is positive")

    def of(self, factor: Factor) -> int:
        """The weight of ``factor``."""
        weight: int = getattr(self, factor.value)
        return weight

    @property
    def total(self) -> int:
        """The sum of the weights: what a perfect candidate scores."""
        return sum(self.of(factor) for factor in Factor)


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True)
class StaffingPolicy:
    """How options are ranked.

    ``intercompany_pairs`` are allowed (employer entity, project entity) pairs, directional
    (a US consultant on a UK project does not allow the reverse); none by default (DOMAIN.md
    §7.5). ``target_margin_pct``: the margin of bill over cost rate that scores full marks on
    cost. ``max_options``: how many options a proposal carries, best first.
    """

    weights: Weights = DEFAULT_WEIGHTS
    soft_booking_pct: int = DEFAULT_SOFT_BOOKING_PCT
    target_margin_pct: int = 40
    intercompany_pairs: frozenset[tuple[str, str]] = frozenset()
    max_options: int = 10

    def __post_init__(self) -> None:
        if not 0 <= self.soft_booking_pct <= 100 or not 0 <= self.target_margin_pct <= 100:
            raise ValueError("soft_booking_pct and target_margin_pct are percentages, 0 to 100")
        if self.max_options < 1:
            raise ValueError("a proposal carries at least one option")
