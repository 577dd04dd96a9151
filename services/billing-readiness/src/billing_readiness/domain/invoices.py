"""Invoice proposals: when a project's billing period may be invoiced, and with which lines.

An invoice of a period is proposed once the period has ended, nothing of it is held, every
approved entry of it is posted, the customer is known with a valid tax profile, and the PO is
there when required (DOMAIN.md §4.2, §4.6, §7). Its lines group the charges the customer reads:
time by rate (hours x rate), expenses by category, each milestone and instalment its own line.
A line's amount is the exact sum of its charges' amounts, never re-rated nor re-rounded: the
subtotal equals the sum of the charges to the cent. Tax is decided once for the invoice
(``decide_tax``) and rounded per line, the total is subtotal + tax. A reversal whose original
is in the same run cancels it (both settle, neither shows); one whose original was invoiced
before nets on its group, or is credited (``propose_credit``). Ids are derived from the charges,
so proposing the same run again is the same invoice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from billing_readiness.domain.errors import NothingToCredit
from billing_readiness.domain.lines import ChargeLine
from billing_readiness.domain.periods import period_end, period_of
from billing_readiness.domain.tax import TaxDecision, decide_tax, line_tax, tax_problem
from billing_readiness.domain.terms import BillingTerms, CustomerStanding, Policy
from tandem_connectors.ports import TaxTreatment
from tandem_contracts import Money
from tandem_contracts.entities import BillingModel, ChargeSource
from tandem_contracts.events import HoldReason

__all__ = [
    "SET_ASIDE",
    "NotReady",
    "Proposal",
    "ProposedLine",
    "intercompany_proposal",
    "netted_charge_ids",
    "propose_credit",
    "propose_invoice",
]

_EXEMPT = TaxDecision(TaxTreatment.EXEMPT, Decimal(0), None)
_HOURS = Decimal("0.0001")


class ProposedLine(NamedTuple):
    """One invoice line: ``reference`` names its charge group (``time:<rate>``,
    ``expense:<category>``, ``milestone:<id>``, ``fee:<period>``, ``reversal:<charge>``),
    ``description`` holds ids and codes only, ``amount`` is the sum of its charges."""

    reference: str
    description: str
    quantity: Decimal
    unit: str
    unit_price: Money
    amount: Money
    tax: TaxTreatment
    tax_rate_pct: Decimal
    tax_amount: Money
    charge_ids: tuple[str, ...]


class Proposal(NamedTuple):
    """An invoice (or, with ``credit_of``, a credit note) to draft in the seller's ERP.

    ``charge_ids`` are every charge it settles: its lines' and those that cancelled out."""

    invoice_id: str
    project_id: str
    customer_id: str
    seller_entity: str
    currency: str
    period: str
    invoice_date: date
    lines: tuple[ProposedLine, ...]
    subtotal: Money
    tax_total: Money
    total: Money
    charge_ids: tuple[str, ...]
    po_number: str | None
    mention: str | None
    credit_of: str | None = None


class NotReady(NamedTuple):
    """Why no invoice is proposed: codes such as ``period_open``, ``charges_held:<n>``,
    ``pending_time:<n>``, ``customer_unknown``, ``credit_hold``,
    ``tax_profile_invalid:<code>``, ``missing_po``, ``nothing_to_invoice``,
    ``negative_total``."""

    reasons: tuple[str, ...]


def _digest(*parts: str) -> str:
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:24]


def netted_charge_ids(charges: Sequence[ChargeLine]) -> frozenset[str]:
    """The charges that cancel out among ``charges``: each reversal with the charge it
    reverses, when both are there (neither is invoiced; both are settled)."""
    ids = {c.id for c in charges}
    pairs = {c.id for c in charges if c.reverses in ids}
    return frozenset(pairs | {c.reverses for c in charges if c.id in pairs and c.reverses})


def _customer_key(charge: ChargeLine) -> tuple[int, str]:
    """The line a customer charge goes on (the int orders the lines)."""
    if charge.source is ChargeSource.TIME:
        return 0, f"time:{charge.rate.amount}"
    if charge.source is ChargeSource.EXPENSE:
        return 1, f"expense:{charge.category or 'uncategorised'}"
    if charge.reverses is not None:
        return 5, f"reversal:{charge.reverses}"
    if charge.source is ChargeSource.MILESTONE:
        return 2, f"milestone:{charge.source_id}"
    if charge.source is ChargeSource.FIXED_SCHEDULE:
        return 3, f"fee:{charge.period}"
    return 4, f"{charge.source.value}:{charge.source_id}"


def _tidy(quantity: Decimal) -> Decimal:
    """A line's quantity for reading: 4 decimals at most, no trailing zeros."""
    rounded = quantity.quantize(_HOURS, rounding=ROUND_HALF_UP)
    return rounded.quantize(Decimal(1)) if rounded == rounded.to_integral() else rounded.normalize()


