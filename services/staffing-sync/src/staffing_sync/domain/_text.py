"""How figures read in reasons: whole percentages, hours, scores to two places (no floats)."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

__all__ = ["hours", "pct", "two_places"]


def pct(share: Fraction) -> str:
    """A share as a whole percentage, rounded half up: '37%'."""
    return f"{math.floor(share * 100 + Fraction(1, 2))}%"


def hours(minutes: int) -> str:
    """Minutes as hours: '120 h', '37.5 h'."""
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{(Decimal(minutes) / 60).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} h"


def two_places(score: Fraction) -> str:
    """A score to two places: '0.75'."""
    exact = Decimal(score.numerator) / Decimal(score.denominator)
    return str(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
