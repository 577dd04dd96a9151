"""Master data in Tryton: customers, hourly services, employees with dated costs, projects."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random

from tandem_connectors.errors import NotFound, RequestRejected
from tandem_connectors.taxids import compact_tax_id
from tandem_connectors.tryton._client import TrytonClient
from tandem_connectors.tryton._keys import EVERY_RECORD, find_keys, not_a_customer
from tandem_connectors.tryton._mapping import EU_COUNTRIES, company_context, invoice_method
from tandem_connectors.tryton._setup import ensure_payment_term
from tandem_contracts import Money
from tandem_contracts.entities import CostRate, Customer, Project, Role, Worker, WorkItem

__all__ = [
    "SERVICE_CATEGORY",
    "again_when",
    "create_work",
    "employ",
    "end_employee",
    "find_customer",
    "oldest_employee",
    "record_taken",
    "upsert_customer",
    "upsert_employee",
    "upsert_service",
]

SERVICE_CATEGORY = "Tandem services"
# What Tryton's refusal of an identifier says (party.msg_invalid_code, in English).
_INVALID_CODE = "is not valid"

_NUMBER_TAKEN = "must be unique"
# company.employee_cost_price's unique (employee, date), in English.
_COST_DATE_TAKEN = "one cost price by date"
_CREATE_ATTEMPTS = 6
# How long a writer that finds an employee's party without its employee waits before making
# the employee itself: longer than one create takes Tryton, so an employee another writer is
# making (or was making when it was killed: Tryton commits its transaction all the same) is
# committed by then and found.
EMPLOYEE_SETTLE_SECONDS = 1.0


async def upsert_customer(client: TrytonClient, customer: Customer, key: str) -> tuple[int, bool]:
    """Create the customer party with key ``key`` as its code, or update the one it made.

    The VAT id (``tax_profile.vat_id``), compact, is the party's identifier of type
    ``eu_vat`` for a customer of an EU country — Tryton checks it, and refuses an invalid one,
    answered as ``RequestRejected("invalid_tax_id")`` — else an untyped identifier; an update
    rewrites that identifier when the number changed. No VAT id leaves identifiers as they are.
    """
    term = await ensure_payment_term(client, customer.payment_terms_days)
    values: dict[str, Any] = {"name": customer.name, "customer_payment_term": term}
    vat = compact_tax_id(customer.tax_profile.vat_id or "")
    kind = "eu_vat" if customer.country in EU_COUNTRIES else None
    found = await find_keys(client, "party.party", [key])
    with _tax_id_refused(vat):
        if key in found:
            await client.write("party.party", [found[key]], values)
            if vat:
                await _rewrite_tax_id(client, found[key], vat, kind)
            return found[key], False
        # An invoice needs the party's invoice address; the street stays empty when unknown.
        address = {"street": customer.billing_address or ""}
        values |= {"code": key, "addresses": [["create", [address]]]}
        if vat:
            values["identifiers"] = [["create", [{"type": kind, "code": vat}]]]
        [party] = await client.create("party.party", [values])
    return party, True


async def _rewrite_tax_id(client: TrytonClient, party: int, vat: str, kind: str | None) -> None:
    """Make the party's VAT identifier (``eu_vat`` or untyped) hold ``vat``."""
    rows = await client.search_read(
        "party.identifier",
        [["party", "=", party], ["type", "in", ["eu_vat", None]]],
        ["code_compact", "type"],
        order=[("id", "ASC")],
    )
    if any(row["code_compact"] == vat and row["type"] == kind for row in rows):
        return
    if rows:
        await client.write("party.identifier", [rows[0]["id"]], {"type": kind, "code": vat})
    else:
        await client.create("party.identifier", [{"party": party, "type": kind, "code": vat}])


@contextlib.contextmanager
def _tax_id_refused(vat: str) -> Iterator[None]:
    try:
        yield
    except RequestRejected as exc:
        if vat and _INVALID_CODE in str(exc):
            raise RequestRejected("invalid_tax_id", f"Tryton refused the VAT id {vat}") from exc
        raise


