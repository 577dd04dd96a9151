"""``InvoiceReady`` into the ERP: a draft customer invoice (or credit note), then posted.

The invoice is written under its own id as the idempotency key: a redelivery after a crash
between drafting and posting finds the draft (or the posted invoice) instead of making a
second one, and posting a posted invoice answers it unchanged. Taxes are the ERP's: each line
carries the treatment and rate billing-readiness decided from the customer's tax profile, and
the ERP computes the amounts; its totals are kept beside the expected ones, which
reconciliation compares. An ERP outage holds the lane (the runtime pauses and probes) and the
invoices drain in order once it is back; a closed period or a refusal parks the invoice for
finance with its reason. ``InvoicePosted`` (``InvoiceCredited`` for a credit note) carries the
number the ERP minted. Each invoice commits on its own (``alone``), as soon as the ERP posted
it: in a lane's batch, the invoices posted first would wait uncommitted, unannounced, for the
slowest of the batch.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from billing_readiness.service_layer.dependencies import Dependencies
from billing_readiness.service_layer.keys import waiting_for_project
from billing_readiness.service_layer.unit_of_work import AbstractUnitOfWork
from tandem_connectors.directory import ErpTarget, company_key
from tandem_connectors.ports import (
    CustomerInvoice,
    ErpInvoice,
    ErpObject,
    InvoiceLineRequest,
    TaxTreatment,
)
from tandem_contracts import Envelope, SystemKind
from tandem_contracts.entities import Customer, Invoice, InvoiceLine, InvoiceStatus, TaxProfile
from tandem_contracts.events import InvoiceCredited, InvoicePosted, InvoiceReady
from tandem_messaging import DependencyMissing, HandlerContext, PermanentError, Router

__all__ = ["ENTITY_PREFIX", "customer_key", "handlers", "tax_code", "treatment_of"]

ENTITY_PREFIX = "entity:"
"""The customer id of an intercompany invoice: ``entity:<buyer legal entity>``."""

handlers = Router()


def customer_key(customer_id: str) -> str:
    """Released when the customer's ERP id is known (``CustomerLinked``)."""
    return f"customer-in-erp:{customer_id}"


def tax_code(treatment: TaxTreatment, rate_pct: Decimal) -> str:
    """An invoice line's ``tax_code`` on the wire: the treatment and its rate."""
    return f"{treatment.value}:{rate_pct.normalize():f}"


def treatment_of(code: str | None) -> tuple[TaxTreatment, Decimal]:
    """The treatment and rate a ``tax_code`` names (none: exempt)."""
    if not code:
        return TaxTreatment.EXEMPT, Decimal(0)
    treatment, _, rate = code.partition(":")
    return TaxTreatment(treatment), Decimal(rate or "0")


@handlers.handles(InvoiceReady, alone=True)
async def invoice_in_erp(
    envelope: Envelope[InvoiceReady],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    deps: Dependencies,
) -> None:
    """Draft and post the proposed invoice in the seller entity's ERP company."""
    ready = envelope.payload
    record = await uow.invoices.get(ready.invoice_id)
    if record is None:
        raise PermanentError("unknown_invoice", f"{ready.invoice_id} was never proposed here")
    if record.status == "posted":
        return  # a redelivery: done already
    known = await uow.projects.get(ready.project_id)
    if known is None:
        raise waiting_for_project(ready.project_id)
    seller = ready.seller_legal_entity_id or known.terms.legal_entity_id
    region = (
        known.region if seller == known.terms.legal_entity_id else deps.settings.region_of(seller)
    )
    target = deps.erps.target(seller, region)
    company = await deps.erps.company(uow.refs, target, seller)
    if company is None:
        raise DependencyMissing(
            company_key(target.instance, seller),
            f"legal entity {seller} has no company in ERP {target.instance}",
        )
    if ready.customer_id.startswith(ENTITY_PREFIX):  # intercompany: the buyer entity
        customer = await _erp_entity(uow, deps, target, company, seller, ready)
    else:
        customer = await _erp_customer(uow, target.instance, target.erp, ready.customer_id)
    credited = None
    if ready.credit_of is not None:
        original = await uow.invoices.get(ready.credit_of)
        if original is None or original.erp_id is None or original.status != "posted":
            raise PermanentError(
                "credit_of_unposted", f"{ready.credit_of} is not posted: nothing to credit yet"
            )
        credited = original.erp_id
    on = ready.invoice_date or deps.clock().date()
    standing = await uow.customers.standing(ready.customer_id)
    terms_days = known.payment_terms_days or await uow.customers.payment_terms(ready.customer_id)
    drafted = await target.erp.draft_customer_invoice(
        CustomerInvoice(
            company=company, customer=customer, currency=ready.currency, invoice_date=on,
            payment_terms_days=terms_days if terms_days is not None else 30,
            lines=tuple(_line(line, i) for i, line in enumerate(ready.lines)),
            key=ready.invoice_id, po_number=ready.po_number,
            customer_vat_id=standing.tax_profile.vat_id if standing else None,
            credit_of=credited,
        )
    )  # fmt: skip
    await uow.invoices.drafted(ready.invoice_id, target.instance, drafted.ref.external_id)
    posted = await target.erp.post_customer_invoice(drafted.ref.external_id, invoice_date=on)
    now = deps.clock()
    await uow.invoices.posted(
        ready.invoice_id, posted.number or "", posted.subtotal.amount, posted.tax_total.amount,
        posted.total.amount, now,
    )  # fmt: skip
    await uow.refs.link("invoice", ready.invoice_id, posted.ref)
    invoice = _invoice(ready, posted, seller, on, terms_days)
    if ready.credit_of is not None:
        credit = InvoiceCredited(
            credit_note=invoice, credited_invoice_id=ready.credit_of,
            reason="charges reversed after invoicing", credited_at=now,
        )  # fmt: skip
        await ctx.publish(credit, subject_version=envelope.subject_version + 1)
    else:
        await ctx.publish(
            InvoicePosted(invoice=invoice, posted_at=now),
            subject_version=envelope.subject_version + 1,
        )


