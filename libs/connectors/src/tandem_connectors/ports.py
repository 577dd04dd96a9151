"""Ports: what Tandem's services may ask of each kind of system of record, in canonical terms.

Services depend on these abstract classes only; ``bootstrap`` picks the adapter (Tryton, the
sandbox HTTP systems, or an in-memory fake). Every write carries an **idempotency key**: the
same key twice leaves one record and answers the same external id, with ``created`` false the
second time. Adapters never store cross-references themselves: they are given the external
ids a write depends on and answer the external ids they wrote, which the calling service
records in ``tandem_connectors.xref`` in its own transaction.

Every method raises only ``tandem_connectors.errors`` types: ``SystemUnavailable`` (retry
later; the runtime pauses and probes), ``RequestRejected`` and its subclasses ``NotFound`` and
``PeriodClosed`` (park for a person), ``UnexpectedResponse`` (retried, then parked).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tandem_connectors.polling import ChangeSource
from tandem_contracts import ExternalRef, Money
from tandem_contracts.entities import (
    AccountingPeriod,
    CostRate,
    Customer,
    Expense,
    LegalEntity,
    Opportunity,
    Project,
    Role,
    TimeEntry,
    Worker,
    WorkItem,
)

__all__ = [
    "AbstractCrm",
    "AbstractErp",
    "AbstractHris",
    "AbstractPsa",
    "ErpObject",
    "ErpTimeLine",
    "ExpensePosting",
    "InvoiceDraft",
    "PostedInvoice",
    "PsaExpense",
    "PsaTimeEntry",
    "PsaTimesheet",
    "TimePosting",
    "TimeReversal",
    "Written",
]


class ErpObject(StrEnum):
    """The ``object_type`` of every ``ExternalRef`` an ERP adapter answers, whatever the ERP
    calls the record (Tryton ``company.employee``, NetSuite ``employee``): cross-references are
    then the same whichever adapter wrote them."""

    COMPANY = "company"
    CUSTOMER = "customer"
    SERVICE = "service"
    EMPLOYEE = "employee"
    PROJECT = "project"
    TASK = "task"
    TIME_LINE = "time_line"
    EXPENSE_LINE = "expense_line"
    INVOICE = "invoice"
    PERIOD = "period"


@dataclass(frozen=True, slots=True)
class Written:
    """What a write left in the system: the record's reference, and whether this call made it."""

    ref: ExternalRef
    created: bool
    code: str | None = None
    """The number the system minted for the record (a project code), when it mints one."""

    @property
    def external_id(self) -> str:
        """The record's id in the system."""
        return self.ref.external_id


@dataclass(frozen=True, slots=True)
class TimePosting:
    """One approved time entry to post, with the ERP ids it books against."""

    entry: TimeEntry
    employee: str
    work: str
    key: str


@dataclass(frozen=True, slots=True)
class TimeReversal:
    """Cancel a posted time entry by a posting of the opposite sign; never an in-place edit."""

    posted: str
    entry: TimeEntry
    employee: str
    work: str
    key: str


@dataclass(frozen=True, slots=True)
class ExpensePosting:
    """One approved expense to post, with the ERP ids it books against."""

    expense: Expense
    employee: str
    project: str
    key: str


@dataclass(frozen=True, slots=True)
class ErpTimeLine:
    """A time line the ERP holds (reconciliation's view); a reversal has negative minutes.

    ``key`` is the idempotency key the line was written under (``None``: not written by
    Tandem); ``project`` is the ERP project it books on (a task's project for a task).
    """

    external_id: str
    key: str | None
    employee: str
    project: str
    posted_on: date
    minutes: int
    amount: Money | None


@dataclass(frozen=True, slots=True)
class InvoiceDraft:
    """A draft invoice the ERP built from a project's billable, not yet invoiced, work."""

    ref: ExternalRef
    total: Money
    line_count: int


@dataclass(frozen=True, slots=True)
class PostedInvoice:
    """An invoice the ERP has posted: numbered, with its accounting move."""

    ref: ExternalRef
    number: str
    invoice_date: date
    total: Money


