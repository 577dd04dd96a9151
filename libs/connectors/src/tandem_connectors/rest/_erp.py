"""The ERP port over a NetSuite-like REST ERP: upsert by externalId, bulk postings.

The idempotency key of every write is the record's ``external_id``: the ERP answers the record
it already holds for a key (200) instead of making a second one, so a write retried after a
lost answer is safe. Postings go in bulk requests of at most 300 items.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from tandem_connectors.errors import PeriodClosed, RequestRejected
from tandem_connectors.http import HttpTarget
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
from tandem_connectors.rest._changes import RecordChanges, pages
from tandem_connectors.rest._erp_invoices import RestErpInvoices
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

__all__ = ["RestErp"]

BULK_LIMIT = 300
_COLLECTIONS = {
    ErpObject.COMPANY: "subsidiaries",
    ErpObject.CUSTOMER: "customers",
    ErpObject.SERVICE: "service-items",
    ErpObject.EMPLOYEE: "employees",
    ErpObject.PROJECT: "projects",
    ErpObject.TASK: "tasks",
    ErpObject.TIME_LINE: "time-bills",
    ErpObject.EXPENSE_LINE: "expense-lines",
    ErpObject.INVOICE: "invoices",
    ErpObject.PERIOD: "accounting-periods",
}
# The master data ``find`` resolves (and invoices, by ``_erp_invoices``); postings are looked
# up by what answered them.
_FINDABLE = frozenset(
    {
        ErpObject.COMPANY,
        ErpObject.CUSTOMER,
        ErpObject.SERVICE,
        ErpObject.EMPLOYEE,
        ErpObject.PROJECT,
        ErpObject.TASK,
    }
)


class RestErp(AbstractErp):
    """The ERP port over one REST ERP instance (the sandbox ERP speaks this API)."""

    prices_time = True  # a time bill carries rate x hours

    def __init__(self, target: HttpTarget, *, instance: str, years: int = 1) -> None:
        self.instance = instance
        self._target = target
        self._invoices = RestErpInvoices(target, instance)
        self._years = years
        self._task_projects: dict[str, str] = {}
        self._currencies: dict[str, str] = {}

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._target.aclose()

    async def ensure_legal_entity(self, entity: LegalEntity, *, key: str) -> Written:
        """Make the subsidiary and its monthly periods (previous, current and next year)."""
        body = {
            "external_id": key,
            "name": entity.name,
            "country": entity.country,
            "currency": entity.functional_currency,
        }
        written = await self._upsert(ErpObject.COMPANY, body)
        year = date.today().year
        periods = [
            {
                "external_id": f"{key}:{y}-{m:02d}",
                "subsidiary_id": written.external_id,
                "name": f"{y}-{m:02d}",
                "start_date": date(y, m, 1).isoformat(),
                "end_date": _month_end(y, m).isoformat(),
            }
            for y in range(year - self._years, year + self._years + 1)
            for m in range(1, 13)
        ]
        await self._bulk(ErpObject.PERIOD, periods)
        return written

    async def upsert_customer(self, customer: Customer, *, company: str, key: str) -> Written:
        """Create the customer of ``company``, or update the one ``key`` already made."""
        body = {
            "external_id": key,
            "name": customer.name,
            "subsidiary_id": company,
            "currency": customer.currency,
            "country": customer.country,
            "terms_days": customer.payment_terms_days,
            "vat_id": customer.tax_profile.vat_id,
        }
        return await self._upsert(ErpObject.CUSTOMER, body)

    async def company_party(self, company: str) -> ExternalRef | None:
        """None: a subsidiary is invoiced as a customer of its sister, made by the caller."""
        return None

    async def find_customer(
        self, *, key: str | None, tax_id: str | None, company: str
    ) -> ExternalRef | None:
        """The customer ``key`` wrote, else the subsidiary's customer of ``tax_id`` (the ERP
        keeps VAT ids compact and lists customers by it); ``ambiguous_tax_id`` for several."""
        if key is not None and (found := await self.find(ErpObject.CUSTOMER, key)) is not None:
            return found
        if not tax_id or not (compact := compact_tax_id(tax_id)):
            return None
        params = {"vat_id": compact, "subsidiary_id": company, "limit": 2}
        items = (await self._target.request("GET", "/v1/customers", params=params)).json()["items"]
        if len(items) > 1:
            ids = ", ".join(item["id"] for item in items)
            raise RequestRejected("ambiguous_tax_id", f"customers {ids} carry tax id {compact}")
        return (
            self._ref(ErpObject.CUSTOMER, items[0]["id"], items[0].get("version"))
            if items
            else None
        )

    async def upsert_service(self, role: Role, bill_rate: Money, *, key: str) -> Written:
        """Create the hourly service item that prices ``role`` at ``bill_rate``."""
        body = {
            "external_id": key,
            "name": role.name,
            "rate": str(bill_rate.amount),
            "currency": bill_rate.currency,
        }
        return await self._upsert(ErpObject.SERVICE, body)

    async def upsert_employee(
        self, worker: Worker, cost_rates: Sequence[CostRate], *, company: str, key: str
    ) -> Written:
        """Create the employee of ``company`` with its dated cost rates."""
        body = {
            "external_id": key,
            "name": worker.worker_number,
            "subsidiary_id": company,
            "cost_rates": [
                {
                    "amount": str(rate.hourly_cost.amount),
                    "currency": rate.hourly_cost.currency,
                    "effective_from": rate.effective_from.isoformat(),
                }
                for rate in cost_rates
            ],
        }
        return await self._upsert(ErpObject.EMPLOYEE, body)

    async def end_employee(self, employee: str, *, last_day: date | None, key: str) -> Written:
        """Set the employee's ``end_date`` (NetSuite's release date); unchanged when set."""
        path = f"/v1/employees/{employee}"
        current = (await self._target.request("GET", path)).json()
        end_date = last_day.isoformat() if last_day else None
        if current.get("end_date") == end_date:
            return self._written(ErpObject.EMPLOYEE, current, False)
        body = {"end_date": end_date}
        reply = await self._target.request("PATCH", path, json=body, idempotency_key=key)
        return self._written(ErpObject.EMPLOYEE, reply.json(), False)

    async def create_project(
        self, project: Project, *, company: str, customer: str, service: str | None, key: str
    ) -> Written:
        """Create the project; ``Written.code`` is the code the ERP minted."""
        body = {
            "external_id": key,
            "name": project.name,
            "customer_id": customer,
            "currency": project.currency,
            "service_item_id": service,
            "status": "in_progress",
            "start_date": project.start_date.isoformat() if project.start_date else None,
            "end_date": project.end_date.isoformat() if project.end_date else None,
        }
        return await self._upsert(ErpObject.PROJECT, body)

    async def activate_project(self, project: str, *, key: str) -> Written:
        """Set the project in progress, open to time and expenses (the ERP's action)."""
        return await self._project_action(project, "activate", None, key)

    async def cancel_project(self, project: str, *, reason: str, key: str) -> Written:
        """Cancel the project; the ERP refuses when anything is booked on it."""
        return await self._project_action(project, "cancel", {"reason": reason[:500]}, key)

    async def close_project_for_time(self, project: str, *, closed_from: date, key: str) -> Written:
        """Close the project to postings dated on or after ``closed_from``."""
        body = {"closed_from": closed_from.isoformat()}
        return await self._project_action(project, "close-for-time", body, key)

    async def project_activity(self, project: str) -> ProjectActivity:
        """The project's time bills and expense lines, and whether any is invoiced."""
        body = (await self._target.request("GET", f"/v1/projects/{project}/activity")).json()
        return ProjectActivity(
            time_lines=int(body["time_bills"]),
            expense_lines=int(body["expense_lines"]),
            invoiced=bool(body["invoiced"]),
        )

    async def _project_action(
        self, project: str, action: str, body: dict[str, Any] | None, key: str
    ) -> Written:
        reply = await self._target.request(
            "POST", f"/v1/projects/{project}/{action}", json=body, idempotency_key=key
        )
        return self._written(ErpObject.PROJECT, reply.json(), False)

    async def create_task(self, item: WorkItem, *, project: str, key: str) -> Written:
        """Create a task under the ERP project ``project``."""
        body = {
            "external_id": key,
            "project_id": project,
            "name": item.name,
            "planned_minutes": item.planned_minutes,
        }
        written = await self._upsert(ErpObject.TASK, body)
        self._task_projects[written.external_id] = project
        return written

    async def post_time(self, postings: Sequence[TimePosting]) -> list[Written]:
        """Post approved time as time bills, in bulk; one ``Written`` per posting, in order."""
        items = [await self._time_bill(posting) for posting in postings]
        return await self._bulk(ErpObject.TIME_LINE, items)

    async def reverse_time(self, reversal: TimeReversal) -> Written:
        """Post the negative of a time bill (the ERP refuses in-place edits)."""
        day = reversal.entry.accounting_date or reversal.entry.work_date
        reply = await self._target.request(
            "POST",
            f"/v1/time-bills/{reversal.posted}/reversal",
            json={"external_id": reversal.key, "date": day.isoformat()},
            idempotency_key=reversal.key,
        )
        return self._written(ErpObject.TIME_LINE, reply.json(), reply.status_code == 201)

    async def post_expenses(self, postings: Sequence[ExpensePosting]) -> list[Written]:
        """Post approved expenses as expense lines, in bulk, one ``Written`` each, in order."""
        items = [
            {
                "external_id": p.key,
                "employee_id": p.employee,
                "project_id": p.project,
                "date": p.expense.expense_date.isoformat(),
                "category": p.expense.category,
                "amount": str(p.expense.amount.amount),
                "currency": p.expense.amount.currency,
                "billable": p.expense.billable,
                "markup_multiplier": str(p.expense.markup_multiplier),
            }
            for p in postings
        ]
        return await self._bulk(ErpObject.EXPENSE_LINE, items)

    async def reverse_expense(self, reversal: ExpenseReversal) -> Written:
        """Post the negative of an expense line, dated the expense's date (never an edit)."""
        reply = await self._target.request(
            "POST",
            f"/v1/expense-lines/{reversal.posted}/reversal",
            json={"external_id": reversal.key, "date": reversal.expense.expense_date.isoformat()},
            idempotency_key=reversal.key,
        )
        return self._written(ErpObject.EXPENSE_LINE, reply.json(), reply.status_code == 201)

    async def create_draft_invoice(self, *, project: str, key: str) -> InvoiceDraft:
        """Draft the invoice of the project's unbilled billable postings."""
        return await self._invoices.draft_project(project=project, key=key)

    async def post_invoice(self, invoice: str, *, invoice_date: date) -> PostedInvoice:
        """Post a draft invoice on ``invoice_date``; ``PeriodClosed`` if its period is closed."""
        return await self._invoices.post_project(invoice, invoice_date=invoice_date)

    async def draft_customer_invoice(self, invoice: CustomerInvoice) -> ErpInvoice:
        """Draft the customer invoice under ``invoice.key`` (the ERP taxes its lines)."""
        return await self._invoices.draft(invoice)

    async def post_customer_invoice(self, invoice: str, *, invoice_date: date) -> ErpInvoice:
        """Post the drafted customer invoice: the ERP mints its number."""
        return await self._invoices.post(invoice, invoice_date=invoice_date)

    async def customer_invoices(self, *, company: str, start: date, end: date) -> list[ErpInvoice]:
        """The subsidiary's customer invoices and credit notes dated in [start, end]."""
        return await self._invoices.dated(company=company, start=start, end=end)

    async def list_periods(
        self, *, company: str, legal_entity_id: str, start: date, end: date
    ) -> list[AccountingPeriod]:
        """The subsidiary's periods overlapping [start, end], oldest first."""
        rows = await pages(self._target, "/v1/accounting-periods", {"subsidiary_id": company})
        periods = [
            AccountingPeriod(
                id=f"{self.instance}:{row['id']}",
                legal_entity_id=legal_entity_id,
                name=row["name"],
                start_date=date.fromisoformat(row["start_date"]),
                end_date=date.fromisoformat(row["end_date"]),
                status=PeriodStatus(row["status"]),
                source_status=row["status"],
                refs=(self._ref(ErpObject.PERIOD, row["id"], row["version"]),),
            )
            for row in rows
        ]
        overlapping = [p for p in periods if p.start_date <= end and p.end_date >= start]
        return sorted(overlapping, key=lambda p: p.start_date)

    async def close_period(self, period: str) -> None:
        """Close an accounting period (not on the port: finance does this; tests and demos)."""
        await self._target.request(
            "POST", f"/v1/accounting-periods/{period}/close", idempotency_key=f"close:{period}"
        )

    async def time_lines(self, *, company: str, start: date, end: date) -> list[ErpTimeLine]:
        """The subsidiary's time bills dated in [start, end] (reversals negative)."""
        bills = await pages(self._target, "/v1/time-bills")
        return [
            ErpTimeLine(
                external_id=bill["id"],
                key=bill.get("external_id"),
                employee=bill["employee_id"],
                project=bill["project_id"],
                posted_on=date.fromisoformat(bill["date"]),
                minutes=int(bill["minutes"]),
                amount=Money(amount=Decimal(bill["amount"]), currency=bill["currency"]),
            )
            for bill in bills
            if bill.get("subsidiary_id") == company
            and start <= date.fromisoformat(bill["date"]) <= end
        ]

    async def find(self, kind: ErpObject, key: str) -> ExternalRef | None:
        """The record of ``kind`` whose ``external_id`` is ``key`` (the ERP's lookup), or None;
        an invoice is the customer invoice drafted under ``key``, else the project's."""
        if kind is ErpObject.INVOICE:
            return await self._invoices.find(key)
        if kind not in _FINDABLE:
            raise RequestRejected("unsupported", f"the REST ERP cannot find a {kind} by its key")
        path = f"/v1/{_COLLECTIONS[kind]}"
        reply = await self._target.request("GET", path, params={"external_id": key, "limit": 1})
        items = reply.json()["items"]
        return self._ref(kind, items[0]["id"], items[0].get("version")) if items else None

    def change_source(self, object_type: str) -> ChangeSource:
        """Changed records of ``object_type`` (an ``ErpObject`` value)."""
        return RecordChanges(self._target, f"/v1/{_COLLECTIONS[ErpObject(object_type)]}")

    async def _time_bill(self, posting: TimePosting) -> dict[str, Any]:
        entry = posting.entry
        project, task = posting.work, None
        if posting.work.startswith("ptk"):
            task, project = posting.work, await self._project_of(posting.work)
        rate = entry.bill_rate
        currency = rate.currency if rate else await self._currency_of(project)
        return {
            "external_id": posting.key,
            "employee_id": posting.employee,
            "project_id": project,
            "task_id": task,
            "date": (entry.accounting_date or entry.work_date).isoformat(),
            "minutes": entry.duration_minutes,
            "rate": str(rate.amount) if rate else "0",
            "currency": currency,
            "billable": entry.billable,
        }

    async def _currency_of(self, project: str) -> str:
        if project not in self._currencies:
            reply = await self._target.request("GET", f"/v1/projects/{project}")
            self._currencies[project] = reply.json()["currency"]
        return self._currencies[project]

    async def _project_of(self, task: str) -> str:
        if task not in self._task_projects:
            reply = await self._target.request("GET", f"/v1/tasks/{task}")
            self._task_projects[task] = reply.json()["project_id"]
        return self._task_projects[task]

    async def _upsert(self, kind: ErpObject, body: dict[str, Any]) -> Written:
        path = f"/v1/{_COLLECTIONS[kind]}"
        reply = await self._target.request(
            "POST", path, json=body, idempotency_key=body["external_id"]
        )
        return self._written(kind, reply.json(), reply.status_code == 201)

    async def _bulk(self, kind: ErpObject, items: list[dict[str, Any]]) -> list[Written]:
        written: list[Written] = []
        path = f"/v1/{_COLLECTIONS[kind]}/bulk"
        for start in range(0, len(items), BULK_LIMIT):
            chunk = items[start : start + BULK_LIMIT]
            key = f"bulk:{chunk[0]['external_id']}:{len(chunk)}"
            reply = await self._target.request(
                "POST", path, json={"items": chunk}, idempotency_key=key
            )
            for result in reply.json()["results"]:
                if result["status"] == "error":
                    raise _rejection(result["error"], chunk[result["index"]]["external_id"])
                written.append(self._written(kind, result["record"], result["status"] == "created"))
        return written

    def _written(self, kind: ErpObject, record: dict[str, Any], created: bool) -> Written:
        return Written(
            self._ref(kind, record["id"], record.get("version")), created, record.get("code")
        )

    def _ref(self, kind: ErpObject, record_id: str, version: Any) -> ExternalRef:
        return ExternalRef(
            system=SystemKind.ERP,
            instance=self.instance,
            object_type=kind.value,
            external_id=record_id,
            external_version=str(version) if version is not None else None,
        )


def _rejection(error: dict[str, Any], key: str) -> RequestRejected:
    """The typed error of a failed bulk item (the rest of the batch is written and idempotent)."""
    code, detail = str(error.get("code", "rejected")), f"{key}: {error.get('detail', '')}"
    if code == "PERIOD_CLOSED":
        return PeriodClosed(detail)
    return RequestRejected(code.lower(), detail[:2000])


def _month_end(year: int, month: int) -> date:
    following = date(year + month // 12, month % 12 + 1, 1)
    return date.fromordinal(following.toordinal() - 1)
