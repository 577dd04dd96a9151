"""FX rates: weekday spot and a month average, from every currency into each functional one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from tandem_contracts.entities import FxRate, FxRateType, FxUsed
from tandem_sandbox.scenario._catalog import ENTITIES, USD_VALUE
from tandem_sandbox.scenario._context import Context

__all__ = ["FxBook", "build_fx"]

_QUANTUM = Decimal("1e-8")
_SOURCE = "sandbox-treasury"


@dataclass(frozen=True)
class FxBook:
    """Spot rates by pair, in date order, for 'latest on or before' lookups."""

    rates: tuple[FxRate, ...]
    spot: dict[tuple[str, str], list[FxRate]]

    def used(self, base: str, quote: str, day: date) -> FxUsed:
        """Return the spot rate for ``base``→``quote`` in effect on ``day``."""
        rate = [r for r in self.spot[(base, quote)] if r.effective_date <= day][-1]
        return FxUsed(rate_id=rate.id, rate=rate.rate, rate_date=rate.effective_date)


def build_fx(ctx: Context) -> FxBook:
    """Publish rates from the last weekday before the month, so every day of it has a rate."""
    rng = ctx.rng("fx")
    days = [d for d in (ctx.month - timedelta(days=n) for n in range(1, 4)) if d.weekday() < 5][:1]
    days += list(ctx.weekdays)
    drift = {cur: Decimal(1) for cur in USD_VALUE}
    usd: dict[date, dict[str, Decimal]] = {}
    for day in days:
        for cur in drift:
            if cur != "USD":
                drift[cur] *= 1 + Decimal(rng.randint(-40, 40)) / 10000
        usd[day] = {cur: USD_VALUE[cur] * factor for cur, factor in drift.items()}
    quotes = sorted({spec.currency for spec in ENTITIES})
    pairs = [(base, quote) for base in USD_VALUE for quote in quotes if base != quote]
    spot: dict[tuple[str, str], list[FxRate]] = {}
    averages = []
    for base, quote in pairs:
        spot[(base, quote)] = [
            _rate(ctx, base, quote, usd[d][base] / usd[d][quote], FxRateType.SPOT, d) for d in days
        ]
        mean = sum((usd[d][base] / usd[d][quote] for d in ctx.weekdays), Decimal(0)) / len(
            ctx.weekdays
        )
        averages.append(_rate(ctx, base, quote, mean, FxRateType.MONTH_AVG, ctx.month))
    return FxBook(rates=(*[r for rates in spot.values() for r in rates], *averages), spot=spot)


def _rate(
    ctx: Context, base: str, quote: str, value: Decimal, kind: FxRateType, day: date
) -> FxRate:
    return FxRate(
        id=ctx.new_id(),
        base=base,
        quote=quote,
        rate=value.quantize(_QUANTUM),
        rate_type=kind,
        effective_date=day,
        source=_SOURCE,
    )