class AbstractErp(ABC):
    """The financial system of record: legal entities, customers, projects, postings, invoices.

    ``instance`` names the ERP instance (one per residency region, chosen by
    ``routing.InstanceRouter``). All amounts are ``Money``; durations are integer minutes.
    """

    instance: str
    prices_time: bool = False
    """Whether the ERP's time lines carry a bill amount (``ErpTimeLine.amount``), so that
    reconciliation can compare amounts; Tryton's timesheet lines carry none."""

    @abstractmethod
    async def ensure_legal_entity(self, entity: LegalEntity, *, key: str) -> Written:
        """Make the company with its functional currency, chart and open fiscal periods."""

    @abstractmethod
    async def upsert_customer(self, customer: Customer, *, company: str, key: str) -> Written:
        """Create the customer of ``company``, or update the one ``key`` already made."""

    @abstractmethod
    async def upsert_service(self, role: Role, bill_rate: Money, *, key: str) -> Written:
        """Create the hourly service item that prices ``role`` at ``bill_rate``."""

    @abstractmethod
    async def upsert_employee(
        self, worker: Worker, cost_rates: Sequence[CostRate], *, company: str, key: str
    ) -> Written:
        """Create the employee of ``company`` with its dated cost rates (added, never rewritten)."""

    @abstractmethod
    async def create_project(
        self, project: Project, *, company: str, customer: str, service: str | None, key: str
    ) -> Written:
        """Create the project shell; ``Written.code`` is the project code the ERP minted."""

    @abstractmethod
    async def create_task(self, item: WorkItem, *, project: str, key: str) -> Written:
        """Create a task under the ERP project ``project``."""

    @abstractmethod
    async def post_time(self, postings: Sequence[TimePosting]) -> list[Written]:
        """Post approved time, batched; answers one ``Written`` per posting, in order.

        A posting whose key was already written answers the earlier record (``created`` false).
        """

    @abstractmethod
    async def reverse_time(self, reversal: TimeReversal) -> Written:
        """Post the reversal of a posted time entry."""

    @abstractmethod
    async def post_expenses(self, postings: Sequence[ExpensePosting]) -> list[Written]:
        """Post approved expenses, batched; one ``Written`` per posting, in order."""

    @abstractmethod
    async def create_draft_invoice(self, *, project: str, key: str) -> InvoiceDraft:
        """Draft the invoice of the project's billable work not yet invoiced.

        Raises ``RequestRejected`` (reason ``nothing_to_invoice``) when there is none.
        """

    @abstractmethod
    async def post_invoice(self, invoice: str, *, invoice_date: date) -> PostedInvoice:
        """Post a draft invoice on ``invoice_date``; ``PeriodClosed`` if its period is closed."""

    @abstractmethod
    async def list_periods(
        self, *, company: str, legal_entity_id: str, start: date, end: date
    ) -> list[AccountingPeriod]:
        """The accounting periods of ``company`` overlapping [start, end], oldest first."""

    @abstractmethod
    async def time_lines(self, *, company: str, start: date, end: date) -> list[ErpTimeLine]:
        """The company's time lines dated in [start, end], for reconciliation."""

    @abstractmethod
    def change_source(self, object_type: str) -> ChangeSource:
        """The feed of changed records of ``object_type``, for a ``polling.Poller``."""


@dataclass(frozen=True, slots=True)
class PsaTimeEntry:
    """A time entry as the PSA holds it now (PSA ids; ``worker_id`` is the worker it names).

    The PSA knows no legal entities: the consuming service completes the canonical
    ``TimeEntry`` from its own reference data.
    """

    external_id: str
    version: int
    revision: int
    status: str
    resource_id: str
    worker_id: str | None
    role_id: str | None
    project_id: str
    task_id: str | None
    timesheet_id: str | None
    work_date: date
    minutes: int
    billable: bool
    bill_rate: Money | None
    notes: str | None
    updated_at: datetime
    adjustment_reason: str | None = None