async def find_customer(client: TrytonClient, tax_id: str) -> int | None:
    """The customer party whose VAT identifier is ``tax_id`` (compared compact), or None;
    ``RequestRejected("ambiguous_tax_id")`` when several parties carry it."""
    vat = compact_tax_id(tax_id)
    if not vat:
        return None
    rows = await client.search_read(
        "party.identifier", [["code_compact", "=", vat]], ["party"], order=[("id", "ASC")]
    )
    parties = sorted({row["party"] for row in rows})
    customers = [party for party in parties if not await not_a_customer(client, party)]
    if len(customers) > 1:
        raise RequestRejected("ambiguous_tax_id", f"Tryton parties {customers} carry {vat}")
    return customers[0] if customers else None


async def upsert_service(
    client: TrytonClient, role: Role, bill_rate: Money, key: str
) -> tuple[int, bool]:
    """Create the hourly service of ``role`` at ``bill_rate`` in each company of that currency."""
    companies = await client.search(
        "company.company", [["currency.code", "=", bill_rate.currency]], order=[("id", "ASC")]
    )
    if not companies:
        raise RequestRejected("no_company_in_currency", f"no company keeps {bill_rate.currency}")
    found = await find_keys(client, "product.template", [key])
    created = key not in found
    if created:
        found[key] = await _service_template(client, role, key, companies[0])
    for company in companies:
        # The list price is per company in Tryton: set it in each company of the currency.
        await client.write(
            "product.template",
            [found[key]],
            {"name": role.name, "list_price": bill_rate.amount},
            context=company_context(company),
        )
    [product] = await client.search("product.product", [["template", "=", found[key]]], limit=1)
    return product, created


async def _service_template(client: TrytonClient, role: Role, key: str, company: int) -> int:
    [hour] = await client.search("product.uom", [["symbol", "=", "h"]], limit=1)
    [category] = await client.search("product.category", [["name", "=", SERVICE_CATEGORY]], limit=1)
    values = {
        "name": role.name,
        "code": key,
        "type": "service",
        "default_uom": hour,
        "list_price": Decimal(0),
        "account_category": category,
        "products": [["create", [{}]]],
    }
    [template] = await client.create("product.template", [values], context=company_context(company))
    return template


async def upsert_employee(
    client: TrytonClient, worker: Worker, rates: Sequence[CostRate], company: int, key: str
) -> tuple[int, bool]:
    """Create the employee of ``company`` (its party keyed ``key``) and add the cost rates it
    lacks (those in the company's currency: ``_in_company_currency``). A party has at most one
    employee per company (a worker booked on a sister company's projects has one there too,
    ``_intercompany``), so the key is looked up in ``company``.

    Two services may make the same employee at the same moment (staffing-sync onboarding a
    worker, time-expense posting their first time): Tryton then refuses the second party code
    or the second cost price of a date ("must be unique", "one cost price by date"), and the
    whole look-up is made again after a jittered pause, finding what the other made. The party
    is made before its employee, so a party found without one means another writer may be
    making it: it is looked for again after ``EMPLOYEE_SETTLE_SECONDS`` before one is made.
    Two employees of the same party made at once in a company are settled on the oldest there
    (``employ``).
    """
    rates = await _in_company_currency(client, rates, company)
    in_company = [["company", "=", company]]
    async for attempt in again_when(record_taken):
        with attempt:
            found = await find_keys(client, "company.employee", [key], domain=in_company)
            created = False
            if key in found:
                employee = found[key]
            else:
                employee, created = await _employee(client, worker, company, key)
            rows = await client.search_read(
                "company.employee_cost_price", [["employee", "=", employee]], ["date"]
            )
            dated = {row["date"] for row in rows}
            # A cost rate is history: a new date adds a row, a known date is never rewritten.
            new = [
                {"employee": employee, "date": rate.effective_from,
                 "cost_price": rate.hourly_cost.amount}
                for rate in rates
                if rate.effective_from not in dated
            ]  # fmt: skip
            if new:
                await client.create("company.employee_cost_price", new)
    return employee, created


