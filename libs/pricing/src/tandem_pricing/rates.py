"""Bill-rate resolution: one place, one precedence, frozen with its source (DOMAIN.md §4.1, §7.2).

Precedence, most specific first: a project's own card, then the customer account's, the region's,
the practice's, the group's, then a tenant-wide card with no scope. Within a card, the version
effective on the work date answers, with the role's row, else the version's default rate, less
the version's discount. A card in another currency never answers: rate tables are per billing
currency (Deltek), and converting a bill rate would silently re-rate the customer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tandem_contracts import Money
from tandem_contracts.entities import RateCard, RateCardStatus, RateCardVersion, RateSource

__all__ = ["SCOPE_PRECEDENCE", "RateQuery", "ResolvedRate", "resolve_bill_rate"]

SCOPE_PRECEDENCE = ("project", "account", "region", "practice", "group", "tenant")
_SCOPE_FIELDS = {
    "project": "project_id",
    "account": "account_id",
    "region": "region_id",
    "practice": "practice_id",
    "group": "group_id",
}
_ORG_FIELDS = ("region_id", "practice_id", "group_id")


@dataclass(frozen=True)
class RateQuery:
    """What an entry is priced by: its project, customer, role, currency and date, and the
    org units (regions, practices, groups) the project belongs to."""

    project_id: str
    account_id: str
    role_id: str
    currency: str
    on: date
    org_unit_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ResolvedRate:
    """The hourly bill rate and where it came from."""

    rate: Money
    source: RateSource


def resolve_bill_rate(cards: Iterable[RateCard], query: RateQuery) -> ResolvedRate | None:
    """Answer the bill rate of ``query`` from the most specific matching card, or ``None``."""
    matching = [(card, _scope_level(card)) for card in cards if _applies(card, query)]
    matching.sort(key=lambda pair: (SCOPE_PRECEDENCE.index(pair[1]), pair[0].id))
    for card, level in matching:
        version = _effective(card.versions, query.on)
        if version is None:
            continue
        rate = _row_rate(version, query.role_id)
        if rate is None:
            continue
        role = (
            query.role_id if any(r.role_id == query.role_id for r in version.role_rates) else None
        )
        source = RateSource(
            rate_card_id=card.id, rate_card_version=version.version, scope_level=level, role_id=role
        )
        return ResolvedRate(rate, source)
    return None


def _scope_level(card: RateCard) -> str:
    """The card's most specific scope level (``tenant`` when unscoped)."""
    for level, name in _SCOPE_FIELDS.items():
        if getattr(card.scope, name) is not None:
            return level
    return "tenant"


def _applies(card: RateCard, query: RateQuery) -> bool:
    """Whether every scope the card names matches the query, in the query's currency."""
    if card.status is not RateCardStatus.PUBLISHED or card.currency != query.currency:
        return False
    scope = card.scope
    if scope.project_id not in (None, query.project_id):
        return False
    if scope.account_id not in (None, query.account_id):
        return False
    return all(
        getattr(scope, name) is None or getattr(scope, name) in query.org_unit_ids
        for name in _ORG_FIELDS
    )


def _effective(versions: Iterable[RateCardVersion], on: date) -> RateCardVersion | None:
    """The latest version in force on ``on``."""
    live = [
        v
        for v in versions
        if v.effective_from <= on and (v.effective_to is None or on <= v.effective_to)
    ]
    return max(live, key=lambda v: (v.effective_from, v.version), default=None)


def _row_rate(version: RateCardVersion, role_id: str) -> Money | None:
    """The role's rate in the version (else its default), less the version's discount."""
    row = next((r.bill_rate for r in version.role_rates if r.role_id == role_id), None)
    rate = row or version.default_rate
    if rate is None:
        return None
    return rate.times((Decimal(100) - version.discount_pct) / Decimal(100))