def _describe(reference: str, first: ChargeLine, quantity: Decimal, period: str, fee: str) -> str:
    kind, _, key = reference.partition(":")
    if kind == "time":
        return f"Professional services {quantity} h at {first.rate} ({period})"
    if kind == "expense":
        return f"Expenses {key} x {quantity} ({period})"
    if kind == "milestone":
        return f"Milestone {key}"
    if kind == "fee":
        return f"{fee} {key}"
    if kind == "reversal":
        return f"Reversal of charge {key}"
    if kind == "intercompany":
        return f"Intercompany services {period}"
    return f"Adjustment {key}"


def _lines(
    charges: Sequence[ChargeLine],
    key: Callable[[ChargeLine], tuple[int, str]],
    decision: TaxDecision,
    period: str,
    fee: str = "Fixed fee",
) -> tuple[ProposedLine, ...]:
    """The lines of ``charges`` grouped by ``key``; a group summing to zero is dropped."""
    groups: dict[tuple[int, str], list[ChargeLine]] = {}
    for charge in charges:
        groups.setdefault(key(charge), []).append(charge)
    lines = []
    for (_, reference), group in sorted(groups.items()):
        amount = group[0].amount
        for charge in group[1:]:
            amount += charge.amount
        if amount.amount == 0:
            continue
        quantity = _tidy(sum((c.quantity for c in group), Decimal(0)))
        hourly = reference.startswith(("time:", "intercompany:"))
        if hourly or not quantity:
            price = group[0].rate if hourly else amount
        else:
            price = Money(amount=amount.amount / quantity, currency=amount.currency)
        line = ProposedLine(
            reference=reference, description=_describe(reference, group[0], quantity, period, fee),
            quantity=quantity, unit="hour" if hourly else "unit", unit_price=price,
            amount=amount, tax=decision.treatment, tax_rate_pct=decision.rate_pct,
            tax_amount=line_tax(amount, decision.rate_pct),
            charge_ids=tuple(sorted(c.id for c in group)),
        )  # fmt: skip
        lines.append(line)
    return tuple(lines)


def _proposal(
    invoice_id: str, head: tuple[str, str, str, str, str], today: date,
    lines: tuple[ProposedLine, ...], charge_ids: Sequence[str], po_number: str | None,
    mention: str | None, credit_of: str | None = None,
) -> Proposal:  # fmt: skip
    """A proposal of ``lines``; ``head`` is (project, customer, seller, currency, period)."""
    project_id, customer_id, seller, currency, period = head
    subtotal = tax_total = Money(amount=Decimal(0), currency=currency)
    for line in lines:
        subtotal += line.amount
        tax_total += line.tax_amount
    return Proposal(
        invoice_id=invoice_id, project_id=project_id, customer_id=customer_id,
        seller_entity=seller, currency=currency, period=period, invoice_date=today,
        lines=lines, subtotal=subtotal, tax_total=tax_total, total=subtotal + tax_total,
        charge_ids=tuple(sorted(charge_ids)), po_number=po_number, mention=mention,
        credit_of=credit_of,
    )  # fmt: skip


def _fee_name(terms: BillingTerms) -> str:
    return "Retainer" if terms.model is BillingModel.RETAINER else "Fixed fee"


SET_ASIDE: frozenset[HoldReason] = frozenset(
    {HoldReason.CAP_REACHED, HoldReason.INTERCOMPANY_NOT_ALLOWED}
)
"""Holds on one charge that a person decides: the charge waits, the rest is invoiced."""