async def _in_company_currency(
    client: TrytonClient, rates: Sequence[CostRate], company: int
) -> list[CostRate]:
    """The rates in the company's currency: a Tryton cost price has no currency of its own (it
    is the company's), so a rate in another one (a worker's rate before a transfer from an
    entity of another currency) is not this employee's. Rates given, none of them in the
    company's currency: refused, rather than an employee costed at nothing or at a figure in
    the wrong currency."""
    [row] = await client.read("company.company", [company], ["currency.code"])
    currency = row["currency."]["code"]
    kept = [rate for rate in rates if rate.hourly_cost.currency == currency]
    if rates and not kept:
        given = sorted({rate.hourly_cost.currency for rate in rates})
        raise RequestRejected(
            "cost_currency_mismatch",
            f"Tryton company {company} keeps {currency}; the cost rates are in {', '.join(given)}",
        )
    return kept


def again_when(taken: Callable[[BaseException], bool]) -> AsyncRetrying:
    """A keyed look-up-or-create made again, after a jittered pause, while Tryton refuses it
    because another writer just made the same record (``taken``); then the refusal stands."""
    return AsyncRetrying(
        retry=retry_if_exception(taken),
        stop=stop_after_attempt(_CREATE_ATTEMPTS),
        wait=wait_random(0, 0.3),
        reraise=True,
    )


def record_taken(error: BaseException) -> bool:
    """Whether Tryton refused a write because another writer just made the same record."""
    return isinstance(error, RequestRejected) and (
        _NUMBER_TAKEN in str(error) or _COST_DATE_TAKEN in str(error)
    )


async def end_employee(client: TrytonClient, employee: int, last_day: dt.date | None) -> None:
    """Set the employee's ``end_date`` to ``last_day`` (unchanged when it is already; None
    clears it, reopening the employee).

    Tryton's own domain on ``timesheet.line.employee`` then refuses time dated after it.
    A last day before the employee's start is refused here, before Tryton's domain does.
    The party's employees of sister companies (``_intercompany``) are the same employment:
    they end with it, in the same write.
    """
    fields = ["start_date", "end_date", "company", "party"]
    # A search, not a read: reading a missing id is refused as an error, not answered empty.
    rows = await client.search_read(
        "company.employee", [["id", "=", employee]], fields, context=EVERY_RECORD
    )
    if not rows:
        raise NotFound(f"Tryton has no employee {employee}")
    row = rows[0]
    if row["end_date"] == last_day:
        return
    if last_day is not None and row["start_date"] is not None and last_day < row["start_date"]:
        raise RequestRejected(
            "ends_before_start",
            f"Tryton employee {employee} starts {row['start_date']}, after {last_day}",
        )
    domain = [["party", "=", row["party"]], ["company", "!=", row["company"]]]
    sisters = await client.search("company.employee", domain, context=EVERY_RECORD)
    context = company_context(row["company"])
    await client.write(
        "company.employee", [employee, *sisters], {"end_date": last_day}, context=context
    )


async def _employee(
    client: TrytonClient, worker: Worker, company: int, key: str
) -> tuple[int, bool]:
    # Two creates: the party first, keyed, so a crash before the employee is resumed with it.
    parties = await client.search("party.party", [["code", "=", key]], limit=1)
    if parties:
        return await employ(client, parties[0], company, worker.hire_date)
    values = {"name": worker.worker_number, "code": key, "addresses": [["create", [{}]]]}
    parties = await client.create("party.party", [values])
    return await _settled_employee(client, parties[0], company, worker.hire_date)


