"""The charge row (``ChargeLine``), its deterministic id, and the sums kept over charges.

A charge's id is derived from its source, source id and part, so charging the same entry
again — a redelivered message, a restart mid-run — is the same row, never a second one. A
posted charge is never edited (DOMAIN.md §4.2): ``reverse_charge`` cancels it with a negative
charge, which nets on the next invoice when the original was not invoiced and becomes a credit
note when it was. ``cap_usage`` and ``ledger_of`` are what a capped or retainer project has
used so far: the service keeps the same sums in SQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from billing_readiness.domain.periods import period_of
from tandem_contracts import Money
from tandem_contracts.entities import ChargeSource
from tandem_contracts.events import HoldReason

__all__ = [
    "NOTE_BEYOND_RETAINER",
    "NOTE_CAP_HELD",
    "NOTE_CAP_WRITTEN_OFF",
    "NOTE_RETAINER_DRAWDOWN",
    "ChargeLine",
    "Ledger",
    "cap_usage",
    "charge_id",
    "is_cap_overage",
    "is_written_off",
    "ledger_of",
    "reverse_charge",
]

NOTE_CAP_HELD = "cap overage held"
"""The note of a capped T&M overage held ``CAP_REACHED`` for a person to approve."""
NOTE_CAP_WRITTEN_OFF = "cap overage written off"
"""The note of an overage the policy writes off at once (not billable)."""
NOTE_RETAINER_DRAWDOWN = "retainer drawdown"
"""The note of time drawn down against a retainer (counted, not invoiced)."""
NOTE_BEYOND_RETAINER = "beyond retainer"
"""The note of time beyond a retainer's balance (billable T&M)."""

_CAPPED_SOURCES = frozenset({ChargeSource.TIME, ChargeSource.EXPENSE})


class ChargeLine(NamedTuple):
    """A charge as billing-readiness keeps it (one row).

    ``quantity``: hours for time (minutes / 60, exact up to the decimal context, never
    rounded), 1 otherwise; the parts of an entry split at a cap or a retainer share it pro
    rata. ``rate``: the bill rate per hour for time, the unit amount otherwise. ``amount`` is
    rounded once to the currency's minor unit. ``billable`` False: counted (standard value,
    drawdown, write-off) but never invoiced. ``source_id`` is the time entry, expense or
    milestone id, or ``{project}:{period}`` for a schedule instalment. ``category`` is an
    expense's category: invoice lines group expenses by it.
    """

    id: str
    project_id: str
    source: ChargeSource
    source_id: str
    quantity: Decimal
    rate: Money
    amount: Money
    bill_date: date
    period: str
    billable: bool
    holds: frozenset[HoldReason]
    intercompany: bool = False
    seller_entity: str | None = None
    buyer_entity: str | None = None
    reverses: str | None = None
    note: str | None = None
    category: str | None = None


class Ledger(NamedTuple):
    """What the project has been charged so far (the service reads it from its tables).

    ``billed_within_cap``: billable, customer-facing, not written-off time and expense amounts,
    reversals included (``cap_usage``); ``retainer_drawn``: time amounts drawn down against a
    retainer, reversals included."""

    billed_within_cap: Money
    retainer_drawn: Money


def charge_id(source: ChargeSource, source_id: str, part: str = "") -> str:
    """The deterministic id of a charge: ``chg-`` and 24 hex digits of the sha256 of
    ``{source}:{source_id}:{part}`` (part ``""``, ``overage``, ``beyond-retainer``,
    ``intercompany``, ``reversal:<charge id>``)."""
    digest = hashlib.sha256(f"{source.value}:{source_id}:{part}".encode()).hexdigest()
    return f"chg-{digest[:24]}"


def reverse_charge(original: ChargeLine, *, reversal_source_id: str, on: date) -> ChargeLine:
    """A negative charge cancelling ``original``, dated ``on``.

    Same source, billable flag, intercompany fields, rate, note and category; quantity and
    amount negated; no holds; ``reverses`` = the original's id. Its id's part is
    ``reversal:<original id>``, so one reversal source (a reversed time entry) cancelling
    several charges (within cap, overage, intercompany) gives each its own reversal. Whether
    it is credited or netted on the next invoice is the caller's: it knows whether the
    original was invoiced.
    """
    return original._replace(
        id=charge_id(original.source, reversal_source_id, f"reversal:{original.id}"),
        source_id=reversal_source_id, quantity=-original.quantity, amount=-original.amount,
        bill_date=on, period=period_of(on), holds=frozenset(), reverses=original.id,
    )  # fmt: skip


def is_cap_overage(line: ChargeLine) -> bool:
    """Whether ``line`` is a capped T&M overage still beyond the cap: written off (by policy
    or by a person), or held ``CAP_REACHED``; an approved overage is billed like any charge.
    Recognised by its id (the ``overage`` part of its source), whatever its note says."""
    if line.id != charge_id(line.source, line.source_id, "overage"):
        return False
    return not line.billable or HoldReason.CAP_REACHED in line.holds


def is_written_off(line: ChargeLine) -> bool:
    """Whether ``line`` was written off: not billable, its note saying so (the policy's
    ``NOTE_CAP_WRITTEN_OFF``, or a person's "written off by ...")."""
    return not line.billable and line.note is not None and "written off" in line.note


def _counts_against_cap(line: ChargeLine) -> bool:
    return (
        line.billable
        and not line.intercompany
        and line.source in _CAPPED_SOURCES
        and line.note != NOTE_CAP_WRITTEN_OFF
    )


def _sum(amounts: Iterable[Money], currency: str | None) -> Money:
    total: Money | None = None
    for amount in amounts:
        total = amount if total is None else total + amount
    if total is not None:
        return total
    if currency is None:
        raise ValueError("no charge to sum: pass the project's currency")
    return Money(amount=Decimal(0), currency=currency)


def cap_usage(charges: Iterable[ChargeLine], currency: str | None = None) -> Money:
    """The sum counted against a cap: billable, customer-facing time and expense charges, not
    written off, reversals included. ``currency`` answers zero when none counts."""
    return _sum((c.amount for c in charges if _counts_against_cap(c)), currency)


def ledger_of(charges: Iterable[ChargeLine], currency: str) -> Ledger:
    """The ``Ledger`` of a project's charges: its cap usage and its retainer drawdown."""
    charges = list(charges)
    drawn = (
        c.amount
        for c in charges
        if not c.billable and not c.intercompany and c.note == NOTE_RETAINER_DRAWDOWN
    )
    return Ledger(cap_usage(charges, currency), _sum(drawn, currency))
