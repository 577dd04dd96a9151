"""Revenue leakage: value earned and not billed (DOMAIN.md §5 "Revenue leakage").

Found per project from its charges and their invoicing state:

* ``NOT_INVOICED``: billable customer charges not invoiced ``after_days`` after their bill date
  (held ones included: a hold that lingers is money that does not come in), and charges a
  person wrote off;
* ``CAP_EXCEEDED``: capped T&M overage written off (by policy or by a person), or still held
  ``CAP_REACHED`` (reported here rather than as not invoiced);
* ``BELOW_RATE_CARD``: time billed (or drawn down) at a rate below its rate card's standard
  rate: the difference x hours.

A reversal and the charge it reverses are never leakage: the work was taken back. Charges not
yet charged (approved time not posted, ``NOT_CHARGED``) are the service's to find: it knows the
approvals. Amounts are in the project's currency, rounded once per project and kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from billing_readiness.domain.lines import (
    NOTE_RETAINER_DRAWDOWN,
    ChargeLine,
    is_cap_overage,
    is_written_off,
)
from tandem_contracts import Money
from tandem_contracts.entities import ChargeSource
from tandem_contracts.events import LeakageKind

__all__ = ["ChargeView", "Leak", "find_leaks"]


class ChargeView(NamedTuple):
    """A charge with its invoicing state."""

    charge: ChargeLine
    invoiced: bool


class Leak(NamedTuple):
    """What leaks in one project, of one kind: the amount, the charges, the oldest date."""

    project_id: str
    kind: LeakageKind
    amount: Money
    item_ids: tuple[str, ...]
    oldest: date | None


def _leak(project_id: str, kind: LeakageKind, items: list[tuple[ChargeLine, Decimal]]) -> Leak:
    """A leak of ``items`` (each charge with the exact value it leaks), rounded once."""
    items.sort(key=lambda item: (item[0].bill_date, item[0].id))
    total = sum((value for _, value in items), Decimal(0))
    currency = items[0][0].amount.currency
    return Leak(
        project_id=project_id, kind=kind, amount=Money(amount=total, currency=currency),
        item_ids=tuple(c.id for c, _ in items), oldest=items[0][0].bill_date,
    )  # fmt: skip


def _below_rate(charge: ChargeLine, standard: Money | None) -> Decimal:
    """The value a time charge leaks below its standard rate (0: none, or not comparable)."""
    if standard is None or standard.currency != charge.rate.currency:
        return Decimal(0)
    if not charge.billable and charge.note != NOTE_RETAINER_DRAWDOWN:
        return Decimal(0)  # standard value only, or written off (a leak of its own)
    return max(standard.amount - charge.rate.amount, Decimal(0)) * charge.quantity


def find_leaks(
    charges: Sequence[ChargeView],
    *,
    today: date,
    after_days: int,
    standard_rates: Mapping[str, Money],
) -> list[Leak]:
    """The leaks of every project among ``charges``, by project then kind.

    ``standard_rates`` maps a time charge's id to the standard (rate-card) rate of its entry;
    charges without one are not compared. A kind with nothing (or nothing but zero) leaking
    yields no leak.
    """
    reversed_ids = {v.charge.reverses for v in charges if v.charge.reverses}
    found: dict[tuple[str, LeakageKind], list[tuple[ChargeLine, Decimal]]] = {}

    def add(charge: ChargeLine, kind: LeakageKind, value: Decimal) -> None:
        if value:
            found.setdefault((charge.project_id, kind), []).append((charge, value))

    for view in charges:
        charge = view.charge
        if charge.intercompany or charge.reverses or charge.id in reversed_ids:
            continue
        if is_cap_overage(charge) and not view.invoiced:
            add(charge, LeakageKind.CAP_EXCEEDED, charge.amount.amount)
        elif (charge.billable or is_written_off(charge)) and not view.invoiced:
            if (today - charge.bill_date).days > after_days:
                add(charge, LeakageKind.NOT_INVOICED, charge.amount.amount)
        if charge.source is ChargeSource.TIME:
            value = _below_rate(charge, standard_rates.get(charge.id))
            add(charge, LeakageKind.BELOW_RATE_CARD, value)
    order = list(LeakageKind)
    return [
        _leak(project_id, kind, items)
        for (project_id, kind), items in sorted(
            found.items(), key=lambda entry: (entry[0][0], order.index(entry[0][1]))
        )
    ]
