"""``TrytonErp``: the ERP port on a real Tryton 8.2 over JSON-RPC.

Several legal entities share one Tryton database as several companies; every write names its
company explicitly, and calls that default a company get it in the context. Idempotency keys
are stored with the records (see ``_keys``, which also finds a record by its key); time and
its reversals are described in ``_postings``, intercompany time (a worker's employee in the
project's company) in ``_intercompany``, expenses and their credit notes in ``_expenses``,
draft-invoice recovery in ``_invoicing``, customer invoices with their lines and taxes in
``_invoices``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from tandem_connectors.errors import NotFound
from tandem_connectors.polling import ChangeSource
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
from tandem_connectors.tryton import (
    _expenses,
    _invoicing,
    _masters,
    _postings,
    _projects,
    _setup,
)
from tandem_connectors.tryton._changes import TrytonChangeSource
from tandem_connectors.tryton._client import TrytonClient
from tandem_connectors.tryton._invoices import CustomerInvoices
from tandem_connectors.tryton._keys import find_record
from tandem_connectors.tryton._mapping import (
    external_ref,
    fiscal_years_around,
    money_of,
    period_status,
)
from tandem_contracts import ExternalRef, Money
from tandem_contracts.entities import (
    AccountingPeriod,
    CostRate,
    Customer,
    LegalEntity,
    Project,
    Role,
    Worker,
    WorkItem,
)

__all__ = ["TrytonErp"]


class TrytonErp(AbstractErp):
    """The ERP port on one Tryton database; ``today`` dates the fiscal years it opens."""

    def __init__(
        self,
        client: TrytonClient,
        *,
        instance: str,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self.instance = instance
        self._client = client
        self._today = today
        self._invoices = CustomerInvoices(client, instance)

    def _written(
        self, kind: ErpObject, record: int, created: bool, code: str | None = None
    ) -> Written:
        return Written(external_ref(self.instance, kind, record), created, code)

    async def ensure_legal_entity(self, entity: LegalEntity, *, key: str) -> Written:
        """Make the company with its functional currency, chart and open fiscal periods."""
        company, created = await _setup.ensure_company(self._client, entity, key=key)
        await _setup.ensure_chart(self._client, company)
        await _setup.ensure_fiscal_years(self._client, company, fiscal_years_around(self._today()))
        await _setup.ensure_service_category(self._client, company, _masters.SERVICE_CATEGORY)
        return self._written(ErpObject.COMPANY, company, created)

    async def upsert_customer(self, customer: Customer, *, company: str, key: str) -> Written:
        """Create the customer party, or update the one ``key`` already made.

        Tryton parties are shared by every company of the database, so ``company`` is unused.
        """
        party, created = await _masters.upsert_customer(self._client, customer, key)
        return self._written(ErpObject.CUSTOMER, party, created)

    async def company_party(self, company: str) -> ExternalRef | None:
        """The company's own party (``company.company.party``): Tryton's parties belong to no
        company, so a sister company invoices this one as that party, never a second one."""
        rows = await self._client.search_read(
            "company.company", [["id", "=", int(company)]], ["party"], limit=1
        )
        if not rows:
            raise NotFound(f"Tryton has no company {company}")
        return external_ref(self.instance, ErpObject.CUSTOMER, int(rows[0]["party"]))

    async def find_customer(
        self, *, key: str | None, tax_id: str | None, company: str
    ) -> ExternalRef | None:
        """The party ``key`` wrote, else the customer party whose VAT identifier is
        ``tax_id``; Tryton's parties belong to no company, so ``company`` is unused."""
        if key is not None and (found := await self.find(ErpObject.CUSTOMER, key)) is not None:
            return found
        party = await _masters.find_customer(self._client, tax_id) if tax_id else None
        return None if party is None else external_ref(self.instance, ErpObject.CUSTOMER, party)

    async def upsert_service(self, role: Role, bill_rate: Money, *, key: str) -> Written:
        """Create the hourly service item that prices ``role`` at ``bill_rate``."""
        product, created = await _masters.upsert_service(self._client, role, bill_rate, key)
        return self._written(ErpObject.SERVICE, product, created)

    async def upsert_employee(
        self, worker: Worker, cost_rates: Sequence[CostRate], *, company: str, key: str
    ) -> Written:
        """Create the employee of ``company`` with its dated cost rates (added, never rewritten)."""
        employee, created = await _masters.upsert_employee(
            self._client, worker, cost_rates, int(company), key
        )
        return self._written(ErpObject.EMPLOYEE, employee, created)

    async def end_employee(self, employee: str, *, last_day: dt.date | None, key: str) -> Written:
        """Set the employee's ``end_date``: Tryton refuses timesheet lines after it."""
        await _masters.end_employee(self._client, int(employee), last_day)
        return self._written(ErpObject.EMPLOYEE, int(employee), False)

    async def create_project(
        self, project: Project, *, company: str, customer: str, service: str | None, key: str
    ) -> Written:
        """Create the project shell; ``Written.code`` is the project number Tryton minted."""
        values = await _masters.project_values(
            self._client, project, int(company), int(customer), _id(service)
        )
        work, created, number = await _masters.create_work(self._client, values, key)
        return self._written(ErpObject.PROJECT, work, created, number)

    async def activate_project(self, project: str, *, key: str) -> Written:
        """Set the project work *Open* and available on timesheets (see ``_projects``)."""
        number = await _projects.activate(self._client, int(project))
        return self._written(ErpObject.PROJECT, int(project), False, number)

    async def cancel_project(self, project: str, *, reason: str, key: str) -> Written:
        """Set the project's works *Cancelled*, off timesheets, with a note of ``reason``."""
        number = await _projects.cancel(self._client, int(project), reason, key)
        return self._written(ErpObject.PROJECT, int(project), False, number)

    async def close_project_for_time(
        self, project: str, *, closed_from: dt.date, key: str
    ) -> Written:
        """End the works' timesheets the day before ``closed_from``; status *Closed for time*."""
        number = await _projects.close_for_time(self._client, int(project), closed_from)
        return self._written(ErpObject.PROJECT, int(project), False, number)

    async def project_activity(self, project: str) -> ProjectActivity:
        """Timesheet lines and expense invoices on the project's works; invoiced or not."""
        return await _projects.activity(self._client, int(project))

    async def create_task(self, item: WorkItem, *, project: str, key: str) -> Written:
        """Create a task under the ERP project ``project``."""
        values = await _masters.task_values(self._client, item, int(project))
        work, created, number = await _masters.create_work(self._client, values, key)
        return self._written(ErpObject.TASK, work, created, number)

    async def post_time(self, postings: Sequence[TimePosting]) -> list[Written]:
        """Post approved time in one batched create; one ``Written`` per posting, in order."""
        lines = await _postings.post_time(self._client, postings)
        return [self._written(ErpObject.TIME_LINE, line, created) for line, created in lines]

    async def reverse_time(self, reversal: TimeReversal) -> Written:
        """Reverse a posted, uninvoiced time line (see ``_postings`` for how)."""
        marker, created = await _postings.reverse_time(self._client, reversal)
        return self._written(ErpObject.TIME_LINE, marker, created)

    async def post_expenses(self, postings: Sequence[ExpensePosting]) -> list[Written]:
        """Post approved expenses as posted supplier invoices from the employees."""
        invoices = await _expenses.post_expenses(self._client, postings)
        return [self._written(ErpObject.EXPENSE_LINE, inv, created) for inv, created in invoices]

    async def reverse_expense(self, reversal: ExpenseReversal) -> Written:
        """Credit the expense's supplier invoice with a posted credit note (see ``_expenses``)."""
        credit, created = await _expenses.reverse_expense(self._client, reversal)
        return self._written(ErpObject.EXPENSE_LINE, credit, created)

    async def create_draft_invoice(self, *, project: str, key: str) -> InvoiceDraft:
        """Draft the invoice of the project's billable work not yet invoiced."""
        row = await _invoicing.draft_invoice(self._client, int(project), key)
        total = money_of(row["total_amount"], row["currency."]["code"])
        ref = external_ref(self.instance, ErpObject.INVOICE, row["id"])
        return InvoiceDraft(ref, total, len(row["lines"]))

    async def post_invoice(self, invoice: str, *, invoice_date: dt.date) -> PostedInvoice:
        """Post a draft invoice on ``invoice_date``; ``PeriodClosed`` if its period is closed."""
        row = await _invoicing.post_invoice(self._client, int(invoice), invoice_date)
        return PostedInvoice(
            external_ref(self.instance, ErpObject.INVOICE, row["id"]),
            row["number"],
            row["invoice_date"],
            money_of(row["total_amount"], row["currency."]["code"]),
        )

    async def draft_customer_invoice(self, invoice: CustomerInvoice) -> ErpInvoice:
        """Draft the ``out`` invoice keyed ``invoice.key``, its lines taxed by Tryton."""
        return await self._invoices.draft(invoice)

    async def post_customer_invoice(self, invoice: str, *, invoice_date: dt.date) -> ErpInvoice:
        """Date and post the customer invoice (Tryton mints its number); posted: as it is."""
        return await self._invoices.post(int(invoice), invoice_date)

    async def customer_invoices(
        self, *, company: str, start: dt.date, end: dt.date
    ) -> list[ErpInvoice]:
        """The company's ``out`` invoices dated in [start, end], and its undated drafts."""
        return await self._invoices.listed(int(company), start, end)

    async def time_lines(self, *, company: str, start: dt.date, end: dt.date) -> list[ErpTimeLine]:
        """The company's timesheet lines dated in [start, end] (a reversal marker is 0 min)."""
        return await _postings.time_lines(self._client, int(company), start, end)

    async def list_periods(
        self, *, company: str, legal_entity_id: str, start: dt.date, end: dt.date
    ) -> list[AccountingPeriod]:
        """The accounting periods of ``company`` overlapping [start, end], oldest first."""
        rows = await _invoicing.periods(self._client, int(company), start, end)
        return [
            AccountingPeriod(
                id=f"tryton-period-{row['id']}",
                legal_entity_id=legal_entity_id,
                name=row["name"],
                start_date=row["start_date"],
                end_date=row["end_date"],
                status=period_status(row["state"]),
                source_status=row["state"],
                refs=(external_ref(self.instance, ErpObject.PERIOD, row["id"]),),
            )
            for row in rows
        ]

    async def close_period(self, company: str, period_date: dt.date) -> str:
        """Close the company's period holding ``period_date`` (for tests and demos)."""
        return str(await _invoicing.close_period(self._client, int(company), period_date))

    async def find(self, kind: ErpObject, key: str) -> ExternalRef | None:
        """The record of ``kind`` written under ``key`` (see ``_keys.find_record``; a customer
        invoice: ``_invoices``), or None."""
        if kind is ErpObject.INVOICE:
            record = await self._invoices.find(key)
        else:
            record = await find_record(self._client, kind, key)
        return None if record is None else external_ref(self.instance, kind, record)

    def change_source(self, object_type: str) -> ChangeSource:
        """The feed of changed records of the Tryton model ``object_type``."""
        return TrytonChangeSource(self._client, object_type)


def _id(external_id: str | None) -> int | None:
    return None if external_id is None else int(external_id)
