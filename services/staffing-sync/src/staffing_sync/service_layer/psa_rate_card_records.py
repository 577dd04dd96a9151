"""Reading the PSA's rate-card records (``/v1/rate-cards``: webhook ``data`` or a polled
record) into what ``PsaRateCards`` publishes from: its versions with their roles as ids, its
scope as the PSA names it.

A record that is not one (a field missing or of the wrong type, an amount that is not a
decimal string, a scope Tandem does not know) is refused with ``RecordRejected``: its reason
names the record, the error's type and the field at fault, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from staffing_sync.domain.rate_cards import CardRow, CardVersion
from staffing_sync.service_layer.ingest import role_id
from tandem_connectors.inbound import RecordRejected

__all__ = ["ORG_UNIT_SCOPES", "PsaRateCardRecord", "read_psa_rate_card"]

ORG_UNIT_SCOPES = ("region_id", "practice_id", "group_id")
_SCOPES = frozenset({"project_id", "account_id", *ORG_UNIT_SCOPES})
_UNREADABLE = (KeyError, TypeError, ValueError, ArithmeticError)


class _Unreadable(ValueError):
    """A record field that is not what a PSA rate card holds (the message names no value)."""


@dataclass(frozen=True)
class PsaRateCardRecord:
    """A PSA rate card as read, before its scope is put in canonical ids."""

    external_id: str
    psa_version: int
    name: str
    currency: str
    scope: Mapping[str, str]
    versions: tuple[CardVersion, ...]
    updated_at: datetime


def read_psa_rate_card(record: Mapping[str, Any]) -> PsaRateCardRecord:
    """A PSA rate-card record as read (``RecordRejected``: it cannot be)."""
    try:
        scope = record.get("scope") or {}
        if not isinstance(scope, Mapping):
            raise _Unreadable("scope is not an object")
        # A scope Tandem does not know, left out, would widen the card to every project.
        if unknown := sorted(k for k, v in scope.items() if v is not None and k not in _SCOPES):
            raise _Unreadable(f"the scope names {unknown[0]!r}, not a scope Tandem knows")
        versions = _list(record["versions"], "versions")
        return PsaRateCardRecord(
            external_id=str(record["id"]), psa_version=int(record["version"]),
            name=_text(record["name"]), currency=_text(record["currency"]),
            scope={k: _text(v) for k, v in scope.items() if v is not None},
            versions=tuple(_version(version) for version in versions),
            updated_at=_instant(record["updated_at"]),
        )  # fmt: skip
    except _UNREADABLE as exc:
        said = f" {exc}" if isinstance(exc, KeyError | _Unreadable) else ""
        reason = f"PSA rate card {record.get('id')!r} unreadable: {type(exc).__name__}{said}"
        raise RecordRejected(reason[:500]) from None


def _version(value: Any) -> CardVersion:
    if not isinstance(value, Mapping):
        raise _Unreadable("a version is not an object")
    number = value.get("version")
    if number is not None and (type(number) is not int or number < 1):
        raise _Unreadable("a version number is not a positive whole number")
    discount = value.get("discount_pct")
    return CardVersion(
        effective_from=date.fromisoformat(_text(value["effective_from"])),
        effective_to=_day(value.get("effective_to")),
        default_rate=_amount(value.get("default_rate")),
        rows=tuple(_row(row) for row in _list(value.get("role_rates") or [], "role_rates")),
        discount_pct=Decimal(0) if discount is None else _decimal(discount),
        number=number,
    )  # fmt: skip


def _row(value: Any) -> CardRow:
    if not isinstance(value, Mapping):
        raise _Unreadable("a role rate is not an object")
    role = role_id(_text(value["role"]))
    if role is None:
        raise _Unreadable("a role rate names no role")
    bill = _amount(value["bill_rate"])
    if bill is None:
        raise _Unreadable("a role rate has no bill rate")
    return CardRow(role, bill, _amount(value.get("cost_rate")))


def _amount(value: Any) -> Decimal | None:
    if value is None:
        return None
    amount = _decimal(value)
    if amount < 0:
        raise _Unreadable("a rate is negative")
    return amount


def _decimal(value: Any) -> Decimal:
    # A decimal string: a JSON number may already have lost its cents.
    if not isinstance(value, str):
        raise _Unreadable(f"an amount is {type(value).__name__}, not a decimal string")
    amount = Decimal(value)
    if not amount.is_finite():
        raise _Unreadable("an amount is not finite")
    return amount


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Unreadable(f"a text field is {type(value).__name__}")
    return value


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Unreadable(f"{name} is not a list")
    return value


def _day(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(_text(value))


def _instant(value: Any) -> datetime:
    instant = datetime.fromisoformat(_text(value))
    if instant.tzinfo is None:
        raise _Unreadable("updated_at has no time zone")
    return instant.astimezone(UTC)
