"""Turning USD reference prices into believable local prices."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from tandem_contracts import Money
from tandem_sandbox.scenario._catalog import USD_VALUE

__all__ = ["local_price", "round_price"]


def round_price(amount: Decimal, currency: str) -> Money:
    """Round a price the way a price list would: whole units, or steps of 5 or 50 when large."""
    step = Decimal(1) if amount < 1000 else Decimal(5) if amount < 10000 else Decimal(50)
    return Money(
        amount=(amount / step).quantize(Decimal(1), ROUND_HALF_UP) * step, currency=currency
    )


def local_price(usd: Decimal | int, currency: str, factor: Decimal = Decimal(1)) -> Money:
    """Convert a USD reference price to ``currency``, scaled by ``factor`` and rounded."""
    return round_price(Decimal(usd) * factor / USD_VALUE[currency], currency)
