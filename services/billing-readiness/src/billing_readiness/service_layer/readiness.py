"""Invoice readiness: the scheduled pass that proposes the invoices of ended billing periods.

For each project with open billable charges of an ended month, one transaction decides:
the customer invoice of everything open up to the latest ended period (``propose_invoice``:
no charge held, no approved time still unposted, the customer known and fit to invoice, a PO
where one is required; the project's holds restated first, so that none a race left out is
missed), and a credit note for each posted invoice some of whose charges were
reversed since. A proposal is recorded, its charges marked as on it, and ``InvoiceReady``
published in the same transaction — the consumer then writes it to the ERP. Invoices are
monthly per project (the contracts' invoice frequency and grouping are not modelled yet).
Intercompany charges are kept and reported, not invoiced here (see the README).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date
from decimal import Decimal

from billing_readiness.domain import (
    ChargeLine,
    NotReady,
    Proposal,
    intercompany_proposal,
    propose_credit,
    propose_invoice,
)
from billing_readiness.service_layer.dependencies import Dependencies
from billing_readiness.service_layer.invoicing import tax_code
from billing_readiness.service_layer.standing import in_transaction, restate
from billing_readiness.service_layer.unit_of_work import AbstractUnitOfWork, KnownProject
from tandem_contracts import Envelope, Producer
from tandem_contracts.entities import FxUsed, InvoiceLine
from tandem_contracts.events import InvoiceReady

__all__ = ["Outcome", "period_of", "propose_ready", "ready_event"]

_SCAN = 500
_TEN = Decimal("0.0000000001")  # an FX rate's places on the wire
_SIX = Decimal("0.000001")  # a line's quantity on the wire (its amount is exact)
Outcome = dict[str, tuple[str, ...]]
"""Per project: the invoice ids proposed, or why it is not ready."""


def period_of(on: date) -> str:
    """The billing period (month) of a date."""
    return f"{on.year:04d}-{on.month:02d}"


def _end_of(period: str) -> date:
    year, month = int(period[:4]), int(period[5:])
    return date(year, month, calendar.monthrange(year, month)[1])


async def propose_ready(deps: Dependencies, *, service: str) -> Outcome:
    """Propose every invoice that is ready now; answer what each project came to."""
    today = deps.clock().date()
    current = period_of(today)
    outcome: Outcome = {}
    after = ""
    while True:  # a page of projects at a time, each proposed in its own transaction
        async with deps.transactions() as uow:
            projects = await uow.charges.projects_to_invoice(current, _SCAN, after=after)
        for project_id in projects:
            async with deps.transactions() as uow:
                outcome[project_id] = await _propose(uow, deps, project_id, today, service)
        if len(projects) < _SCAN:
            return outcome
        after = projects[-1]


async def _propose(
    uow: AbstractUnitOfWork, deps: Dependencies, project_id: str, today: date, service: str
) -> tuple[str, ...]:
    known = await uow.projects.get(project_id)
    if known is None:
        return ("project_unknown",)
    seller_country = deps.settings.country_of(known.terms.legal_entity_id) or ""
    # The holds as the standing says now, whatever raced before: no invoice goes past one.
    announce = in_transaction(uow, deps.settings, known, service)
    await restate(uow, announce, project_id, deps)
    records = await uow.charges.open_of_project(project_id)
    customer = await uow.customers.standing(known.terms.customer_id)
    credits: dict[str, list[ChargeLine]] = defaultdict(list)
    billable: list[ChargeLine] = []
    intercompany: list[ChargeLine] = []
    for record in records:
        line = record.line
        if not line.billable:
            continue
        if line.intercompany:
            intercompany.append(line)
            continue
        invoiced_on = await uow.invoices.of_charge(line.reverses) if line.reverses else None
        if invoiced_on is not None:
            credits[invoiced_on].append(line)
        else:
            billable.append(line)
    proposed: list[str] = []
    reasons: list[str] = []
    ended = sorted({c.period for c in billable if c.period < period_of(today)})
    if ended:
        period = ended[-1]
        pending, _ = await uow.pending.counts(project_id, _end_of(period))
        decided = propose_invoice(
            known.terms, customer, seller_country, [c for c in billable if c.period <= period],
            period=period, today=today, pending_time=pending, policy=deps.policy,
        )  # fmt: skip
        if isinstance(decided, NotReady):
            reasons.extend(decided.reasons)
        else:
            await _record(uow, deps, known, decided, service)
            proposed.append(decided.invoice_id)
    proposed.extend(await _propose_intercompany(uow, deps, known, intercompany, today, service))
    for original, reversals in sorted(credits.items()):
        invoice = await uow.invoices.get(original)
        if invoice is None or invoice.status != "posted" or customer is None:
            reasons.append(f"credit_waits_for:{original}")
            continue
        credit = propose_credit(
            original, known.terms, customer, seller_country, reversals, today=today
        )
        await _record(uow, deps, known, credit, service)
        proposed.append(credit.invoice_id)
    return tuple(proposed) or tuple(reasons)


async def _propose_intercompany(
    uow: AbstractUnitOfWork,
    deps: Dependencies,
    known: KnownProject,
    charges: list[ChargeLine],
    today: date,
    service: str,
) -> list[str]:
    """The project's intercompany invoices of ended periods: one per entity pair and
    currency, from the worker's entity (the seller) to the project's (the buyer)."""
    current = period_of(today)
    ended = [c for c in charges if c.period < current and c.seller_entity and c.buyer_entity]
    pairs = sorted(
        {(c.seller_entity or "", c.buyer_entity or "", c.amount.currency) for c in ended}
    )
    proposed = []
    for seller, buyer, currency in pairs:
        period = max(
            c.period for c in ended if (c.seller_entity, c.buyer_entity) == (seller, buyer)
        )
        decided = intercompany_proposal(seller, buyer, currency, ended, period=period, today=today)
        if isinstance(decided, Proposal):
            # One per project: the invoice names the project whose work it bills.
            proposal = decided._replace(project_id=known.terms.project_id)
            await _record(uow, deps, known, proposal, service)
            proposed.append(proposal.invoice_id)
    return proposed


async def _record(
    uow: AbstractUnitOfWork,
    deps: Dependencies,
    known: KnownProject,
    proposal: Proposal,
    service: str,
) -> None:
    event = ready_event(proposal, known, await _fx(uow, deps, proposal))
    if not await uow.invoices.propose(proposal, event.model_dump(mode="json")):
        return
    await uow.charges.invoiced(proposal.charge_ids, proposal.invoice_id)
    entity = proposal.seller_entity
    own = entity == known.terms.legal_entity_id
    region = known.region if own else deps.settings.region_of(entity)
    await uow.publish(
        Envelope.new(
            event, producer=Producer(service=service), tenant_id=deps.settings.tenant_id,
            legal_entity_id=entity, data_residency_region=region,
            correlation_id=known.correlation_id or proposal.project_id, subject_version=1,
            idempotency_key=f"InvoiceReady:{proposal.invoice_id}",
        )
    )  # fmt: skip


async def _fx(uow: AbstractUnitOfWork, deps: Dependencies, proposal: Proposal) -> FxUsed | None:
    """The rate from the invoice's currency to its seller's functional currency at the invoice
    date (AR converts at the invoice date, DOMAIN.md §7.4), when they differ and a published
    rate is known (the ERP converts in any case; this is what Tandem expects it to use)."""
    functional = deps.settings.entity_currencies.get(proposal.seller_entity)
    if functional is None or functional == proposal.currency:
        return None
    rate = await uow.fx_rates.on(proposal.currency, functional, proposal.invoice_date)
    if rate is None:
        return None
    value = rate.rate if rate.base == proposal.currency else (1 / rate.rate).quantize(_TEN)
    return FxUsed(rate_id=rate.id, rate=value, rate_date=rate.effective_date)


def ready_event(proposal: Proposal, known: KnownProject, fx: FxUsed | None = None) -> InvoiceReady:
    """The ``InvoiceReady`` of a proposal (with the FX rate at its invoice date, if any)."""
    lines = tuple(
        InvoiceLine(
            description=line.description, quantity=line.quantity.quantize(_SIX), uom=line.unit,
            unit_price=line.unit_price, amount=line.amount,
            tax_code=tax_code(line.tax, line.tax_rate_pct), tax_amount=line.tax_amount,
            project_id=proposal.project_id, charge_ids=line.charge_ids,
        )
        for line in proposal.lines
    )  # fmt: skip
    return InvoiceReady(
        invoice_id=proposal.invoice_id, project_id=proposal.project_id,
        contract_id=known.terms.contract_id, customer_id=proposal.customer_id,
        billing_period=proposal.period, currency=proposal.currency,
        po_number=proposal.po_number, lines=lines, subtotal=proposal.subtotal,
        charge_ids=proposal.charge_ids, seller_legal_entity_id=proposal.seller_entity,
        invoice_date=proposal.invoice_date, tax_total_hint=proposal.tax_total,
        credit_of=proposal.credit_of, fx=fx,
    )  # fmt: skip
