"""Pure mappings between Tryton's values and Tandem's canonical ones (no I/O)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from tandem_contracts import ExternalRef, Money, SystemKind
from tandem_contracts.entities import BillingModel, PeriodStatus

__all__ = [
    "EU_COUNTRIES",
    "company_context",
    "duration_of",
    "external_ref",
    "fiscal_years_around",
    "invoice_method",
    "minutes_of",
    "money_of",
    "period_status",
    "record_key",
]

EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
"""The member states whose customers' VAT ids Tryton keeps as ``eu_vat`` identifiers."""

_PERIOD_STATUS = {
    "open": PeriodStatus.OPEN,
    "closed": PeriodStatus.CLOSED,
    "locked": PeriodStatus.LOCKED,
}
# Time and materials bills the timesheet; a fixed fee bills progress; the rest by hand.
_INVOICE_METHODS = {
    BillingModel.TIME_AND_MATERIALS: "timesheet",
    BillingModel.CAPPED_TM: "timesheet",
    BillingModel.FIXED_FEE: "progress",
    BillingModel.MILESTONE: "manual",
    BillingModel.RETAINER: "manual",
}
# Wide enough for any Tryton id, so the string order of keys is the numeric order of ids.
_KEY_DIGITS = 12


def company_context(company: int | str) -> dict[str, Any]:
    """The call context that makes ``company`` the default company of created records."""
    return {"company": int(company)}


def duration_of(minutes: int) -> dt.timedelta:
    """A Tryton ``TimeDelta`` of ``minutes``."""
    return dt.timedelta(minutes=minutes)


def minutes_of(duration: dt.timedelta) -> int:
    """Integer minutes of a Tryton duration (whole minutes are all Tandem posts)."""
    return round(duration.total_seconds() / 60)


def money_of(amount: Decimal | int, currency: str) -> Money:
    """Canonical money of a Tryton amount (Decimal, or 0 for an empty sum) and currency code."""
    return Money(amount=Decimal(amount), currency=currency)


def period_status(state: str) -> PeriodStatus:
    """The canonical status of a Tryton ``account.period`` state."""
    try:
        return _PERIOD_STATUS[state]
    except KeyError:
        raise ValueError(f"unknown Tryton period state {state!r}") from None


def record_key(record_id: int) -> str:
    """A change-feed record key of a Tryton id that sorts as the ids do."""
    if record_id < 0:
        raise ValueError(f"Tryton ids are positive, got {record_id}")
    return f"{record_id:0{_KEY_DIGITS}d}"


def external_ref(instance: str, object_type: str, record_id: int | str) -> ExternalRef:
    """The reference of a Tryton record in ERP instance ``instance``."""
    return ExternalRef(
        system=SystemKind.ERP,
        instance=instance,
        object_type=object_type,
        external_id=str(record_id),
    )


def fiscal_years_around(today: dt.date) -> range:
    """The calendar years to keep open: the previous, the current and the next."""
    return range(today.year - 1, today.year + 2)


def invoice_method(model: BillingModel) -> str:
    """Tryton's ``project_invoice_method`` of a canonical billing model."""
    return _INVOICE_METHODS[model]