async def _erp_customer(uow: AbstractUnitOfWork, instance: str, erp: Any, customer_id: str) -> str:
    """The customer's party in the ERP: linked, or found by the key project-sync wrote it
    under (the customer's id); waits while the ERP has none."""
    linked = await uow.refs.external_id(
        "customer", customer_id, system=SystemKind.ERP.value, instance=instance,
        object_type=ErpObject.CUSTOMER.value,
    )  # fmt: skip
    if linked is not None:
        return linked
    found = await erp.find(ErpObject.CUSTOMER, customer_id)
    if found is None:
        raise DependencyMissing(
            customer_key(customer_id), f"customer {customer_id} has no customer in ERP {instance}"
        )
    await uow.refs.link("customer", customer_id, found)
    return str(found.external_id)


async def _erp_entity(
    uow: AbstractUnitOfWork,
    deps: Dependencies,
    target: ErpTarget,
    company: str,
    seller: str,
    ready: InvoiceReady,
) -> str:
    """The buyer entity's party in the seller's ERP: its company's own party where the ERP
    keeps one (Tryton: ``company_party``, one for every seller; never a second party for the
    same company), else a customer of the seller's company made once under
    ``entity:<buyer>@<seller>`` (ids and the country only: an entity is no one's name). One
    per seller: where a customer belongs to one company (NetSuite's subsidiaries), a buyer
    invoiced by two sisters is a customer of each; one shared record would move between
    them and the ERP would refuse the other's invoices."""
    buyer = ready.customer_id.removeprefix(ENTITY_PREFIX)
    sister_key = f"{ready.customer_id}@{seller}"
    for key in (ready.customer_id, sister_key):
        linked = await uow.refs.external_id(
            "customer", key, system=SystemKind.ERP.value, instance=target.instance,
            object_type=ErpObject.CUSTOMER.value,
        )  # fmt: skip
        if linked is not None:
            return linked
    buyer_company = await deps.erps.company(uow.refs, target, buyer)
    party = await target.erp.company_party(buyer_company) if buyer_company else None
    if party is not None:
        await uow.refs.link("customer", ready.customer_id, party)
        return str(party.external_id)
    country = deps.settings.country_of(buyer)
    if country is None:
        raise PermanentError(
            "entity_country_unknown",
            f"intercompany buyer {buyer} has no country in TANDEM_ENTITY_COUNTRIES",
        )
    sister = Customer(
        id=f"entity-{buyer}"[:64], name=buyer, legal_entity_id=buyer, country=country,
        currency=ready.currency, tax_profile=TaxProfile(country=country),
    )  # fmt: skip
    written = await target.erp.upsert_customer(sister, company=company, key=sister_key)
    await uow.refs.link("customer", sister_key, written.ref)
    return str(written.ref.external_id)


def _line(line: InvoiceLine, index: int) -> InvoiceLineRequest:
    treatment, rate = treatment_of(line.tax_code)
    return InvoiceLineRequest(
        description=line.description, quantity=line.quantity, unit=line.uom,
        unit_price=line.unit_price, amount=line.amount, tax=treatment, tax_rate_pct=rate,
        reference=f"L{index + 1}",
    )  # fmt: skip


def _invoice(
    ready: InvoiceReady, posted: ErpInvoice, seller: str, on: date, terms_days: int | None
) -> Invoice:
    return Invoice(
        id=ready.invoice_id, number=posted.number, seller_legal_entity_id=seller,
        customer_id=ready.customer_id, currency=ready.currency, invoice_date=on,
        due_date=on + timedelta(days=terms_days if terms_days is not None else 30),
        po_number=ready.po_number, lines=ready.lines, subtotal=posted.subtotal,
        tax_total=posted.tax_total, total=posted.total, status=InvoiceStatus.POSTED,
        source_status=posted.state, refs=(posted.ref,),
    )  # fmt: skip
