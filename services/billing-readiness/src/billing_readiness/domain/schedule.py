"""Charges that do not come from posted work: milestones and fixed-fee or retainer schedules.

A milestone bills when its trigger fires (DOMAIN.md §2.3 ``Milestone``): on completion, on
approval for billing, or on its date. A fixed fee bills in equal monthly instalments over the
contract's months, the last absorbing the rounding so that the instalments sum exactly to the
fee; a retainer bills its amount once, in its first month. A fixed-fee or retainer project's
milestones are delivery markers: its schedule is what bills, so they charge nothing.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, Decimal

from billing_readiness.domain.errors import CurrencyMismatch, MilestoneUndated
from billing_readiness.domain.lines import ChargeLine, charge_id
from billing_readiness.domain.periods import month_end, months, period_of
from billing_readiness.domain.terms import BillingTerms
from tandem_contracts import Money, minor_unit
from tandem_contracts.entities import (
    BillingModel,
    ChargeSource,
    Milestone,
    MilestoneStatus,
    MilestoneTrigger,
)
from tandem_contracts.events import HoldReason

__all__ = ["charge_instalment", "charge_milestone", "fixed_fee_schedule"]

_SCHEDULED = frozenset({BillingModel.FIXED_FEE, BillingModel.RETAINER})
_APPROVED = frozenset({MilestoneStatus.APPROVED_FOR_BILLING, MilestoneStatus.BILLED})
_COMPLETED = _APPROVED | {MilestoneStatus.COMPLETED}


def _due(milestone: Milestone) -> bool:
    """Whether the milestone's trigger has fired (a billed one fired before it was billed)."""
    if milestone.billing_trigger is MilestoneTrigger.ON_COMPLETION:
        return milestone.status in _COMPLETED
    if milestone.billing_trigger is MilestoneTrigger.ON_APPROVAL:
        return milestone.status in _APPROVED
    return (milestone.actual_date or milestone.planned_date) is not None


def charge_milestone(
    milestone: Milestone,
    terms: BillingTerms,
    standing: frozenset[HoldReason],
    *,
    on: date | None = None,
) -> list[ChargeLine]:
    """The charge of a milestone whose trigger fired, else ``[]``.

    ``on_completion``: completed or approved for billing; ``on_approval``: approved for
    billing only; ``on_date``: once it has an actual or planned date. Dated at the actual date,
    else the planned date, else ``on`` (the day the trigger was seen); none of them raises
    ``MilestoneUndated``. The amount is the milestone's, billable, with the standing holds.
    Fixed-fee and retainer projects answer ``[]``: their schedule bills.
    """
    if terms.model in _SCHEDULED or not _due(milestone):
        return []
    day = milestone.actual_date or milestone.planned_date or on
    if day is None:
        raise MilestoneUndated(milestone.id)
    amount = milestone.amount
    if amount.currency != terms.currency:
        raise CurrencyMismatch(milestone.id, amount.currency, terms.currency)
    line = ChargeLine(
        id=charge_id(ChargeSource.MILESTONE, milestone.id), project_id=milestone.project_id,
        source=ChargeSource.MILESTONE, source_id=milestone.id, quantity=Decimal(1),
        rate=amount, amount=amount, bill_date=day, period=period_of(day), billable=True,
        holds=standing,
    )  # fmt: skip
    return [line]


def fixed_fee_schedule(terms: BillingTerms) -> list[tuple[str, date, Money]]:
    """The instalments (period, bill date, amount) of a fixed fee or a retainer.

    ``FIXED_FEE``: ``total_value`` in equal monthly instalments over the months ``start`` to
    ``end`` (inclusive; ``end`` None: one month), each rounded down to the minor unit and the
    last absorbing the remainder, so that they sum exactly to ``total_value`` and the last is
    never the smaller; billed on the last day of each month. ``RETAINER``: one instalment of
    ``total_value`` on ``start``. Other models, or no start or value: none.
    """
    start, total = terms.start, terms.total_value
    if start is None or total is None or terms.model not in _SCHEDULED:
        return []
    if terms.model is BillingModel.RETAINER:
        return [(period_of(start), start, total)]
    firsts = months(start, terms.end or start)
    quantum = Decimal(1).scaleb(-minor_unit(total.currency))
    each = (total.amount / len(firsts)).quantize(quantum, rounding=ROUND_DOWN)
    last = total.amount - each * (len(firsts) - 1)
    amounts = [each] * (len(firsts) - 1) + [last]
    return [
        (period_of(first), month_end(first), Money(amount=amount, currency=total.currency))
        for first, amount in zip(firsts, amounts, strict=True)
    ]


def charge_instalment(
    terms: BillingTerms,
    period: str,
    bill_date: date,
    amount: Money,
    standing: frozenset[HoldReason],
) -> ChargeLine:
    """The ``FIXED_SCHEDULE`` charge of one instalment (source id ``{project}:{period}``):
    billable, quantity 1, with the standing holds."""
    source_id = f"{terms.project_id}:{period}"
    return ChargeLine(
        id=charge_id(ChargeSource.FIXED_SCHEDULE, source_id), project_id=terms.project_id,
        source=ChargeSource.FIXED_SCHEDULE, source_id=source_id, quantity=Decimal(1),
        rate=amount, amount=amount, bill_date=bill_date, period=period, billable=True,
        holds=standing,
    )  # fmt: skip
