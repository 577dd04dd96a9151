"""The ERP port: the financial system of record."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from tandem_connectors.polling import ChangeSource
from tandem_connectors.ports._common import Written
from tandem_contracts import ExternalRef, Money
from tandem_contracts.entities import (
    AccountingPeriod,
    CostRate,
    Customer,
    Expense,
    LegalEntity,
    Project,
    Role,
    TimeEntry,
    Worker,
    WorkItem,
)

__all__ = [
    "AbstractErp",
    "CustomerInvoice",
    "ErpInvoice",
    "ErpObject",
    "ErpTimeLine",
    "ExpensePosting",
    "ExpenseReversal",
    "InvoiceDraft",
    "InvoiceLineRequest",
    "PostedInvoice",
    "ProjectActivity",
    "TaxTreatment",
    "TimePosting",
    "TimeReversal",
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
class ExpenseReversal:
    """Cancel a posted expense (``posted``: the id its posting answered) by a posting of the
    opposite sign, dated ``expense.expense_date``; never an in-place edit."""

    posted: str
    expense: Expense
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


class TaxTreatment(StrEnum):
    """How a customer invoice line is taxed; the caller decides it from the customer's tax
    profile and the seller's country, the ERP computes the amounts.

    ``STANDARD`` is the seller's domestic rate (``tax_rate_pct`` on the line);
    ``REVERSE_CHARGE`` an EU B2B supply to a customer with a validated VAT id (no tax, the
    customer accounts for it; the invoice carries the mention and the VAT id); ``EXEMPT`` a
    supply outside the scope of the seller's tax (an export of services).
    """

    STANDARD = "standard"
    REVERSE_CHARGE = "reverse_charge"
    EXEMPT = "exempt"


@dataclass(frozen=True, slots=True)
class InvoiceLineRequest:
    """One line of a customer invoice to draft.

    ``amount`` is exact: the ERP line must carry that amount to the cent (an adapter that
    cannot express ``quantity`` x ``unit_price`` exactly writes the line as one unit at
    ``amount`` and keeps the quantity in the description). ``amount`` is negative on a credit
    note. ``tax_rate_pct`` is the rate of ``tax`` (0 unless ``STANDARD``). ``project`` is the
    ERP project the line bills, when the ERP keeps one. ``reference`` names the line for
    read-back (the charge group it bills).
    """

    description: str
    quantity: Decimal
    unit: str
    unit_price: Money
    amount: Money
    tax: TaxTreatment
    tax_rate_pct: Decimal
    reference: str
    project: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerInvoice:
    """A customer invoice (or, with ``credit_of``, a credit note) to draft in ``company``.

    ``key`` is the idempotency key the ERP stores with the invoice (``find(ErpObject.INVOICE,
    key)`` resolves it); ``customer`` is the customer's ERP id in that company. A credit note
    has negative line amounts and names the posted invoice it credits in ``credit_of``.
    ``customer_vat_id`` is printed on a reverse-charge invoice.
    """

    company: str
    customer: str
    currency: str
    invoice_date: date
    payment_terms_days: int
    lines: tuple[InvoiceLineRequest, ...]
    key: str
    po_number: str | None = None
    customer_vat_id: str | None = None
    credit_of: str | None = None


@dataclass(frozen=True, slots=True)
class ErpInvoice:
    """A customer invoice as the ERP holds it (drafted or posted), for acknowledgement and
    reconciliation. Totals are the ERP's own, taxes computed by it; ``number`` is minted at
    post (None while a draft); ``key`` is the idempotency key it was written under (None: not
    written by Tandem); ``lines`` maps each line's ``reference`` to its untaxed amount."""

    ref: ExternalRef
    key: str | None
    number: str | None
    state: str
    currency: str
    invoice_date: date | None
    subtotal: Money
    tax_total: Money
    total: Money
    lines: dict[str, Money]


@dataclass(frozen=True, slots=True)
class PostedInvoice:
    """An invoice the ERP has posted: numbered, with its accounting move."""

    ref: ExternalRef
    number: str
    invoice_date: date
    total: Money


