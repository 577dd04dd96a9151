"""Time, expense, billing and periods (DOMAIN.md §2.5)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from tandem_contracts._money import CurrencyCode, DecimalString, Money, PositiveRate
from tandem_contracts._refs import ExternalRef
from tandem_contracts._types import (
    CalendarDate,
    CanonicalId,
    CanonicalModel,
    Minutes,
    UtcDatetime,
    Version,
)
from tandem_contracts.entities.staffing import RateSource

__all__ = [
    "AccountingPeriod",
    "ApprovalStep",
    "Charge",
    "ChargeSource",
    "ChargeStatus",
    "Expense",
    "ExpenseStatus",
    "FxRate",
    "FxRateType",
    "FxUsed",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "PeriodStatus",
    "TimeEntry",
    "TimeEntryStatus",
    "Timesheet",
    "TimesheetStatus",
]


class FxRateType(StrEnum):
    SPOT = "spot"
    MONTH_AVG = "month_avg"
    BUDGET = "budget"
    CONTRACT = "contract"


class FxRate(CanonicalModel):
    """An immutable exchange rate: 1 ``base`` = ``rate`` ``quote``; corrections are new records."""

    id: CanonicalId
    base: CurrencyCode
    quote: CurrencyCode
    rate: PositiveRate
    rate_type: FxRateType
    effective_date: CalendarDate
    source: str = Field(min_length=1, max_length=80)


class FxUsed(CanonicalModel):
    """The rate a converted amount used, carried with the amount."""

    rate_id: CanonicalId
    rate: PositiveRate
    rate_date: CalendarDate


class TimesheetStatus(StrEnum):
    OPEN = "open"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    PARTIALLY_APPROVED = "partially_approved"


class ApprovalStep(CanonicalModel):
    """One decision in a timesheet's approval path."""

    step: Version
    approver_id: CanonicalId
    decision: TimesheetStatus
    at: UtcDatetime


class Timesheet(CanonicalModel):
    """A worker's weekly container of time entries; SoR: PSA."""

    id: CanonicalId
    worker_id: CanonicalId
    period_start: CalendarDate
    period_end: CalendarDate
    status: TimesheetStatus
    approvals: tuple[ApprovalStep, ...] = ()
    source_status: str | None = Field(default=None, max_length=80)
    refs: tuple[ExternalRef, ...] = ()


class TimeEntryStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    POSTED = "posted"
    INVOICED = "invoiced"
    WRITTEN_OFF = "written_off"
    REVERSED = "reversed"


class TimeEntry(CanonicalModel):
    """A day's time of one worker on one project: approved in the PSA, posted in the ERP.

    The bill rate is snapshotted on approval with its ``rate_source``. ``notes`` is client
    confidential: it never goes into routing keys, headers, logs or traces.
    """

    id: CanonicalId
    timesheet_id: CanonicalId | None = None
    worker_id: CanonicalId
    worker_legal_entity_id: CanonicalId
    project_id: CanonicalId
    project_legal_entity_id: CanonicalId
    work_item_id: CanonicalId | None = None
    assignment_id: CanonicalId | None = None
    role_id: CanonicalId | None = None
    work_date: CalendarDate
    accounting_date: CalendarDate | None = None
    duration_minutes: Minutes
    rounded_minutes: Minutes | None = None
    billable: bool
    notes: str | None = Field(default=None, max_length=4000)
    bill_rate: Money | None = None
    rate_source: RateSource | None = None
    cost_rate: Money | None = None
    fx: FxUsed | None = None
    status: TimeEntryStatus
    source_status: str | None = Field(default=None, max_length=80)
    refs: tuple[ExternalRef, ...] = ()


class ExpenseStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    POSTED = "posted"
    REIMBURSED = "reimbursed"
    INVOICED = "invoiced"


