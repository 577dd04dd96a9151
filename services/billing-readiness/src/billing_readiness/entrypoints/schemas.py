"""The process API's request and response schemas."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field

from tandem_contracts import Money
from tandem_contracts.entities import FxRate
from tandem_contracts.events import HoldReason

__all__ = [
    "ChargePage",
    "ChargeRead",
    "Decision",
    "DisputeBody",
    "FxRatesLoad",
    "FxRatesLoaded",
    "InvoiceRead",
    "IsoDate",
    "LeakRead",
    "MismatchRead",
    "OverageBody",
    "ProjectBillingRead",
    "ReadinessRead",
    "ReconciledCompany",
    "ReconciliationRead",
    "ReleaseBody",
    "ReleaseRead",
    "WipBucket",
    "WipRead",
]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    """Only ``YYYY-MM-DD`` is a date here: pydantic would read ``0`` as 1 January 1970."""
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("a date is YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
"""A calendar date as the OpenAPI document says it: ``YYYY-MM-DD``, nothing else."""

# At least one printable character that is not white space (the pattern is searched, not
# anchored): an audited decision never records a blank reason.
Reason = Field(
    min_length=3,
    max_length=500,
    pattern=r"[^\s\x00-\x1f\x7f-\x9f]",
    description="why: kept in the audit trail",
)


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


class InvoicePage(BaseModel):
    items: list[InvoiceRead]
    next_after: str | None


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


class FxRatesLoad(BaseModel):
    """Published FX rates to keep (immutable: a rate id already kept stays as it was)."""

    rates: list[FxRate] = Field(min_length=1, max_length=1000)


class FxRatesLoaded(BaseModel):
    loaded: int
    kept: int


class LeakRead(BaseModel):
    project_id: str
    kind: str
    amount: Money
    items: int
    oldest: date | None


class MismatchRead(BaseModel):
    """One disagreement: ``invoice:<id>`` between an invoice here and the ERP's,
    ``invoice-charges:<id>`` between an invoice and its charges, ``charges:<project>`` charges
    invoiced on no recorded invoice."""

    kind: str
    scope_key: str
    legal_entity_id: str | None
    project_id: str | None
    period: str | None
    currency: str | None
    source_value: str
    target_value: str
    item_ids: list[str]


class ReconciledCompany(BaseModel):
    """An ERP company compared: how many invoices each side had, or why it was skipped."""

    legal_entity_id: str
    instance: str
    company: str | None
    ours: int
    theirs: int
    skipped: str | None


class ReconciliationRead(BaseModel):
    """A reconciliation of the invoices dated in [start, end] with the ERP's."""

    run_id: str
    start: date
    end: date
    companies: list[ReconciledCompany]
    mismatches: list[MismatchRead]
