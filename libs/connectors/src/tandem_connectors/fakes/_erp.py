"""``FakeErp``: an ERP in memory that keeps the port's contract."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from tandem_connectors.errors import NotFound, PeriodClosed, RequestRejected, SystemUnavailable
from tandem_connectors.fakes._erp_invoices import FakeInvoiceBook
from tandem_connectors.polling import Change, ChangeSource, Position
from tandem_connectors.ports import (
    AbstractErp,
    CustomerInvoice,
    ErpInvoice,
    ErpObject,
    ErpTimeLine,
    ExpensePosting,
    ExpenseReversal,
    InvoiceDraft,
    PostedInvoice,
    ProjectActivity,
    TimePosting,
    TimeReversal,
    Written,
)
from tandem_connectors.taxids import compact_tax_id
from tandem_contracts import ExternalRef, Money, SystemKind
from tandem_contracts.entities import (
    AccountingPeriod,
    CostRate,
    Customer,
    LegalEntity,
    PeriodStatus,
    Project,
    Role,
    Worker,
    WorkItem,
)

__all__ = ["FakeErp", "FakeLine"]


@dataclass(frozen=True)
class FakeLine:
    """A time or expense line the fake holds (a reversal: negative minutes and amount)."""

    external_id: str
    key: str
    kind: ErpObject
    employee: str
    work: str
    posted_on: dt.date
    minutes: int
    amount: Money | None
    reverses: str | None = None
    invoiced: bool = False


@dataclass
class FakeErp(AbstractErp):
    """An ERP in memory. ``down`` makes every call raise ``SystemUnavailable``; ``refuse`` maps
    an idempotency key to the rejection a write under it gets; ``calls`` counts calls by name.

    ``customers`` holds each customer with its company (found by key or compact tax id);
    ``project_status`` is ``open`` (from ``create_project``), ``closed`` or ``cancelled``, with
    ``closed_from`` and ``cancel_reasons`` beside it, and postings on a project honour them.
    ``invoice_book`` holds the customer invoices (``_erp_invoices``).
    """

    instance: str = "erp-fake"
    prices_time: bool = True
    today: dt.date = field(default_factory=dt.date.today)
    down: bool = False
    refuse: dict[str, RequestRejected] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    keys: dict[tuple[ErpObject, str], str] = field(default_factory=dict)
    companies: dict[str, LegalEntity] = field(default_factory=dict)
    customers: dict[str, tuple[Customer, str]] = field(default_factory=dict)
    employees: dict[str, tuple[Worker, tuple[CostRate, ...], str]] = field(default_factory=dict)
    employee_ends: dict[str, dt.date] = field(default_factory=dict)
    """employee id -> its last day (``end_employee``)"""
    projects: dict[str, tuple[Project, str]] = field(default_factory=dict)
    project_status: dict[str, str] = field(default_factory=dict)
    closed_from: dict[str, dt.date] = field(default_factory=dict)
    cancel_reasons: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    """task id -> its project id"""
    lines: dict[str, FakeLine] = field(default_factory=dict)
    periods: dict[str, list[AccountingPeriod]] = field(default_factory=dict)
    invoice_book: FakeInvoiceBook = field(default_factory=FakeInvoiceBook)
    _next: int = 0

    def _call(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.down:
            raise SystemUnavailable(f"erp:{self.instance}", f"{name}: the fake ERP is down")

    def _ref(self, kind: ErpObject, external_id: str) -> ExternalRef:
        return ExternalRef(
            system=SystemKind.ERP, instance=self.instance, object_type=kind.value,
            external_id=external_id,
        )  # fmt: skip

    def _keyed(self, kind: ErpObject, key: str) -> tuple[str, bool]:
        """The record ``key`` made (created now if new)."""
        if key in self.refuse:
            raise self.refuse[key]
        if (kind, key) in self.keys:
            return self.keys[(kind, key)], False
        self._next += 1
        self.keys[(kind, key)] = str(self._next)
        return str(self._next), True

    def _written(self, kind: ErpObject, key: str) -> Written:
        external_id, created = self._keyed(kind, key)
        return Written(self._ref(kind, external_id), created)

    async def find(self, kind: ErpObject, key: str) -> ExternalRef | None:
        """The record written under ``key``, if any."""
        self._call("find")
        found = self.keys.get((kind, key))
        return self._ref(kind, found) if found else None

    async def ensure_legal_entity(self, entity: LegalEntity, *, key: str) -> Written:
        """Make the company and its monthly periods (last, this and next year)."""
        self._call("ensure_legal_entity")
        written = self._written(ErpObject.COMPANY, key)
        self.companies[written.external_id] = entity
        if written.created:
            self.periods[written.external_id] = [
                _month(entity.id, year, month)
                for year in range(self.today.year - 1, self.today.year + 2)
                for month in range(1, 13)
            ]
        return written

    async def upsert_customer(self, customer: Customer, *, company: str, key: str) -> Written:
        """Keep the customer of ``company`` under its key (an update replaces it)."""
        self._call("upsert_customer")
        written = self._written(ErpObject.CUSTOMER, key)
        self.customers[written.external_id] = (customer, company)
        return written

    async def company_party(self, company: str) -> ExternalRef | None:
        """None: like a NetSuite subsidiary, a fake company has no party of its own."""
        self._call("company_party")
        return None

    async def find_customer(
        self, *, key: str | None, tax_id: str | None, company: str
    ) -> ExternalRef | None:
        """The customer ``key`` made, else the company's customer of ``tax_id``."""
        self._call("find_customer")
        if key is not None and (found := self.keys.get((ErpObject.CUSTOMER, key))):
            return self._ref(ErpObject.CUSTOMER, found)
        wanted = compact_tax_id(tax_id) if tax_id else ""
        if not wanted:
            return None
        matches = [
            customer_id for customer_id, (customer, owner) in self.customers.items()
            if owner == company and customer.tax_profile.vat_id
            and compact_tax_id(customer.tax_profile.vat_id) == wanted
        ]  # fmt: skip
        if len(matches) > 1:
            raise RequestRejected("ambiguous_tax_id", f"customers {matches} carry {wanted}")
        return self._ref(ErpObject.CUSTOMER, matches[0]) if matches else None

    async def upsert_service(self, role: Role, bill_rate: Money, *, key: str) -> Written:
        """Keep the service item under its key."""
        self._call("upsert_service")
        return self._written(ErpObject.SERVICE, key)

    async def upsert_employee(
        self, worker: Worker, cost_rates: Sequence[CostRate], *, company: str, key: str
    ) -> Written:
        """Keep the employee of ``company`` with its cost rates."""
        self._call("upsert_employee")
        written = self._written(ErpObject.EMPLOYEE, key)
        self.employees[written.external_id] = (worker, tuple(cost_rates), company)
        return written

    async def end_employee(self, employee: str, *, last_day: dt.date | None, key: str) -> Written:
        """Set the held employee's last day (None: reopen); time after it is refused."""
        self._call("end_employee")
        if employee not in self.employees:
            raise NotFound(f"the fake ERP holds no employee {employee}")
        if last_day is None:
            self.employee_ends.pop(employee, None)
        else:
            self.employee_ends[employee] = last_day
        return Written(self._ref(ErpObject.EMPLOYEE, employee), False)

    async def create_project(
        self, project: Project, *, company: str, customer: str, service: str | None, key: str
    ) -> Written:
        """Keep the project shell; the code is minted from its id."""
        self._call("create_project")
        external_id, created = self._keyed(ErpObject.PROJECT, key)
        self.projects[external_id] = (project, company)
        self.project_status.setdefault(external_id, "open")
        return Written(self._ref(ErpObject.PROJECT, external_id), created, f"P-{external_id}")

    async def activate_project(self, project: str, *, key: str) -> Written:
        """Open the project; a cancelled or closed one is refused."""
        self._call("activate_project")
        status = self._status(project)
        if status != "open":
            raise RequestRejected(f"project_{status}", f"the fake's project {project} is {status}")
        return self._project_written(project)

    async def cancel_project(self, project: str, *, reason: str, key: str) -> Written:
        """Cancel the project unless something is booked on it (first reason kept)."""
        self._call("cancel_project")
        if self._status(project) != "cancelled":
            activity = self._activity(project)
            if not activity.empty:
                raise RequestRejected("project_has_activity", f"project {project}: {activity}")
            self.project_status[project] = "cancelled"
            self.cancel_reasons[project] = reason
        return self._project_written(project)

    async def close_project_for_time(
        self, project: str, *, closed_from: dt.date, key: str
    ) -> Written:
        """Close the project to postings dated on or after ``closed_from`` (first date kept)."""
        self._call("close_project_for_time")
        status = self._status(project)
        if status == "cancelled":
            raise RequestRejected("project_cancelled", f"the fake's project {project} is cancelled")
        if status == "open":
            self.project_status[project] = "closed"
            self.closed_from[project] = closed_from
        return self._project_written(project)

    async def project_activity(self, project: str) -> ProjectActivity:
        """The lines booked on the project and its tasks."""
        self._call("project_activity")
        self._status(project)
        return self._activity(project)

    def _status(self, project: str) -> str:
        if project not in self.project_status:
            raise NotFound(f"the fake ERP holds no project {project}")
        return self.project_status[project]

    def _activity(self, project: str) -> ProjectActivity:
        lines = [line for line in self.lines.values() if self._project_of(line.work) == project]
        return ProjectActivity(
            time_lines=sum(line.kind is ErpObject.TIME_LINE for line in lines),
            expense_lines=sum(line.kind is ErpObject.EXPENSE_LINE for line in lines),
            invoiced=any(line.invoiced for line in lines) or self.invoice_book.bills(project),
        )

    def _project_written(self, project: str) -> Written:
        return Written(self._ref(ErpObject.PROJECT, project), False, f"P-{project}")

    async def create_task(self, item: WorkItem, *, project: str, key: str) -> Written:
        """Keep a task under ``project``."""
        self._call("create_task")
        written = self._written(ErpObject.TASK, key)
        self.tasks[written.external_id] = project
        return written

    async def post_time(self, postings: Sequence[TimePosting]) -> list[Written]:
        """Keep each posting once per key; a closed period refuses the whole call."""
        self._call("post_time")
        for posting in postings:
            day = posting.entry.accounting_date or posting.entry.work_date
            self._check_taking(posting.work, day, "time")
            last_day = self.employee_ends.get(posting.employee)
            if last_day is not None and day > last_day:
                raise RequestRejected("employee_ended", f"{posting.employee} ended {last_day}")
            self._check_open(posting.work, day)
        answers = []
        for posting in postings:
            written = self._written(ErpObject.TIME_LINE, posting.key)
            if written.created:
                entry = posting.entry
                rate = entry.bill_rate
                amount = _priced(rate, entry.duration_minutes) if self.prices_time else None
                self.lines[written.external_id] = FakeLine(
                    written.external_id, posting.key, ErpObject.TIME_LINE, posting.employee,
                    posting.work, entry.accounting_date or entry.work_date,
                    entry.duration_minutes, amount,
                )  # fmt: skip
            answers.append(written)
        return answers

    async def reverse_time(self, reversal: TimeReversal) -> Written:
        """Keep a line of the opposite sign (once per key)."""
        self._call("reverse_time")
        return self._reverse(reversal.posted, reversal.key, reversal.entry.accounting_date)

    async def post_expenses(self, postings: Sequence[ExpensePosting]) -> list[Written]:
        """Keep each expense once per key."""
        self._call("post_expenses")
        answers = []
        for posting in postings:
            self._check_taking(posting.project, posting.expense.expense_date, "expenses")
            self._check_open(posting.project, posting.expense.expense_date)
            written = self._written(ErpObject.EXPENSE_LINE, posting.key)
            if written.created:
                expense = posting.expense
                self.lines[written.external_id] = FakeLine(
                    written.external_id, posting.key, ErpObject.EXPENSE_LINE, posting.employee,
                    posting.project, expense.expense_date, 0, expense.amount,
                )  # fmt: skip
            answers.append(written)
        return answers

    async def reverse_expense(self, reversal: ExpenseReversal) -> Written:
        """Keep an expense line of the opposite sign (once per key)."""
        self._call("reverse_expense")
        return self._reverse(reversal.posted, reversal.key, None)

    def _reverse(self, posted: str, key: str, on: dt.date | None) -> Written:
        original = self.lines.get(posted)
        if original is None:
            raise NotFound(f"the fake ERP holds no line {posted}")
        if original.invoiced:
            raise RequestRejected("already_invoiced", f"line {posted} is invoiced")
        if (original.kind, key) not in self.keys and (
            original.reverses is not None
            or any(line.reverses == posted for line in self.lines.values())
        ):
            raise RequestRejected("already_reversed", f"line {posted} is reversed or a reversal")
        written = self._written(original.kind, key)
        if written.created:
            amount = original.amount
            self.lines[written.external_id] = replace(
                original, external_id=written.external_id, key=key,
                posted_on=on or original.posted_on, minutes=-original.minutes,
                amount=Money(amount=-amount.amount, currency=amount.currency) if amount else None,
                reverses=posted,
            )  # fmt: skip
        return written

    async def create_draft_invoice(self, *, project: str, key: str) -> InvoiceDraft:
        """Draft the project's uninvoiced priced lines."""
        self._call("create_draft_invoice")
        open_lines = [
            line for line in self.lines.values()
            if self._project_of(line.work) == project and not line.invoiced and line.amount
        ]  # fmt: skip
        if not open_lines:
            raise RequestRejected("nothing_to_invoice", f"project {project} has nothing to bill")
        written = self._written(ErpObject.INVOICE, key)
        for line in open_lines:
            self.lines[line.external_id] = replace(line, invoiced=True)
        currency = open_lines[0].amount.currency if open_lines[0].amount else "USD"
        total = sum((line.amount.amount for line in open_lines if line.amount), Decimal(0))
        return InvoiceDraft(written.ref, Money(amount=total, currency=currency), len(open_lines))

    async def post_invoice(self, invoice: str, *, invoice_date: dt.date) -> PostedInvoice:
        """Number the invoice (its total is not kept by the fake: zero)."""
        self._call("post_invoice")
        return PostedInvoice(
            self._ref(ErpObject.INVOICE, invoice), f"INV-{invoice}", invoice_date,
            Money(amount=Decimal(0), currency="USD"),
        )  # fmt: skip

    async def draft_customer_invoice(self, invoice: CustomerInvoice) -> ErpInvoice:
        """Draft the invoice once per key, taxed per line."""
        self._call("draft_customer_invoice")
        return self.invoice_book.draft(self, invoice)

    async def post_customer_invoice(self, invoice: str, *, invoice_date: dt.date) -> ErpInvoice:
        """Number the drafted invoice (a posted one answered unchanged)."""
        self._call("post_customer_invoice")
        return self.invoice_book.post(self, invoice, invoice_date)

    async def customer_invoices(
        self, *, company: str, start: dt.date, end: dt.date
    ) -> list[ErpInvoice]:
        """The company's customer invoices and credit notes dated in [start, end]."""
        self._call("customer_invoices")
        return self.invoice_book.dated(self, company, start, end)

    async def list_periods(
        self, *, company: str, legal_entity_id: str, start: dt.date, end: dt.date
    ) -> list[AccountingPeriod]:
        """The company's periods overlapping [start, end]."""
        self._call("list_periods")
        return [
            p for p in self.periods.get(company, [])
            if p.start_date <= end and p.end_date >= start
        ]  # fmt: skip

    async def time_lines(self, *, company: str, start: dt.date, end: dt.date) -> list[ErpTimeLine]:
        """The company's time lines dated in [start, end]."""
        self._call("time_lines")
        return [
            ErpTimeLine(line.external_id, line.key, line.employee, self._project_of(line.work),
                        line.posted_on, line.minutes, line.amount)
            for line in self.lines.values()
            if line.kind is ErpObject.TIME_LINE and start <= line.posted_on <= end
            and self.projects.get(self._project_of(line.work), (None, None))[1] == company
        ]  # fmt: skip

    def change_source(self, object_type: str) -> ChangeSource:
        """No feed: the fake records no change history."""
        return _NoChanges()

    def close_period(self, company: str, on: dt.date, status: PeriodStatus) -> None:
        """Set the status of the company's period holding ``on`` (a test's finance team)."""
        self.periods[company] = [
            p.model_copy(update={"status": status}) if p.start_date <= on <= p.end_date else p
            for p in self.periods[company]
        ]

    def _project_of(self, work: str) -> str:
        return self.tasks.get(work, work)

    def _check_taking(self, work: str, on: dt.date, what: str) -> None:
        """Refuse a posting on a cancelled project, or dated from its closing on."""
        project = self._project_of(work)
        status = self.project_status.get(project)
        closed_from = self.closed_from.get(project)
        if status == "cancelled" or (closed_from is not None and on >= closed_from):
            raise RequestRejected(
                f"project_closed_for_{what}", f"project {project} takes no {what} on {on}"
            )

    def _check_open(self, work: str, on: dt.date) -> None:
        company = self.projects.get(self._project_of(work), (None, None))[1]
        for period in self.periods.get(company or "", []):
            if period.start_date <= on <= period.end_date and period.status != PeriodStatus.OPEN:
                raise PeriodClosed(f"the period {period.name} of {on} is {period.status.value}")


class _NoChanges:
    async def changes(
        self, after: Position | None, until: dt.datetime, limit: int
    ) -> Sequence[Change]:
        return []


def _month(legal_entity_id: str, year: int, month: int) -> AccountingPeriod:
    start = dt.date(year, month, 1)
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return AccountingPeriod(
        id=f"{legal_entity_id}:{year}-{month:02d}", legal_entity_id=legal_entity_id,
        name=f"{year}-{month:02d}", start_date=start, end_date=end, status=PeriodStatus.OPEN,
    )  # fmt: skip


def _priced(rate: Money | None, minutes: int) -> Money | None:
    if rate is None:
        return None
    return Money(amount=rate.amount * minutes / 60, currency=rate.currency)
