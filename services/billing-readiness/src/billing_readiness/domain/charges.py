"""Charges: what posted time, posted expenses, milestones and fee schedules are worth to the
customer, per billing model (DOMAIN.md §2.5 ``Charge``, §4.2, §4.5).

A charge is money in the project's currency, rounded once to the currency's minor unit at the
end of the computation (minutes x rate / 60, never hours rounded first). Its id is derived from
its source, so charging the same entry twice is the same row. Per model:

* time and materials: the entry at its frozen bill rate, billable;
* capped T&M: the part within the cap's remaining room billable, the overage a second charge,
  held ``CAP_REACHED`` for a person to approve or written off, per policy;
* retainer: time draws the retainer down (counted, not invoiced: the retainer instalment is),
  the part beyond it billable;
* fixed fee and milestone: time is standard value only (work-in-progress and realization), the
  fee schedule or the milestones are what is invoiced.

Time of a worker employed by another legal entity also yields an intercompany charge between
the two entities at cost x markup (§4.5); the customer is invoiced by the project's entity only.
A posted entry is never edited: a reversal is a negative charge (``reverse_charge``). The row
itself and the sums over it are in ``lines``, milestones and fee schedules in ``schedule``;
this module re-exports them.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import NamedTuple

from billing_readiness.domain.errors import CurrencyMismatch, MissingRate
from billing_readiness.domain.lines import (
    NOTE_BEYOND_RETAINER,
    NOTE_CAP_HELD,
    NOTE_CAP_WRITTEN_OFF,
    NOTE_RETAINER_DRAWDOWN,
    ChargeLine,
    Ledger,
    cap_usage,
    charge_id,
    is_cap_overage,
    is_written_off,
    ledger_of,
    reverse_charge,
)
from billing_readiness.domain.periods import period_of
from billing_readiness.domain.schedule import (
    charge_instalment,
    charge_milestone,
    fixed_fee_schedule,
)
from billing_readiness.domain.terms import BillingTerms, Policy
from tandem_contracts import Money
from tandem_contracts.entities import BillingModel, ChargeSource
from tandem_contracts.events import HoldReason

__all__ = [
    "NOTE_BEYOND_RETAINER",
    "NOTE_CAP_HELD",
    "NOTE_CAP_WRITTEN_OFF",
    "NOTE_RETAINER_DRAWDOWN",
    "ChargeLine",
    "Ledger",
    "PostedExpense",
    "PostedTime",
    "cap_usage",
    "charge_expense",
    "charge_id",
    "charge_instalment",
    "charge_milestone",
    "charge_time",
    "fixed_fee_schedule",
    "is_cap_overage",
    "is_written_off",
    "ledger_of",
    "reverse_charge",
]

_NONE: frozenset[HoldReason] = frozenset()
_STANDARD_VALUE_ONLY = frozenset({BillingModel.FIXED_FEE, BillingModel.MILESTONE})


class PostedTime(NamedTuple):
    """The facts of one ``TimePosted`` a charge needs (rates and amounts frozen at approval,
    in the project currency; ``cost_amount`` in the worker entity's)."""

    time_entry_id: str
    project_id: str
    worker_id: str
    work_date: date
    accounting_date: date
    minutes: int
    billable: bool
    bill_rate: Money | None
    bill_amount: Money | None
    cost_amount: Money | None
    worker_entity: str | None
    project_entity: str | None


class PostedExpense(NamedTuple):
    """The facts of one ``ExpensePosted``: ``amount`` in the project currency (the project
    amount when converted), ``markup`` 1 when none."""

    expense_id: str
    project_id: str
    expense_date: date
    amount: Money
    billable: bool
    markup: Decimal
    category: str | None


class _Item(NamedTuple):
    """What every charge of one source item shares."""

    project_id: str
    source: ChargeSource
    source_id: str
    bill_date: date
    category: str | None = None

    def line(
        self, part: str, quantity: Decimal, rate: Money, amount: Money, *, billable: bool,
        holds: frozenset[HoldReason] = _NONE, note: str | None = None,
    ) -> ChargeLine:  # fmt: skip
        return ChargeLine(
            id=charge_id(self.source, self.source_id, part), project_id=self.project_id,
            source=self.source, source_id=self.source_id, quantity=quantity, rate=rate,
            amount=amount, bill_date=self.bill_date, period=period_of(self.bill_date),
            billable=billable, holds=holds if billable else _NONE, note=note,
            category=self.category,
        )  # fmt: skip


def _zero(currency: str) -> Money:
    return Money(amount=Decimal(0), currency=currency)


def _check_currency(item_id: str, money: Money, terms: BillingTerms) -> None:
    if money.currency != terms.currency:
        raise CurrencyMismatch(item_id, money.currency, terms.currency)


def _split(amount: Money, room: Money) -> tuple[Money, Money]:
    """The part of ``amount`` within ``room`` (none when the room is used up) and the rest."""
    if room.amount <= 0:
        within = _zero(amount.currency)
    else:
        within = amount if amount.amount <= room.amount else room
    return within, amount - within


def _divided(
    item: _Item, quantity: Decimal, rate: Money, amount: Money, room: Money,
    within: tuple[bool, frozenset[HoldReason], str | None],
    beyond: tuple[str, bool, frozenset[HoldReason], str | None],
) -> list[ChargeLine]:  # fmt: skip
    """``amount`` cut at ``room``: the part within (part ``""``) and the part beyond (its own
    part name), each with its billable flag, holds and note, the quantity shared pro rata. An
    amount that fits takes no second charge; one entirely beyond takes only the second."""
    inside, outside = _split(amount, room)
    billable, holds, note = within
    if outside.amount == 0:
        return [item.line("", quantity, rate, amount, billable=billable, holds=holds, note=note)]
    share = quantity * inside.amount / amount.amount if amount.amount else quantity
    lines = []
    if inside.amount != 0:
        lines.append(item.line("", share, rate, inside, billable=billable, holds=holds, note=note))
    part, billable, holds, note = beyond
    lines.append(
        item.line(part, quantity - share, rate, outside, billable=billable, holds=holds, note=note)
    )
    return lines


def _customer_lines(
    item: _Item, quantity: Decimal, rate: Money, amount: Money, terms: BillingTerms,
    ledger: Ledger, policy: Policy, standing: frozenset[HoldReason], *, drawdown: bool,
) -> list[ChargeLine]:  # fmt: skip
    """The customer charges of one billable item under the project's model."""
    if terms.model is BillingModel.CAPPED_TM and terms.cap is not None:
        _check_currency(item.source_id, terms.cap, terms)
        if policy.overage == "hold":
            over = ("overage", True, standing | {HoldReason.CAP_REACHED}, NOTE_CAP_HELD)
        else:
            over = ("overage", False, _NONE, NOTE_CAP_WRITTEN_OFF)
        room = terms.cap - ledger.billed_within_cap
        return _divided(item, quantity, rate, amount, room, (True, standing, None), over)
    if terms.model is BillingModel.RETAINER and drawdown:
        value = terms.total_value or _zero(terms.currency)
        room = value - ledger.retainer_drawn
        beyond = ("beyond-retainer", True, standing, NOTE_BEYOND_RETAINER)
        within = (False, _NONE, NOTE_RETAINER_DRAWDOWN)
        return _divided(item, quantity, rate, amount, room, within, beyond)
    return [item.line("", quantity, rate, amount, billable=True, holds=standing)]


def _priced(time: PostedTime, hours: Decimal) -> tuple[Money, Money] | None:
    """(rate, amount) of an entry: minutes x rate / 60 rounded once; from the frozen amount
    when there is no rate; None when it has neither."""
    if time.bill_rate is not None:
        exact = time.minutes * time.bill_rate.amount / 60
        return time.bill_rate, Money(amount=exact, currency=time.bill_rate.currency)
    if time.bill_amount is not None:
        amount = time.bill_amount
        rate = Money(amount=amount.amount / hours, currency=amount.currency) if hours else amount
        return rate, amount
    return None


def charge_time(
    time: PostedTime, terms: BillingTerms, ledger: Ledger, policy: Policy,
    standing: frozenset[HoldReason],
) -> list[ChargeLine]:  # fmt: skip
    """The charges of one posted (non-reversal) time entry.

    The customer charge follows the model (module docstring); a non-billable entry, or any
    entry of a fixed-fee or milestone project, is one non-billable charge of standard value.
    A billable entry with neither rate nor amount raises ``MissingRate``: it is never charged
    at a guessed price (a non-billable one is counted at zero). When the worker's and the
    project's entities differ and the entry has a cost, an intercompany charge (part
    ``intercompany``) is added: cost x markup, seller the worker's entity, held
    ``INTERCOMPANY_NOT_ALLOWED`` unless the pair is allowed. Dated at the accounting date
    (late time bills in the period it was posted to).
    """
    hours = Decimal(time.minutes) / 60
    priced = _priced(time, hours)
    if priced is None and time.billable:
        raise MissingRate(time.time_entry_id)
    rate, amount = priced or (_zero(terms.currency), _zero(terms.currency))
    _check_currency(time.time_entry_id, amount, terms)
    item = _Item(time.project_id, ChargeSource.TIME, time.time_entry_id, time.accounting_date)
    if not time.billable or terms.model in _STANDARD_VALUE_ONLY:
        lines = [item.line("", hours, rate, amount, billable=False)]
    else:
        lines = _customer_lines(
            item, hours, rate, amount, terms, ledger, policy, standing, drawdown=True
        )
    return lines + _intercompany(item, time, hours, policy)


def _intercompany(
    item: _Item, time: PostedTime, hours: Decimal, policy: Policy
) -> list[ChargeLine]:
    seller, buyer = time.worker_entity, time.project_entity
    if not seller or not buyer or seller == buyer or time.cost_amount is None:
        return []
    cost, markup = time.cost_amount, policy.intercompany_markup
    amount = cost.times(markup)
    rate = Money(amount=cost.amount * markup / hours, currency=cost.currency) if hours else amount
    allowed = (seller, buyer) in policy.intercompany_pairs
    holds = _NONE if allowed else frozenset({HoldReason.INTERCOMPANY_NOT_ALLOWED})
    line = item.line("intercompany", hours, rate, amount, billable=True)
    return [line._replace(holds=holds, intercompany=True, seller_entity=seller, buyer_entity=buyer)]


def charge_expense(
    expense: PostedExpense, terms: BillingTerms, ledger: Ledger, policy: Policy,
    standing: frozenset[HoldReason],
) -> list[ChargeLine]:  # fmt: skip
    """The charges of one posted expense: amount x markup rounded once, quantity 1, rate the
    marked-up amount. A billable expense is rebilled under every model (fixed-fee and
    milestone projects too) and counts against a cap like time (split, overage held or
    written off); it does not draw a retainer down. Not billable: one non-billable charge."""
    amount = expense.amount.times(expense.markup)
    _check_currency(expense.expense_id, amount, terms)
    item = _Item(
        expense.project_id, ChargeSource.EXPENSE, expense.expense_id, expense.expense_date,
        expense.category,
    )  # fmt: skip
    if not expense.billable:
        return [item.line("", Decimal(1), amount, amount, billable=False)]
    return _customer_lines(
        item, Decimal(1), amount, amount, terms, ledger, policy, standing, drawdown=False
    )
