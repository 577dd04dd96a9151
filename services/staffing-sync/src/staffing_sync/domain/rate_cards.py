"""What a PSA rate card means to the rest of the suite (DOMAIN.md §4.1, §7.2).

A PSA card is one canonical ``RateCard``, published: its dated versions numbered as the PSA
numbers them (by position, from 1, where it does not), each role's rates under the role's id,
its money in the card's currency, its scope in canonical ids. It is announced
(``RateCardPublished``) at its **newest version** (``published_version``): when first seen, and
again each time that number rises (a version added, the ones before it perhaps closed). A PSA
version that changes nothing of the card announces nothing.

Every consumer keeps a card only over an older ``published_version`` (an equal one is dropped),
so a card changed without a newer version — a rate rewritten in place, a version removed —
could never reach them: it is refused (``RateCardChangedInPlaceError``) with why, not announced
in vain. A card that cannot be one canonical card (a version number given twice, a version
ending before it starts, a role listed twice in one version) is refused too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import ValidationError

from tandem_contracts import ExternalRef, Money
from tandem_contracts.entities import (
    RateCard,
    RateCardScope,
    RateCardStatus,
    RateCardVersion,
    RoleRate,
)

__all__ = [
    "CardRow",
    "CardStep",
    "CardVersion",
    "InvalidRateCardError",
    "PsaCard",
    "RateCardChangedInPlaceError",
    "next_card_step",
    "published_version",
    "rate_card",
]


class InvalidRateCardError(ValueError):
    """The PSA's card cannot be published as it is."""


class RateCardChangedInPlaceError(InvalidRateCardError):
    """The card changed without a newer version: no consumer would take the change."""


class CardStep(StrEnum):
    """What a card version asks of staffing-sync."""

    PUBLISH = "publish"
    NOTHING = "nothing"


@dataclass(frozen=True)
class CardRow:
    """A role's rates in one version (the role already an id)."""

    role_id: str
    bill_rate: Decimal
    cost_rate: Decimal | None = None


@dataclass(frozen=True)
class CardVersion:
    """One dated version as the PSA gives it (``number`` None: numbered by its position)."""

    effective_from: date
    effective_to: date | None = None
    default_rate: Decimal | None = None
    rows: tuple[CardRow, ...] = ()
    discount_pct: Decimal = Decimal(0)
    number: int | None = None


@dataclass(frozen=True)
class PsaCard:
    """A PSA rate card in canonical ids: its id, scope and reference."""

    card_id: str
    name: str
    currency: str
    scope: RateCardScope
    versions: tuple[CardVersion, ...]
    ref: ExternalRef


def published_version(card: RateCard) -> int:
    """The version a card is published at: its newest."""
    return max(version.version for version in card.versions)


def rate_card(card: PsaCard) -> RateCard:
    """The canonical, published card the PSA's is (``InvalidRateCardError``: it cannot be)."""
    numbered = [(v.number or n, v) for n, v in enumerate(card.versions, start=1)]
    twice = sorted(n for n, seen in Counter(n for n, _ in numbered).items() if seen > 1)
    if twice:
        raise InvalidRateCardError(f"rate card {card.card_id}: version {twice[0]} is given twice")
    try:
        versions = tuple(
            _version(card, number, version) for number, version in sorted(numbered, key=_number)
        )
        return RateCard(
            id=card.card_id, name=card.name, currency=card.currency, scope=card.scope,
            versions=versions, status=RateCardStatus.PUBLISHED, refs=(card.ref,),
        )  # fmt: skip
    except ValidationError as invalid:
        first = invalid.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "the card"
        raise InvalidRateCardError(
            f"rate card {card.card_id}: {where}: {first['msg']}"[:500]
        ) from None


def next_card_step(announced: RateCard | None, card: RateCard) -> CardStep:
    """Publish a card first seen and a card with a newer version; nothing for the same card.

    ``announced`` is the card as last published (None: never).
    ``RateCardChangedInPlaceError``: changed, and no newer version to publish it at.
    """
    if announced is None:
        return CardStep.PUBLISH
    if announced == card:
        return CardStep.NOTHING
    newest, before = published_version(card), published_version(announced)
    if newest > before:
        return CardStep.PUBLISH
    raise RateCardChangedInPlaceError(
        f"rate card {card.id} changed without a newer version (newest {newest}, published "
        f"{before}): consumers keep a card by version, so add a version to change it"
    )


def _number(numbered: tuple[int, CardVersion]) -> int:
    return numbered[0]


def _version(card: PsaCard, number: int, version: CardVersion) -> RateCardVersion:
    if version.effective_to is not None and version.effective_to < version.effective_from:
        raise InvalidRateCardError(
            f"rate card {card.card_id}: version {number} ends before it starts"
        )
    listed = Counter(row.role_id for row in version.rows)
    if twice := sorted(role for role, seen in listed.items() if seen > 1):
        raise InvalidRateCardError(
            f"rate card {card.card_id}: role {twice[0]} is listed twice in version {number}"
        )
    currency = card.currency
    return RateCardVersion(
        version=number, effective_from=version.effective_from,
        effective_to=version.effective_to,
        default_rate=_money(version.default_rate, currency),
        role_rates=tuple(
            RoleRate(role_id=row.role_id, bill_rate=Money(amount=row.bill_rate, currency=currency),
                     cost_rate=_money(row.cost_rate, currency))
            for row in version.rows
        ),
        discount_pct=version.discount_pct,
    )  # fmt: skip


def _money(amount: Decimal | None, currency: str) -> Money | None:
    return None if amount is None else Money(amount=amount, currency=currency)
