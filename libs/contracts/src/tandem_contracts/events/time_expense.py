"""Events about time, expenses and accounting periods (context ``time``)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from tandem_contracts._event import Context, Event
from tandem_contracts._money import DecimalString, Money
from tandem_contracts._refs import ExternalRef, SystemKind
from tandem_contracts._types import CalendarDate, CanonicalId, Minutes, UtcDatetime, Version
from tandem_contracts.entities import AccountingPeriod, Expense, FxUsed, TimeEntry, Timesheet

__all__ = [
    "ExpenseApproved",
    "ExpensePosted",
    "ExpenseRejected",
    "PeriodClosed",
    "PeriodReopened",
    "PostingFailureReason",
    "TimeAdjusted",
    "TimeApproved",
    "TimePosted",
    "TimePostingFailed",
    "TimeRejected",
    "TimeSubmitted",
]


class _TimeEvent(Event):
    context: ClassVar[Context] = Context.TIME
    system_of_record: ClassVar[SystemKind | None] = SystemKind.PSA
    producers: ClassVar[tuple[str, ...]] = ("time-expense",)
    subject_type: ClassVar[str] = "time_entry"


class TimeSubmitted(_TimeEvent):
    """SoR: PSA. Trigger: a worker submits a timesheet for approval."""

    event_type: ClassVar[str] = "TimeSubmitted"
    subject_type: ClassVar[str] = "timesheet"

    timesheet: Timesheet
    entries: tuple[TimeEntry, ...]
    submitted_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.timesheet.id


class TimeApproved(_TimeEvent):
    """SoR: PSA. Trigger: a time entry's approval completes; its bill rate is snapshotted with its
    rate source. time-expense posts it to the ERP; billing-readiness makes a charge.
    """

    event_type: ClassVar[str] = "TimeApproved"

    entry: TimeEntry
    approval_version: Version
    approved_by: CanonicalId
    approved_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.entry.id


class TimeRejected(_TimeEvent):
    """SoR: PSA (or the ERP rejecting downstream). Trigger: an entry is rejected; when it had been
    approved, its posting and charges are reversed.
    """

    event_type: ClassVar[str] = "TimeRejected"

    time_entry_id: CanonicalId
    timesheet_id: CanonicalId | None = None
    worker_id: CanonicalId
    project_id: CanonicalId
    was_approved: bool
    reason: str | None = Field(default=None, max_length=500)
    rejected_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.time_entry_id


class TimeAdjusted(_TimeEvent):
    """SoR: PSA. Trigger: a correction of approved time (re-rating, moved hours); posted as a
    reversal of ``original_entry_id`` plus the ``replacement``, never an in-place edit.
    """

    event_type: ClassVar[str] = "TimeAdjusted"

    original_entry_id: CanonicalId
    replacement: TimeEntry | None
    reason: str = Field(min_length=1, max_length=500)
    adjusted_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.original_entry_id


class TimePosted(_TimeEvent):
    """SoR: ERP (acknowledgement). Trigger: the ERP accepted an approved entry's posting; carries
    the ERP's id and the accounting date it landed in (later than the work date if late).
    """

    event_type: ClassVar[str] = "TimePosted"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.ERP

    time_entry_id: CanonicalId
    project_id: CanonicalId
    worker_id: CanonicalId
    erp_ref: ExternalRef
    work_date: CalendarDate
    accounting_date: CalendarDate
    late_posting: bool = False
    duration_minutes: Minutes
    bill_amount: Money | None = None
    cost_amount: Money | None = None
    reversal_of: CanonicalId | None = None
    posted_at: UtcDatetime
    billable: bool | None = None
    """Whether the entry is billable (None: a producer before this field; read
    ``bill_amount``)."""
    bill_rate: Money | None = None
    """The bill rate frozen on approval, per hour, in the project's currency."""
    role_id: CanonicalId | None = None
    worker_legal_entity_id: CanonicalId | None = None
    """The worker's employer; differs from ``project_legal_entity_id`` for intercompany time."""
    project_legal_entity_id: CanonicalId | None = None

    @property
    def subject_id(self) -> str:
        return self.time_entry_id