@dataclass(frozen=True, slots=True)
class ProjectActivity:
    """What the ERP holds against a project (its tasks included), for deciding whether a
    shell may be cancelled: nothing booked and nothing invoiced.

    ``time_lines`` and ``expense_lines`` count the postings the ERP keeps on the project,
    whatever their sign (a reversal the ERP keeps as a second posting counts too);
    ``invoiced`` says some of its work is on a customer invoice, draft or posted.
    """

    time_lines: int
    expense_lines: int
    invoiced: bool

    @property
    def empty(self) -> bool:
        """Whether nothing is booked on the project and nothing of it invoiced."""
        return not (self.time_lines or self.expense_lines or self.invoiced)


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
    async def company_party(self, company: str) -> ExternalRef | None:
        """The party that stands for ``company`` when another company of the ERP invoices it
        (intercompany), as a ``CUSTOMER`` reference; None when the ERP keeps none (the caller
        then makes a customer for it). ``NotFound`` for an unknown company."""

    @abstractmethod
    async def find_customer(
        self, *, key: str | None, tax_id: str | None, company: str
    ) -> ExternalRef | None:
        """An existing customer: the one ``upsert_customer`` wrote under ``key``, else the
        customer of ``company`` whose tax registration number is ``tax_id``; never creates.

        Tax ids compare without spaces, dots, dashes or slashes and case-blind
        (``"de 123.456.789"`` finds ``DE123456789``). ``None`` when neither finds one (or
        both are ``None``). Raises ``RequestRejected`` with reason ``ambiguous_tax_id`` when
        several customers carry ``tax_id`` (a duplicate for a person to merge, never a
        guess), and ``SystemUnavailable`` as every call does. An ERP whose customers are
        shared by its companies (Tryton) searches them all.
        """

    @abstractmethod
    async def upsert_service(self, role: Role, bill_rate: Money, *, key: str) -> Written:
        """Create the hourly service item that prices ``role`` at ``bill_rate``."""

    @abstractmethod
    async def upsert_employee(
        self, worker: Worker, cost_rates: Sequence[CostRate], *, company: str, key: str
    ) -> Written:
        """Create the employee of ``company`` with its dated cost rates (added, never rewritten).

        An update never changes the employee's end date (``end_employee`` owns it).
        """

    @abstractmethod
    async def end_employee(self, employee: str, *, last_day: date | None, key: str) -> Written:
        """End the employee after ``last_day`` (the ERP's release or end date): from the day
        after, ``post_time`` refuses the employee's time with ``RequestRejected`` reason
        ``employee_ended``; time dated up to ``last_day`` is still taken.

        Answers the employee's reference (``created`` false). Idempotent: an employee ending
        on ``last_day`` already is answered as it is; another date moves the end to
        ``last_day`` (a termination corrected in the HRIS); ``None`` reopens an ended
        employee (a rehire in the same legal entity). ``NotFound`` when ``employee``
        names no employee; ``RequestRejected`` when the ERP refuses the date (Tryton: a last
        day before the employee's start).
        """

    @abstractmethod
    async def create_project(
        self, project: Project, *, company: str, customer: str, service: str | None, key: str
    ) -> Written:
        """Create the project shell; ``Written.code`` is the project code the ERP minted."""

    @abstractmethod
    async def activate_project(self, project: str, *, key: str) -> Written:
        """Open the project shell for time and expenses (the status the ERP calls active).

        Answers the project's reference with ``code`` = its project code; ``created`` is
        false. Idempotent: an active project is answered as it is, unchanged. Raises
        ``RequestRejected`` with reason ``project_cancelled`` or ``project_closed`` for a
        project cancelled or closed for time (neither is reopened by activation), and
        ``NotFound`` when ``project`` names no project.
        """

    @abstractmethod
    async def cancel_project(self, project: str, *, reason: str, key: str) -> Written:
        """Cancel a project shell that nothing was booked on: no more time or expenses; the
        project is kept (never deleted), with ``reason`` readable in the ERP.

        Answers the project's reference (``code`` = its code; ``created`` false).
        Idempotent: a cancelled project is answered as it is, keeping its first reason.
        Afterwards ``post_time`` and ``post_expenses`` refuse every posting on it (reasons
        ``project_closed_for_time``, ``project_closed_for_expenses``). Raises
        ``RequestRejected`` with reason ``project_has_activity`` when the project has time or
        expense lines or invoiced work (``project_activity`` not ``empty``): close it for time
        instead. ``NotFound`` when ``project`` names no project.
        """

    @abstractmethod
    async def close_project_for_time(self, project: str, *, closed_from: date, key: str) -> Written:
        """Close the project for time and expenses dated on or after ``closed_from``; what is
        booked stays, and postings dated before ``closed_from`` (late approvals of earlier
        work) are still taken.

        Answers the project's reference (``code`` = its code; ``created`` false).
        Idempotent: a project already closed is answered as it is, keeping the date it was
        first closed from. Afterwards ``post_time`` and ``post_expenses`` refuse a posting dated
        on or after ``closed_from`` with ``RequestRejected`` reason ``project_closed_for_time``
        or ``project_closed_for_expenses``. Raises
        ``RequestRejected`` with reason ``project_cancelled`` for a cancelled project, and
        ``NotFound`` when ``project`` names no project.
        """

    @abstractmethod
    async def project_activity(self, project: str) -> ProjectActivity:
        """What is booked on the project and its tasks, and whether any of it is invoiced;
        ``NotFound`` when ``project`` names no project."""

    @abstractmethod
    async def create_task(self, item: WorkItem, *, project: str, key: str) -> Written:
        """Create a task under the ERP project ``project``."""

    @abstractmethod
    async def post_time(self, postings: Sequence[TimePosting]) -> list[Written]:
        """Post approved time, batched; answers one ``Written`` per posting, in order.

        A posting whose key was already written answers the earlier record (``created`` false).
        Time dated after its employee's last day (``end_employee``) is refused with
        ``RequestRejected`` reason ``employee_ended``.
        """

    @abstractmethod
    async def reverse_time(self, reversal: TimeReversal) -> Written:
        """Post the reversal of a posted time entry."""

    @abstractmethod
    async def post_expenses(self, postings: Sequence[ExpensePosting]) -> list[Written]:
        """Post approved expenses, batched; one ``Written`` per posting, in order."""

    @abstractmethod
    async def reverse_expense(self, reversal: ExpenseReversal) -> Written:
        """Post the reversal of a posted expense; answer the reversing record
        (``ErpObject.EXPENSE_LINE``).

        An approved expense rejected afterwards (the ERP or the PSA refusing an approved
        report) is cancelled by a second posting of the opposite amount, dated
        ``reversal.expense.expense_date``, never by editing or deleting the first. Idempotent
        under ``reversal.key``: a repeat answers the same record with ``created`` false. An
        expense already reimbursed can still be reversed: the employee then owes the amount
        back, which is finance's to recover.

        Raises ``NotFound`` when ``reversal.posted`` names no expense posting, ``PeriodClosed``
        when the reversal's date falls in a closed period, and ``RequestRejected`` with
        reason ``already_reversed`` when the expense was reversed under another key or is
        itself a reversal.
        """

    @abstractmethod
    async def create_draft_invoice(self, *, project: str, key: str) -> InvoiceDraft:
        """Draft the invoice of the project's billable work not yet invoiced.

        Raises ``RequestRejected`` (reason ``nothing_to_invoice``) when there is none.
        """

    @abstractmethod
    async def post_invoice(self, invoice: str, *, invoice_date: date) -> PostedInvoice:
        """Post a draft invoice on ``invoice_date``; ``PeriodClosed`` if its period is closed."""

    @abstractmethod
    async def draft_customer_invoice(self, invoice: CustomerInvoice) -> ErpInvoice:
        """Draft ``invoice`` (its lines, taxed by the ERP per line's treatment); idempotent
        under ``invoice.key``: a repeat answers the invoice already made, whatever its state
        since (drafted, or posted by ``post_customer_invoice``).

        Raises ``NotFound`` when the company, customer or ``credit_of`` is unknown, and
        ``RequestRejected`` (reason ``invalid_invoice``) for lines the ERP refuses.
        """

    @abstractmethod
    async def post_customer_invoice(self, invoice: str, *, invoice_date: date) -> ErpInvoice:
        """Post the drafted customer invoice on ``invoice_date``: the ERP mints its number.

        Idempotent: posting a posted invoice answers it unchanged. ``PeriodClosed`` when the
        date's period is closed; ``NotFound`` for an unknown invoice.
        """

    @abstractmethod
    async def customer_invoices(self, *, company: str, start: date, end: date) -> list[ErpInvoice]:
        """The company's customer invoices and credit notes dated in [start, end] (drafts, with
        no date yet, included), for reconciliation."""

    @abstractmethod
    async def list_periods(
        self, *, company: str, legal_entity_id: str, start: date, end: date
    ) -> list[AccountingPeriod]:
        """The accounting periods of ``company`` overlapping [start, end], oldest first."""

    @abstractmethod
    async def time_lines(self, *, company: str, start: date, end: date) -> list[ErpTimeLine]:
        """The company's time lines dated in [start, end], for reconciliation."""

    @abstractmethod
    async def find(self, kind: ErpObject, key: str) -> ExternalRef | None:
        """The record an earlier write of ``kind`` made under idempotency ``key``, or None.

        Every adapter stores the key with the record it writes, so this resolves a record
        without anyone recording the link by hand: the company ``ensure_legal_entity(entity,
        key=entity.id)`` made is ``find(ErpObject.COMPANY, entity.id)``. ``kind`` is one of
        ``COMPANY``, ``CUSTOMER``, ``SERVICE``, ``EMPLOYEE``, ``PROJECT`` and ``TASK``; the
        reference answered is the one the write answered (same ``object_type`` and
        ``external_id``).

        None means no write of ``kind`` used ``key`` (or the record was deleted in the ERP);
        a key used for another kind is not found. Raises ``RequestRejected`` with reason
        ``unsupported`` for any other ``kind``, and ``SystemUnavailable`` as every call does.
        """

    @abstractmethod
    def change_source(self, object_type: str) -> ChangeSource:
        """The feed of changed records of ``object_type``, for a ``polling.Poller``."""