def propose_invoice(
    terms: BillingTerms, customer: CustomerStanding | None, seller_country: str,
    charges: Sequence[ChargeLine], *, period: str, today: date, pending_time: int,
    policy: Policy,
) -> Proposal | NotReady:  # fmt: skip
    """The customer invoice of the project's billing ``period`` (monthly), or why not yet.

    ``charges`` are the project's billable, customer-facing, not yet invoiced charges dated in
    or before ``period`` (others given are ignored). Ready when the period has ended (``today``
    after its last day), none of them is held (a charge cancelled by its reversal does not
    count), ``pending_time`` is 0, the customer is known, not on credit hold, with a valid tax
    profile, and the PO is there when required. A charge held only for a person's decision on
    it (``SET_ASIDE``: a cap overage, an intercompany pair) is left out and stays open for a
    later invoice: the work within the cap is billed while the overage waits, as a charge
    hold does in NetSuite; any other hold is the project's and holds the invoice. Nothing left
    to bill (no charge, or all cancelling out): ``nothing_to_invoice``; a total below zero:
    ``negative_total`` (credits go through ``propose_credit``). Dated ``today``.
    """
    relevant = [
        c
        for c in charges
        if c.project_id == terms.project_id
        and c.billable
        and not c.intercompany
        and c.period <= period
    ]
    netted = netted_charge_ids(relevant)
    aside = {c.id for c in relevant if c.id not in netted and c.holds and c.holds <= SET_ASIDE}
    relevant = [c for c in relevant if c.id not in aside]
    live = [c for c in relevant if c.id not in netted]
    fee = _fee_name(terms)
    if not _lines(live, _customer_key, _EXEMPT, period, fee):
        return NotReady(("nothing_to_invoice",))
    reasons = []
    if today <= period_end(period):
        reasons.append("period_open")
    held = sum(1 for c in live if c.holds)
    if held:
        reasons.append(f"charges_held:{held}")
    if pending_time > 0:
        reasons.append(f"pending_time:{pending_time}")
    if customer is None:
        reasons.append("customer_unknown")
    else:
        if customer.on_credit_hold:
            reasons.append("credit_hold")
        problem = tax_problem(seller_country, customer)
        if problem is not None:
            reasons.append(f"tax_profile_invalid:{problem}")
    if policy.require_po and not (terms.po_number or "").strip():
        reasons.append("missing_po")
    if reasons or customer is None:
        return NotReady(tuple(reasons))
    decision = decide_tax(seller_country, customer)
    lines = _lines(live, _customer_key, decision, period, fee)
    ids = [c.id for c in relevant]
    head = (terms.project_id, terms.customer_id, terms.legal_entity_id, terms.currency, period)
    invoice_id = "inv-" + _digest("invoice", terms.project_id, period, *sorted(ids))
    proposal = _proposal(invoice_id, head, today, lines, ids, terms.po_number, decision.mention)
    if proposal.total.amount < 0:
        return NotReady(("negative_total",))
    return proposal


def propose_credit(
    original_invoice_id: str, terms: BillingTerms, customer: CustomerStanding,
    seller_country: str, reversals: Sequence[ChargeLine], *, today: date,
) -> Proposal:  # fmt: skip
    """A credit note for reversals of charges invoiced on ``original_invoice_id``: the same
    grouping and tax as an invoice, negative amounts, ``credit_of`` the original, its id
    derived from the reversals'. Raises ``NothingToCredit`` when nothing is left to credit."""
    decision = decide_tax(seller_country, customer)
    period = period_of(today)
    lines = _lines(reversals, _customer_key, decision, period, _fee_name(terms))
    if not lines:
        raise NothingToCredit(original_invoice_id)
    ids = [c.id for c in reversals]
    head = (terms.project_id, terms.customer_id, terms.legal_entity_id, terms.currency, period)
    invoice_id = "inv-" + _digest("credit", original_invoice_id, *sorted(ids))
    return _proposal(
        invoice_id, head, today, lines, ids, terms.po_number, decision.mention,
        credit_of=original_invoice_id,
    )  # fmt: skip


def _intercompany_key(charge: ChargeLine) -> tuple[int, str]:
    return 0, f"intercompany:{charge.project_id}:{charge.rate.amount}"


def intercompany_proposal(
    seller_entity: str, buyer_entity: str, currency: str, charges: Sequence[ChargeLine], *,
    period: str, today: date,
) -> Proposal | NotReady:  # fmt: skip
    """The intercompany invoice of an entity pair for ``period``: its intercompany charges in
    ``currency`` dated in or before the period and not held, one line per project and rate
    (hours, "Intercompany services <period>"). EXEMPT at 0: a documented simplification (the
    ERP's intercompany tax rules apply when it posts). The buyer is ``entity:<buyer>``, the
    project ``intercompany:<seller>:<buyer>`` (the invoice spans the pair's projects)."""
    relevant = [
        c
        for c in charges
        if c.intercompany
        and (c.seller_entity, c.buyer_entity) == (seller_entity, buyer_entity)
        and c.amount.currency == currency
        and c.period <= period
    ]
    netted = netted_charge_ids(relevant)
    live = [c for c in relevant if c.id not in netted and not c.holds]
    if today <= period_end(period):
        return NotReady(("period_open",))
    lines = _lines(live, _intercompany_key, _EXEMPT, period)
    if not lines:
        return NotReady(("nothing_to_invoice",))
    ids = sorted(netted) + [c.id for c in live]
    project = f"intercompany:{seller_entity}:{buyer_entity}"
    head = (project, f"entity:{buyer_entity}", seller_entity, currency, period)
    invoice_id = "inv-" + _digest("intercompany", seller_entity, buyer_entity, period, *sorted(ids))
    proposal = _proposal(invoice_id, head, today, lines, ids, None, None)
    if proposal.total.amount < 0:
        return NotReady(("negative_total",))
    return proposal
