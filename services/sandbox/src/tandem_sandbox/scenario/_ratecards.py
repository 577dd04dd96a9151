"""Rate cards per currency scoped to group, practice, region or account, and their lookup."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from tandem_contracts import Money
from tandem_contracts.entities import (
    Customer,
    CustomerStatus,
    RateCard,
    RateCardScope,
    RateCardStatus,
    RateCardVersion,
    RateSource,
    RoleRate,
)
from tandem_sandbox.scenario._catalog import USD_VALUE
from tandem_sandbox.scenario._context import Context
from tandem_sandbox.scenario._org import Org
from tandem_sandbox.scenario._prices import local_price

__all__ = ["RateBook", "build_rate_cards"]

# Precedence of DOMAIN §4.1 (Certinia): the most specific scope that has a card wins.
LEVELS = ("account", "region", "practice", "group")
_REGIONAL = (("americas", "USD"), ("emea", "EUR"), ("emea", "GBP"), ("apac", "SGD"))
_PREMIUM = (
    ("data", "USD"),
    ("data", "EUR"),
    ("data", "GBP"),
    ("cloud", "USD"),
    ("security", "USD"),
)


@dataclass(frozen=True)
class RateBook:
    """The rate cards, indexed by (currency, scope level, scope id)."""

    cards: tuple[RateCard, ...]
    index: dict[tuple[str, str, str], RateCard]

    def card_for(self, currency: str, scope: dict[str, str]) -> tuple[RateCard, str]:
        """Return the most specific card in ``currency`` for a project's scope, and its level."""
        for level in LEVELS:
            card = self.index.get((currency, level, scope[level]))
            if card is not None:
                return card, level
        raise LookupError(f"no {currency} rate card for the group")

    def rate(self, card: RateCard, level: str, role_id: str, day: date) -> tuple[Money, RateSource]:
        """Return the bill rate of a role on a day: the role row, else the version's default."""
        version = next(
            v
            for v in card.versions
            if v.effective_from <= day and (v.effective_to is None or day <= v.effective_to)
        )
        row = next((r for r in version.role_rates if r.role_id == role_id), None)
        amount = row.bill_rate if row is not None else version.default_rate
        if amount is None:
            raise LookupError(f"rate card {card.id} has no rate for role {role_id}")
        source = RateSource(
            rate_card_id=card.id,
            rate_card_version=version.version,
            scope_level=level,
            role_id=role_id if row else None,
        )
        return amount, source


def build_rate_cards(ctx: Context, org: Org, customers: tuple[Customer, ...]) -> RateBook:
    """Build group cards for every currency, regional and practice cards, and account cards."""
    rng = ctx.rng("rate-cards")
    specs: list[tuple[str, str, str, str, Decimal]] = [
        ("group", org.group_id, cur, f"Standard {cur}", Decimal(1)) for cur in USD_VALUE
    ]
    specs += [
        ("region", org.region_ids[r], cur, f"{r.upper()} {cur}", Decimal("0.95"))
        for r, cur in _REGIONAL
    ]
    specs += [
        ("practice", org.practice_ids[p], cur, f"{p.title()} premium {cur}", Decimal("1.1"))
        for p, cur in _PREMIUM
    ]
    big = [c for c in customers if c.status is CustomerStatus.ACTIVE][::5]
    specs += [("account", c.id, c.currency, f"{c.name} MSA", Decimal("0.9")) for c in big]
    index = {}
    for level, scope_id, currency, name, factor in specs:
        card = _card(ctx, org, rng, level, scope_id, currency, name, factor)
        index[(currency, level, scope_id)] = card
    return RateBook(cards=tuple(index.values()), index=index)


def _card(
    ctx: Context,
    org: Org,
    rng: random.Random,
    level: str,
    scope_id: str,
    currency: str,
    name: str,
    factor: Decimal,
) -> RateCard:
    roles = list(org.role_specs)
    # Narrower cards list fewer roles, so lookups fall back to the version's default rate.
    listed = (
        roles if level in ("group", "region") else rng.sample(roles, rng.randint(4, len(roles) - 2))
    )
    starts = [date(ctx.month.year - 1, 1, 1), date(ctx.month.year, 1, 1)]
    if (level == "group" and currency == "USD") or rng.random() < 0.3:
        starts.append(ctx.month + timedelta(days=15))  # a price change in the middle of the month
    versions = []
    for n, start in enumerate(starts):
        uplift = factor * (1 + Decimal(n) * Decimal("0.04"))
        versions.append(
            RateCardVersion(
                version=n + 1,
                effective_from=start,
                effective_to=starts[n + 1] - timedelta(days=1) if n + 1 < len(starts) else None,
                default_rate=local_price(org.role_specs[roles[1]].bill_usd, currency, uplift),
                role_rates=tuple(
                    RoleRate(
                        role_id=r,
                        bill_rate=local_price(org.role_specs[r].bill_usd, currency, uplift),
                        cost_rate=local_price(org.role_specs[r].cost_usd, currency),
                    )
                    for r in listed
                ),
            )
        )
    scope = RateCardScope(**{f"{level}_id": scope_id})
    return RateCard(
        id=ctx.new_id(),
        name=name,
        currency=currency,
        scope=scope,
        versions=tuple(versions),
        status=RateCardStatus.PUBLISHED,
    )