class PostingFailureReason(StrEnum):
    PERIOD_CLOSED = "period_closed"
    PROJECT_NOT_OPEN = "project_not_open"
    PROJECT_UNKNOWN = "project_unknown"
    WORKER_NOT_MAPPED = "worker_not_mapped"
    WORKER_TERMINATED = "worker_terminated"
    ASSIGNMENT_MISSING = "assignment_missing"
    RATE_UNRESOLVED = "rate_unresolved"
    FX_RATE_MISSING = "fx_rate_missing"
    INTERCOMPANY_NOT_ALLOWED = "intercompany_not_allowed"
    ERP_REJECTED = "erp_rejected"
    ERP_UNAVAILABLE = "erp_unavailable"


class TimePostingFailed(_TimeEvent):
    """SoR: ERP or time-expense validation. Trigger: an approved entry could not be posted; the
    reason says why and whether a retry can ever succeed.
    """

    event_type: ClassVar[str] = "TimePostingFailed"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.ERP

    time_entry_id: CanonicalId
    project_id: CanonicalId
    worker_id: CanonicalId
    reason: PostingFailureReason
    message: str = Field(max_length=2000)
    retryable: bool
    failed_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.time_entry_id


class ExpenseApproved(_TimeEvent):
    """SoR: PSA or expense tool. Trigger: an expense line is approved for posting."""

    event_type: ClassVar[str] = "ExpenseApproved"
    subject_type: ClassVar[str] = "expense"

    expense: Expense
    approved_by: CanonicalId
    approved_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.expense.id


class ExpenseRejected(_TimeEvent):
    """SoR: PSA or expense tool (or the ERP rejecting downstream). Trigger: an expense is
    rejected; when it had been approved (NetSuite rejecting an approved report rejects it in
    Kantata), its posting is reversed in the ERP and its charges are reversed.
    """

    event_type: ClassVar[str] = "ExpenseRejected"
    subject_type: ClassVar[str] = "expense"

    expense_id: CanonicalId
    project_id: CanonicalId
    worker_id: CanonicalId
    was_approved: bool
    reason: str | None = Field(default=None, max_length=500)
    rejected_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.expense_id


class ExpensePosted(_TimeEvent):
    """SoR: ERP (acknowledgement). Trigger: the ERP accepted an approved expense's posting, or
    the reversal of a rejected one (``reversal_of`` set, ``amount`` negative).

    ``project_amount`` is ``amount`` converted to the project currency at the expense date, with
    the rate used in ``fx``.
    """

    event_type: ClassVar[str] = "ExpensePosted"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.ERP
    subject_type: ClassVar[str] = "expense"

    expense_id: CanonicalId
    project_id: CanonicalId
    erp_ref: ExternalRef
    accounting_date: CalendarDate
    amount: Money
    project_amount: Money | None = None
    fx: FxUsed | None = None
    reversal_of: CanonicalId | None = None
    posted_at: UtcDatetime
    billable: bool | None = None
    """Whether the expense is rebilled to the customer (None: a producer before this field)."""
    markup_multiplier: DecimalString | None = Field(default=None, ge=0, le=10)
    """The rebilling markup (1.10: cost plus 10 %)."""
    category: str | None = Field(default=None, max_length=80)
    expense_date: CalendarDate | None = None

    @property
    def subject_id(self) -> str:
        return self.expense_id


class PeriodClosed(_TimeEvent):
    """SoR: ERP. Trigger: an accounting period of a legal entity is closed (or locked); late time
    for it is redirected to the next open period or parked, per policy.
    """

    event_type: ClassVar[str] = "PeriodClosed"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.ERP
    subject_type: ClassVar[str] = "accounting_period"

    period: AccountingPeriod
    closed_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.period.id


class PeriodReopened(_TimeEvent):
    """SoR: ERP. Trigger: a closed accounting period of a legal entity is reopened (a locked one
    never is); postings dated in it are accepted again, so parked late time may be retried.
    """

    event_type: ClassVar[str] = "PeriodReopened"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.ERP
    subject_type: ClassVar[str] = "accounting_period"

    period: AccountingPeriod
    reopened_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.period.id