class Expense(CanonicalModel):
    """An expense line; SoR: PSA or expense tool. ``receipt_ref`` is confidential."""

    id: CanonicalId
    report_id: CanonicalId | None = None
    worker_id: CanonicalId
    project_id: CanonicalId
    project_legal_entity_id: CanonicalId
    category: str = Field(min_length=1, max_length=80)
    expense_date: CalendarDate
    amount: Money
    reimbursement_amount: Money | None = None
    fx: FxUsed | None = None
    billable: bool
    markup_multiplier: DecimalString = Field(default=Decimal(1), ge=0, le=10)
    tax_amount: Money | None = None
    vendor_id: CanonicalId | None = None
    receipt_ref: str | None = Field(default=None, max_length=500)
    status: ExpenseStatus
    source_status: str | None = Field(default=None, max_length=80)
    refs: tuple[ExternalRef, ...] = ()


class ChargeSource(StrEnum):
    TIME = "time"
    EXPENSE = "expense"
    MILESTONE = "milestone"
    FIXED_SCHEDULE = "fixed_schedule"
    ADJUSTMENT = "adjustment"
    BUDGET_PREBILL = "budget_prebill"


class ChargeStatus(StrEnum):
    READY = "ready"
    HOLD = "hold"
    NON_BILLABLE = "non_billable"
    RELEASED = "released"
    INVOICED = "invoiced"


class Charge(CanonicalModel):
    """A billable event derived from time, expense or milestone; SoR: billing-readiness."""

    id: CanonicalId
    project_id: CanonicalId
    contract_id: CanonicalId | None = None
    source: ChargeSource
    source_ids: tuple[CanonicalId, ...] = Field(min_length=1)
    quantity: DecimalString = Field(max_digits=18, decimal_places=6)
    rate: Money
    amount: Money
    bill_date: CalendarDate
    billing_period: str = Field(pattern=r"^\d{4}-\d{2}$")
    hold_reason: str | None = Field(default=None, max_length=500)
    intercompany: bool = False
    status: ChargeStatus


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    VALIDATED = "validated"
    POSTED = "posted"
    SENT = "sent"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    CANCELLED = "cancelled"
    CREDITED = "credited"


class InvoiceLine(CanonicalModel):
    """One line of an invoice, traced back to its charges."""

    description: str = Field(min_length=1, max_length=500)
    quantity: DecimalString = Field(max_digits=18, decimal_places=6)
    uom: str = Field(default="hour", max_length=20)
    unit_price: Money
    amount: Money
    tax_code: str | None = Field(default=None, max_length=40)
    tax_amount: Money | None = None
    project_id: CanonicalId | None = None
    work_item_id: CanonicalId | None = None
    charge_ids: tuple[CanonicalId, ...] = ()


class Invoice(CanonicalModel):
    """A customer invoice; SoR: ERP, which mints the gapless ``number`` at post."""

    id: CanonicalId
    number: str | None = Field(default=None, max_length=60)
    seller_legal_entity_id: CanonicalId
    customer_id: CanonicalId
    currency: CurrencyCode
    invoice_date: CalendarDate | None = None
    due_date: CalendarDate | None = None
    po_number: str | None = Field(default=None, max_length=60)
    lines: tuple[InvoiceLine, ...] = Field(min_length=1)
    subtotal: Money
    tax_total: Money
    total: Money
    status: InvoiceStatus
    source_status: str | None = Field(default=None, max_length=80)
    refs: tuple[ExternalRef, ...] = ()


class PeriodStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    LOCKED = "locked"


class AccountingPeriod(CanonicalModel):
    """An accounting period of a legal entity; SoR: ERP (Tryton ``account.period``)."""

    id: CanonicalId
    legal_entity_id: CanonicalId
    name: str = Field(min_length=1, max_length=40)
    start_date: CalendarDate
    end_date: CalendarDate
    status: PeriodStatus
    source_status: str | None = Field(default=None, max_length=80)
    refs: tuple[ExternalRef, ...] = ()