@dataclass(frozen=True, slots=True)
class PsaTimesheet:
    """A timesheet version as the PSA sent it (PSA ids; ``worker_id`` is the worker it names).

    ``entry_ids`` are the entries this version holds (those a submission took, in the PSA's
    order); ``AbstractPsa.timesheet_entries`` reads them.
    """

    external_id: str
    version: int
    status: str
    resource_id: str
    worker_id: str | None
    period_start: date
    period_end: date
    entry_ids: tuple[str, ...]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PsaExpense:
    """An expense as the PSA holds it now (PSA ids; ``worker_id`` is the worker it names)."""

    external_id: str
    version: int
    status: str
    resource_id: str
    worker_id: str | None
    project_id: str
    expense_date: date
    category: str
    amount: Money
    billable: bool
    markup_multiplier: Decimal
    receipt_ref: str | None
    updated_at: datetime


class AbstractPsa(ABC):
    """The professional-services / resource-management system: delivery, staffing, time."""

    instance: str

    @abstractmethod
    async def create_project(self, project: Project, *, key: str) -> Written:
        """Create the delivery project (with the ERP-minted code, when known)."""

    @abstractmethod
    async def activate_project(self, project: str, *, key: str) -> Written:
        """Open the project for time and expense entry."""

    @abstractmethod
    async def time_entry(self, external_id: str) -> PsaTimeEntry:
        """The time entry as the PSA holds it now; ``NotFound`` if it does not exist."""

    @abstractmethod
    async def time_entries(
        self, *, status: str | None, project: str | None, start: date, end: date
    ) -> list[PsaTimeEntry]:
        """Entries worked in [start, end] (by status and project), for reconciliation."""

    @abstractmethod
    def change_source(self, feed: str) -> ChangeSource:
        """The changed records of ``feed`` (``time-entries``, ``expenses``, ``timesheets``),
        for a ``polling.Poller``; a record may show up again (at-least-once)."""

    @abstractmethod
    async def record(self, feed: str, external_id: str) -> Mapping[str, Any]:
        """One record of ``feed`` in this PSA's own shape (to land it again when repairing)."""

    @abstractmethod
    async def read_time_entry(self, record: Mapping[str, Any]) -> PsaTimeEntry:
        """A time-entry record in this PSA's own shape (a webhook's or a feed's)."""

    @abstractmethod
    async def read_expense(self, record: Mapping[str, Any]) -> PsaExpense:
        """An expense record in this PSA's own shape (a webhook's or a feed's)."""

    @abstractmethod
    async def read_timesheet(self, record: Mapping[str, Any]) -> PsaTimesheet:
        """A timesheet record in this PSA's own shape (a webhook's or a feed's)."""

    @abstractmethod
    async def timesheet_entries(self, sheet: PsaTimesheet) -> list[PsaTimeEntry]:
        """The entries of ``sheet.entry_ids``, in that order, as the PSA holds them now;
        ``NotFound`` if one no longer exists."""


class AbstractCrm(ABC):
    """The CRM: customers (accounts) and opportunities."""

    instance: str

    @abstractmethod
    async def opportunity(self, external_id: str) -> Opportunity:
        """The opportunity as the CRM holds it now; ``NotFound`` if it does not exist."""

    @abstractmethod
    def change_source(self, feed: str) -> ChangeSource:
        """The change feed ``feed``, for a ``polling.Poller``."""

    @abstractmethod
    async def link_project(self, opportunity: str, *, project_code: str, key: str) -> Written:
        """Write the ERP project code back onto the won opportunity."""


class AbstractHris(ABC):
    """The HR system: workers, hires, terminations and cost rates."""

    instance: str

    @abstractmethod
    async def worker(self, external_id: str) -> Worker:
        """The worker as the HRIS holds it now; ``NotFound`` if it does not exist."""

    @abstractmethod
    async def cost_rates(self, external_id: str) -> list[CostRate]:
        """The worker's dated cost rates, oldest first."""

    @abstractmethod
    def change_source(self, feed: str) -> ChangeSource:
        """The change feed ``feed``, for a ``polling.Poller``."""
