"""Invoices from projects, posting, and the accounting periods that gate them.

A draft invoice is keyed by its ``reference``, written right after the project's ``invoice``
button made it. The button and that write are two transactions: a retry after a crash between
them adopts the project's draft invoice that has no reference yet, instead of finding nothing
left to invoice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tandem_connectors.errors import NotFound, RequestRejected
from tandem_connectors.tryton._client import TrytonClient
from tandem_connectors.tryton._keys import find_keys
from tandem_connectors.tryton._mapping import company_context

__all__ = ["close_period", "draft_invoice", "invoice_of", "periods", "post_invoice"]

_INVOICE_FIELDS = ["number", "state", "invoice_date", "total_amount", "currency.code", "lines"]


async def draft_invoice(client: TrytonClient, project: int, key: str) -> dict[str, Any]:
    """Draft (or find) the invoice keyed ``key`` of the project's uninvoiced time."""
    found = await find_keys(client, "account.invoice", [key])
    if key not in found:
        orphans = await _unreferenced_drafts(client, project)
        if not orphans and await _billable(client, project):
            await client.call("project.work", "invoice", [project])
            orphans = await _unreferenced_drafts(client, project)
        if not orphans:
            raise RequestRejected("nothing_to_invoice", f"project {project} has nothing to invoice")
        await client.write("account.invoice", orphans[:1], {"reference": key})
        found[key] = orphans[0]
    return await invoice_of(client, found[key])


async def _billable(client: TrytonClient, project: int) -> bool:
    # Tryton makes the button readonly, and refuses the call, when nothing is to invoice.
    rows = await client.read("project.work", [project], ["company", "amount_to_invoice"])
    if not rows:
        raise NotFound(f"Tryton has no project work {project}")
    [row] = await client.read(
        "project.work",
        [project],
        ["amount_to_invoice"],
        context=company_context(rows[0]["company"]),
    )
    return bool(row["amount_to_invoice"])


async def _unreferenced_drafts(client: TrytonClient, project: int) -> list[int]:
    works = await client.search("project.work", [["parent", "child_of", [project]]])
    rows = await client.read("project.work", works, ["timesheet_works"])
    timesheet_works = [tw for row in rows for tw in row["timesheet_works"]]
    lines = await client.search_read(
        "timesheet.line",
        [["work", "in", timesheet_works], ["invoice_line", "!=", None]],
        ["invoice_line.invoice"],
    )
    invoices = {line["invoice_line."]["invoice"] for line in lines}
    return await client.search(
        "account.invoice",
        [["id", "in", sorted(invoices)], ["state", "=", "draft"], ["reference", "=", None]],
        order=[("id", "ASC")],
    )


async def invoice_of(client: TrytonClient, invoice: int) -> dict[str, Any]:
    """The invoice's number, state, date, total, currency code and line ids."""
    rows = await client.read("account.invoice", [invoice], _INVOICE_FIELDS)
    if not rows:
        raise NotFound(f"Tryton has no invoice {invoice}")
    return rows[0]


async def post_invoice(client: TrytonClient, invoice: int, invoice_date: dt.date) -> dict[str, Any]:
    """Date and post a draft invoice; a posted one is answered as it is."""
    row = await invoice_of(client, invoice)
    if row["state"] == "draft":
        await client.write("account.invoice", [invoice], {"invoice_date": invoice_date})
        await client.call("account.invoice", "post", [invoice])
        row = await invoice_of(client, invoice)
    return row


async def periods(
    client: TrytonClient, company: int, start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    """The company's standard periods overlapping [start, end], oldest first."""
    domain = [
        ["company", "=", company],
        ["type", "=", "standard"],
        ["start_date", "<=", end],
        ["end_date", ">=", start],
    ]
    fields = ["name", "start_date", "end_date", "state"]
    return await client.search_read("account.period", domain, fields, order=[("start_date", "ASC")])


async def close_period(client: TrytonClient, company: int, period_date: dt.date) -> int:
    """Close the company's standard period holding ``period_date``; answer its id."""
    found = await periods(client, company, period_date, period_date)
    if not found:
        raise NotFound(f"company {company} has no period on {period_date}")
    period = found[0]["id"]
    if found[0]["state"] == "open":
        await client.call("account.period", "close", [period], context=company_context(company))
    return int(period)
