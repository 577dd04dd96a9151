"""Events about rates, charges and invoices (context ``billing``)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from tandem_contracts._event import Context, Event
from tandem_contracts._money import CurrencyCode, Money
from tandem_contracts._refs import SystemKind
from tandem_contracts._types import CalendarDate, CanonicalId, UtcDatetime, Version
from tandem_contracts.entities import Charge, FxUsed, Invoice, InvoiceLine, RateCard

__all__ = [
    "ChargeCreated",
    "ChargeHeld",
    "ChargeReleased",
    "HoldReason",
    "InvoiceCredited",
    "InvoicePosted",
    "InvoiceReady",
    "LeakageKind",
    "RateCardPublished",
    "RevenueLeakageDetected",
]


class _BillingEvent(Event):
    context: ClassVar[Context] = Context.BILLING
    producers: ClassVar[tuple[str, ...]] = ("billing-readiness",)


class RateCardPublished(_BillingEvent):
    """SoR: PSA by default (or the ERP, by tenant setting). Trigger: a rate-card version is
    published; staffing-sync re-matches open demand, approved time is never re-rated.
    """

    event_type: ClassVar[str] = "RateCardPublished"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.PSA
    producers: ClassVar[tuple[str, ...]] = ("staffing-sync",)
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


class HoldReason(StrEnum):
    """Why a charge may not be invoiced yet (DOMAIN.md §2.5 ``hold_reason``)."""

    MISSING_PO = "missing_po"
    CREDIT_HOLD = "credit_hold"
    BUSINESS_EXCEPTION = "business_exception"
    CAP_REACHED = "cap_reached"
    DISPUTED = "disputed"
    TAX_PROFILE_INVALID = "tax_profile_invalid"
    INTERCOMPANY_NOT_ALLOWED = "intercompany_not_allowed"


class ChargeHeld(_BillingEvent):
    """SoR: billing-readiness. Trigger: a charge gained a hold (it is created held, or a hold
    was put on it); ``reasons`` are all its holds now."""

    event_type: ClassVar[str] = "ChargeHeld"
    system_of_record: ClassVar[SystemKind | None] = None
    subject_type: ClassVar[str] = "charge"

    charge_id: CanonicalId
    project_id: CanonicalId
    amount: Money
    reasons: tuple[HoldReason, ...] = Field(min_length=1)
    detail: str | None = Field(default=None, max_length=500)
    held_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.charge_id


class ChargeReleased(_BillingEvent):
    """SoR: billing-readiness. Trigger: a held charge lost its last hold (the customer's credit
    hold lifted, a PO arrived, a cap overage approved by a person), or was written off."""

    event_type: ClassVar[str] = "ChargeReleased"
    system_of_record: ClassVar[SystemKind | None] = None
    subject_type: ClassVar[str] = "charge"

    charge_id: CanonicalId
    project_id: CanonicalId
    amount: Money
    released: tuple[HoldReason, ...] = Field(min_length=1)
    written_off: bool = False
    released_by: str | None = Field(default=None, max_length=200)
    released_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.charge_id


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
    seller_legal_entity_id: CanonicalId | None = None
    invoice_date: CalendarDate | None = None
    tax_total_hint: Money | None = None
    """The tax billing-readiness expects the ERP to compute (per line, half-up)."""
    fx: FxUsed | None = None
    """The rate from the invoice currency to the seller's functional currency at the invoice
    date, when they differ (AR converts at the invoice date)."""
    credit_of: CanonicalId | None = None
    """Set on a credit note: the invoice it credits."""

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


class InvoiceCredited(_BillingEvent):
    """SoR: ERP (acknowledgement). Trigger: the ERP posted a credit note against a posted
    invoice (a charge reversed after invoicing)."""

    event_type: ClassVar[str] = "InvoiceCredited"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.ERP
    subject_type: ClassVar[str] = "invoice"

    credit_note: Invoice
    credited_invoice_id: CanonicalId
    reason: str = Field(min_length=1, max_length=500)
    credited_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.credit_note.id


class LeakageKind(StrEnum):
    """Where money leaks between work done and work invoiced (DOMAIN.md §5)."""

    NOT_CHARGED = "not_charged"
    NOT_INVOICED = "not_invoiced"
    BELOW_RATE_CARD = "below_rate_card"
    CAP_EXCEEDED = "cap_exceeded"


class RevenueLeakageDetected(_BillingEvent):
    """SoR: billing-readiness (derived). Trigger: a scan found value earned and not billed:
    approved billable time not charged or not invoiced after N days, time billed below the
    rate card, or work beyond a cap. Ids and amounts only."""

    event_type: ClassVar[str] = "RevenueLeakageDetected"
    system_of_record: ClassVar[SystemKind | None] = None
    producers: ClassVar[tuple[str, ...]] = ("billing-readiness", "observability")
    subject_type: ClassVar[str] = "project"

    project_id: CanonicalId
    kind: LeakageKind
    amount: Money
    item_ids: tuple[CanonicalId, ...] = Field(default=(), max_length=500)
    item_count: int = Field(ge=1)
    oldest: CalendarDate | None = None
    detected_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.project_id
