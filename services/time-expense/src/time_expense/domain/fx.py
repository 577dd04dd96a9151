"""Currency conversion at a date, carrying the rate used (DOMAIN.md §4.4, §7.4).

Cost and WIP convert at the work date. The rate in force is the latest published on or before
that date; a pair quoted only the other way round is inverted. A missing rate is a business
exception (``fx_rate_missing``), never a silent 1:1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from tandem_contracts import Money
from tandem_contracts.entities import FxRate, FxRateType, FxUsed
from tandem_contracts.events import PostingFailureReason
from time_expense.domain.errors import PostingRefused

__all__ = ["Converted", "FxTable"]

_RATE_PLACES = Decimal("1e-10")


@dataclass(frozen=True)
class Converted:
    """An amount in the target currency and the rate it was converted at (``None``: same)."""

    amount: Money
    fx: FxUsed | None


@dataclass
class FxTable:
    """Rates of one type, by (base, quote), each pair's rates sorted by date."""

    rate_type: FxRateType = FxRateType.SPOT
    _rates: dict[tuple[str, str], list[FxRate]] = field(default_factory=dict)

    @classmethod
    def of(cls, rates: Iterable[FxRate], rate_type: FxRateType = FxRateType.SPOT) -> FxTable:
        """Build a table from the rates of ``rate_type``."""
        table = cls(rate_type)
        for rate in rates:
            table.add(rate)
        return table

    def add(self, rate: FxRate) -> None:
        """Learn a rate (rates of another type are ignored)."""
        if rate.rate_type is not self.rate_type:
            return
        pair = self._rates.setdefault((rate.base, rate.quote), [])
        pair.append(rate)
        pair.sort(key=lambda r: (r.effective_date, r.id))

    def convert(self, amount: Money, to: str, on: date) -> Converted:
        """Convert ``amount`` into ``to`` at the rate in force on ``on``."""
        if amount.currency == to:
            return Converted(amount, None)
        used = self._used(amount.currency, to, on)
        return Converted(Money(amount=amount.amount * used.rate, currency=to), used)

    def _used(self, base: str, quote: str, on: date) -> FxUsed:
        """The rate in force: the more recent of the direct quote and the inverted reverse one."""
        direct, inverse = self._latest((base, quote), on), self._latest((quote, base), on)
        if inverse is not None and (
            direct is None or inverse.effective_date > direct.effective_date
        ):
            rate = (Decimal(1) / inverse.rate).quantize(_RATE_PLACES)
            return FxUsed(rate_id=inverse.id, rate=rate, rate_date=inverse.effective_date)
        if direct is not None:
            return FxUsed(rate_id=direct.id, rate=direct.rate, rate_date=direct.effective_date)
        raise PostingRefused(
            PostingFailureReason.FX_RATE_MISSING,
            f"no {self.rate_type} rate {base}->{quote} on or before {on}",
        )

    def _latest(self, pair: tuple[str, str], on: date) -> FxRate | None:
        return next(
            (r for r in reversed(self._rates.get(pair, [])) if r.effective_date <= on), None
        )
