"""Events about rates, charges and invoices (context ``billing``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from tandem_contracts._event import Context, Event
from tandem_contracts._money import CurrencyCode, Money
from tandem_contracts._refs import SystemKind
from tandem_contracts._types import CanonicalId, UtcDatetime, Version
from tandem_contracts.entities import Charge, Invoice, InvoiceLine, RateCard

__all__ = ["ChargeCreated", "InvoicePosted", "InvoiceReady", "RateCardPublished"]


class _BillingEvent(Event):
    context: ClassVar[Context] = Context.BILLING
    producers: ClassVar[tuple[str, ...]] = ("billing-readiness",)


class RateCardPublished(_BillingEvent):
    """SoR: PSA by default (or the ERP, by tenant setting). Trigger: a rate-card version is
    published; staffing-sync re-matches open demand, approved time is never re-rated.
    """

    event_type: ClassVar[str] = "RateCardPublished"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.PSA
    subject_type: ClassVar[str] = "rate_card"

    rate_card: RateCard
    published_version: Version
    published_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.rate_card.id


class ChargeCreated(_BillingEvent):
    """SoR: billing-readiness. Trigger: posted time, a posted expense or a completed milestone
    became a billable (or held, or non-billable) charge.
    """

    event_type: ClassVar[str] = "ChargeCreated"
    system_of_record: ClassVar[SystemKind | None] = None
    subject_type: ClassVar[str] = "charge"

    charge: Charge

    @property
    def subject_id(self) -> str:
        return self.charge.id


class InvoiceReady(_BillingEvent):
    """SoR: billing-readiness. Trigger: every charge of a project's billing period is posted,
    released, within cap and the customer's tax profile is valid: a draft invoice proposal.
    """

    event_type: ClassVar[str] = "InvoiceReady"
    system_of_record: ClassVar[SystemKind | None] = None
    subject_type: ClassVar[str] = "invoice"

    invoice_id: CanonicalId
    project_id: CanonicalId
    contract_id: CanonicalId | None = None
    customer_id: CanonicalId
    billing_period: str = Field(pattern=r"^\d{4}-\d{2}$")
    currency: CurrencyCode
    po_number: str | None = Field(default=None, max_length=60)
    lines: tuple[InvoiceLine, ...] = Field(min_length=1)
    subtotal: Money
    charge_ids: tuple[CanonicalId, ...] = Field(min_length=1)

    @property
    def subject_id(self) -> str:
        return self.invoice_id


class InvoicePosted(_BillingEvent):
    """SoR: ERP (acknowledgement). Trigger: the ERP posted the invoice and minted its number."""

    event_type: ClassVar[str] = "InvoicePosted"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.ERP
    subject_type: ClassVar[str] = "invoice"

    invoice: Invoice
    posted_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.invoice.id