async def employ(
    client: TrytonClient,
    party: int,
    company: int,
    start: dt.date | None,
    end: dt.date | None = None,
) -> tuple[int, bool]:
    """The party's employee of ``company``, made (from ``start``, until ``end``) when there is
    none after ``EMPLOYEE_SETTLE_SECONDS``: it may be on its way from another writer, or from
    one killed mid-create (Tryton commits its transaction all the same)."""
    await asyncio.sleep(EMPLOYEE_SETTLE_SECONDS)
    settled = await oldest_employee(client, party, company)
    if settled is not None:
        return settled, False
    return await _settled_employee(client, party, company, start, end)


async def _settled_employee(
    client: TrytonClient,
    party: int,
    company: int,
    start: dt.date | None,
    end: dt.date | None = None,
) -> tuple[int, bool]:
    values = {"party": party, "company": company, "start_date": start, "end_date": end}
    [made] = await client.create("company.employee", [values], context=company_context(company))
    # Tryton does not keep a party to one employee per company: another writer may have made
    # one for this party there at the same moment. Both settle on the oldest; a newer one is
    # deleted (no time or cost can have been written to it yet: its maker has not answered).
    oldest = await oldest_employee(client, party, company)
    if oldest != made:
        await client.delete("company.employee", [made])
    return oldest if oldest is not None else made, oldest == made


async def oldest_employee(client: TrytonClient, party: int, company: int) -> int | None:
    """The party's oldest employee of ``company`` (ended or not yet started too), or None."""
    found = await client.search(
        "company.employee", [["party", "=", party], ["company", "=", company]],
        order=[("id", "ASC")], limit=1, context=EVERY_RECORD,
    )  # fmt: skip
    return int(found[0]) if found else None


async def create_work(
    client: TrytonClient, values: dict[str, Any], key: str
) -> tuple[int, bool, str | None]:
    """Create the project work ``values`` keyed ``key`` (or find it); answer id and number.

    Tryton draws the project's number from its sequence; two creations at the same moment can
    draw the same one (seen on SQLite) and the second is refused "must be unique". The work
    is keyed, so it is looked for and drawn again after a jittered pause, a few times, before
    the refusal stands.
    """
    context = company_context(values["company"])
    async for attempt in again_when(_number_taken):
        with attempt:
            found = await find_keys(client, "project.work", [key])
            created = key not in found
            if created:
                [found[key]] = await client.create(
                    "project.work",
                    [{**values, "comment": key, "timesheet_available": True}],
                    context=context,
                )
    [row] = await client.read("project.work", [found[key]], ["number"])
    return found[key], created, row["number"]


def _number_taken(error: BaseException) -> bool:
    return isinstance(error, RequestRejected) and _NUMBER_TAKEN in str(error)


async def project_values(
    client: TrytonClient, project: Project, company: int, customer: int, service: int | None
) -> dict[str, Any]:
    """The ``project.work`` values of a canonical project."""
    values: dict[str, Any] = {
        "name": project.name,
        "type": "project",
        "company": company,
        "party": customer,
        "project_invoice_method": invoice_method(project.billing_model),
    }
    return values | await _priced(client, service, company)


async def task_values(client: TrytonClient, item: WorkItem, project: int) -> dict[str, Any]:
    """The ``project.work`` values of a task under ``project``, priced like its project."""
    rows = await client.read("project.work", [project], ["company", "product", "type"])
    if not rows or rows[0]["type"] != "project":
        raise NotFound(f"Tryton has no project work {project}")
    company, product = rows[0]["company"], rows[0]["product"]
    values = {"name": item.name, "type": "task", "parent": project, "company": company}
    return values | await _priced(client, product, company)


async def _priced(client: TrytonClient, service: int | None, company: int) -> dict[str, Any]:
    # Tryton copies the product's price onto the work only in the client's on-change; do it here.
    if service is None:
        return {}
    rows = await client.read(
        "product.product", [service], ["list_price_used"], context=company_context(company)
    )
    if not rows:
        raise NotFound(f"Tryton has no product {service}")
    return {"product": service, "list_price": rows[0]["list_price_used"]}
