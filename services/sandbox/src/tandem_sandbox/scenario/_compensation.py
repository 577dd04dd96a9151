"""Dated hourly cost rates per worker, in the home currency (HRIS / finance)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from tandem_contracts.entities import CostRate
from tandem_sandbox.scenario._context import Context
from tandem_sandbox.scenario._org import Org
from tandem_sandbox.scenario._prices import local_price

__all__ = ["cost_rates", "effective"]

_CONTRACTOR_PREMIUM = Decimal("1.3")


def cost_rates(
    ctx: Context,
    org: Org,
    rng: random.Random,
    worker_id: str,
    role_id: str,
    entity_id: str,
    contract: tuple[date, date | None, bool],
) -> list[CostRate]:
    """Return contiguous cost rates: from hire, from the yearly review, maybe from mid-month."""
    hire, termination, contractor = contract
    spec = org.spec(entity_id)
    factor = spec.cost_factor * Decimal(rng.randint(90, 110)) / 100
    if contractor:
        factor *= _CONTRACTOR_PREMIUM
    usd = org.role_specs[role_id].cost_usd
    starts = [hire]
    review = date(ctx.month.year, 1, 1)
    if hire < review and (termination is None or termination >= review):
        starts.append(review)
    # Some raises land mid-month, so cost lookups must honour effective dates inside the month.
    if hire < ctx.month and termination is None and rng.random() < 0.12:
        starts.append(ctx.month + timedelta(days=15))
    rates = []
    for n, start in enumerate(starts):
        end = starts[n + 1] - timedelta(days=1) if n + 1 < len(starts) else termination
        amount = local_price(usd, spec.currency, factor * (1 + Decimal(n) * Decimal("0.05")))
        rates.append(
            CostRate(
                worker_id=worker_id, hourly_cost=amount, effective_from=start, effective_to=end
            )
        )
    return rates


def effective(rates: list[CostRate], day: date) -> CostRate | None:
    """Return the rate among ``rates`` in effect on ``day``, if any."""
    for rate in rates:
        if rate.effective_from <= day and (rate.effective_to is None or day <= rate.effective_to):
            return rate
    return None
