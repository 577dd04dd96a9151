"""The process API's request and response schemas."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from tandem_contracts import Money
from tandem_contracts.events import HoldReason

__all__ = [
    "ChargePage",
    "ChargeRead",
    "Decision",
    "DisputeBody",
    "InvoiceRead",
    "LeakRead",
    "OverageBody",
    "ProjectBillingRead",
    "ReadinessRead",
    "ReleaseBody",
    "ReleaseRead",
    "WipBucket",
    "WipRead",
]

Reason = Field(min_length=3, max_length=500, description="why: kept in the audit trail")


class ChargeRead(BaseModel):
    """A charge: what it bills, its amount, its holds and whether it is invoiced."""

    charge_id: str
    project_id: str
    source: str
    source_id: str
    quantity: Decimal
    rate: Money
    amount: Money
    bill_date: date
    period: str
    billable: bool
    holds: list[HoldReason]
    intercompany: bool
    seller_entity: str | None
    buyer_entity: str | None
    reverses: str | None
    note: str | None
    status: str
    invoice_id: str | None


class ChargePage(BaseModel):
    items: list[ChargeRead]
    next_after: str | None


class InvoiceRead(BaseModel):
    """An invoice or credit note: as proposed, and as the ERP made it (number, its totals)."""

    invoice_id: str
    project_id: str
    customer_id: str
    seller_entity: str
    period: str
    currency: str
    status: str
    credit_of: str | None
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    number: str | None
    erp_instance: str | None
    erp_id: str | None
    erp_total: Decimal | None
    proposed_at: datetime
    posted_at: datetime | None


class ProjectBillingRead(BaseModel):
    """A project's billing terms, its standing holds and where its money stands."""

    project_id: str
    customer_id: str
    legal_entity_id: str
    currency: str
    billing_model: str
    contract_id: str | None
    cap: Money | None
    total_value: Money | None
    po_number: str | None
    disputed: bool
    standing_holds: list[HoldReason]
    charged: Money
    invoiced: Money
    held: Money
    pending_time: int
    refused_time: int
    invoices: list[InvoiceRead]


class WipBucket(BaseModel):
    bucket: Literal["0-30", "31-60", "61-90", "90+"]
    amount: Decimal
    charges: int


class WipRead(BaseModel):
    """Unbilled work in progress of a project and currency, by age of its bill date."""

    project_id: str
    currency: str
    total: Decimal
    held: Decimal
    buckets: list[WipBucket]


Decision = Literal["approve", "write_off"]


class ReleaseBody(BaseModel):
    """Release a charge's holds that only a person lifts (cap reached, intercompany pair not
    allowed, dispute), or write the charge off."""

    reason: str = Reason
    decision: Decision = "approve"


class ReleaseRead(BaseModel):
    charge_id: str
    released: list[HoldReason]
    written_off: bool
    holds_left: list[HoldReason]


class OverageBody(BaseModel):
    """Approve (or write off) every charge of a project held because its cap was reached."""

    reason: str = Reason
    decision: Decision = "approve"


class DisputeBody(BaseModel):
    """Put a project's billing on hold while the customer disputes it, or lift the dispute."""

    reason: str = Reason
    disputed: bool


class ReadinessRead(BaseModel):
    """What a readiness pass did: per project, the invoices proposed or why none was."""

    projects: dict[str, list[str]]
    proposed: int


class LeakRead(BaseModel):
    project_id: str
    kind: str
    amount: Money
    items: int
    oldest: date | None
