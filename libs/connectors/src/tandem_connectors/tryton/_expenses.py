"""Expenses into Tryton: supplier invoices from the employees, and their credit notes.

**Posting.** Tryton core has no expense module; an approved expense is posted as a supplier
invoice from the employee's party (the firm owes the reimbursement): one line on the
company's expense account, dated the expense date, the key in ``reference``, then posted, so
it is numbered, has its account move and sits in the payables.

The invoice's ``comment`` names the project work it was booked on (``project.work,<id>``,
``_projects.expense_marker``), so that ``project_activity`` counts it; a project cancelled or
closed for time (``_projects``) refuses an expense dated after its last day
(``project_closed_for_expenses``).

**Reversal.** A posted supplier invoice is never edited: it is credited by Tryton's own credit
wizard (``wizard.account.invoice.credit``; ``account.invoice.credit`` is not callable over RPC),
which makes a draft credit note whose lines point back at the invoice's lines (``origin``). The
adapter then stores the key in the credit note's ``reference`` and posts it. The wizard and that
write are two transactions: a retry after a crash between them adopts the invoice's draft
credit note that has no reference yet. An invoice already paid (the employee reimbursed) is
credited all the same — Tryton allows it, and the posted credit note leaves the employee owing
the amount back, in the payables, for finance to recover or net off the next reimbursement.
Tryton cannot "refund" a supplier invoice in the same step, so the original stays posted/paid.
A credit note dated in a closed period stays a keyed draft (``PeriodClosed``); a retry once
the period is reopened posts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tandem_connectors.errors import NotFound, RequestRejected
from tandem_connectors.ports import ExpensePosting, ExpenseReversal
from tandem_connectors.tryton._client import TrytonClient
from tandem_connectors.tryton._keys import find_keys
from tandem_connectors.tryton._mapping import company_context
from tandem_connectors.tryton._postings import answers
from tandem_connectors.tryton._projects import CANCELLED, expense_marker

__all__ = ["post_expenses", "reverse_expense"]

_CREDITABLE = ("posted", "paid")


async def post_expenses(
    client: TrytonClient, postings: Sequence[ExpensePosting]
) -> list[tuple[int, bool]]:
    """Create the supplier invoices of the expenses not yet written (one create), then post."""
    found = await find_keys(client, "account.invoice", [p.key for p in postings])
    missing = list({p.key: p for p in postings if p.key not in found}.values())
    if missing:
        values = [await _expense_invoice(client, p) for p in missing]
        ids = await client.create("account.invoice", values)
        found |= {p.key: made for p, made in zip(missing, ids, strict=True)}
    await _post_drafts(client, list(found.values()))
    return answers(postings, found, {p.key for p in missing})


async def _post_drafts(client: TrytonClient, invoices: list[int]) -> None:
    drafts = await client.search(
        "account.invoice", [["id", "in", invoices], ["state", "=", "draft"]]
    )
    if drafts:
        await client.call("account.invoice", "post", drafts)


async def _expense_invoice(client: TrytonClient, posting: ExpensePosting) -> dict[str, Any]:
    expense = posting.expense
    fields = ["company", "timesheet_end_date", "status.name"]
    [work] = await client.read("project.work", [int(posting.project)], fields)
    last_day = work["timesheet_end_date"]
    if work["status."]["name"] == CANCELLED or (
        last_day is not None and expense.expense_date > last_day
    ):
        raise RequestRejected(
            "project_closed_for_expenses",
            f"Tryton work {posting.project} takes no expense of {expense.expense_date}",
        )
    [employee] = await client.read("company.employee", [int(posting.employee)], ["party"])
    company = work["company"]
    context = company_context(company)
    [config] = await client.read(
        "account.configuration", [1], ["default_account_payable"], context=context
    )
    address = await _one(client, "party.address", [["party", "=", employee["party"]]], "address")
    domain = [["company", "=", company], ["type.expense", "=", True], ["closed", "!=", True]]
    account = await _one(client, "account.account", domain, "expense account")
    journal = await _one(client, "account.journal", [["type", "=", "expense"]], "expense journal")
    code = expense.amount.currency
    currency = await _one(client, "currency.currency", [["code", "=", code]], f"currency {code}")
    line = {
        "type": "line",
        "company": company,
        "currency": currency,
        "account": account,
        "description": expense.category,
        "quantity": 1.0,
        "unit_price": expense.amount.amount,
    }
    return {
        "type": "in",
        "company": company,
        "party": employee["party"],
        "invoice_address": address,
        "currency": currency,
        "account": config["default_account_payable"],
        "journal": journal,
        "invoice_date": expense.expense_date,
        "reference": posting.key,
        "description": expense.category,
        "comment": expense_marker(int(posting.project)),
        "lines": [["create", [line]]],
    }


async def _one(client: TrytonClient, model: str, domain: list[Any], what: str) -> int:
    """The first record matching ``domain``; a missing one is a setup gap for a person."""
    found = await client.search(model, domain, limit=1)
    if not found:
        raise RequestRejected("erp_setup_incomplete", f"Tryton has no {what} for this posting")
    return int(found[0])


async def reverse_expense(client: TrytonClient, reversal: ExpenseReversal) -> tuple[int, bool]:
    """Credit the expense's posted supplier invoice once: a keyed, posted credit note."""
    key = reversal.key
    found = await find_keys(client, "account.invoice", [key])
    if key in found:
        await _post_drafts(client, [found[key]])  # a crash may have left it unposted
        return found[key], False
    invoice, orphan = await _creditable(client, int(reversal.posted))
    credit = orphan or await _credit(client, invoice, reversal)
    # Dated here too: a credit note adopted from a crashed run may not be dated yet.
    dated = {"reference": key, "invoice_date": reversal.expense.expense_date}
    await client.write("account.invoice", [credit], dated)
    await _post_drafts(client, [credit])
    return credit, True


async def _creditable(client: TrytonClient, invoice: int) -> tuple[dict[str, Any], int | None]:
    """The expense's supplier invoice, and the unkeyed draft credit note a crash left of it.

    Refused when the invoice is itself a credit note, was credited otherwise (under another
    key, or by hand), or is not posted.
    """
    fields = ["state", "company", "lines"]
    rows = await client.search_read(
        "account.invoice", [["id", "=", invoice], ["type", "=", "in"]], fields
    )
    if not rows:
        raise NotFound(f"Tryton has no supplier invoice {invoice}")
    row = rows[0]
    lines = await client.read("account.invoice.line", row["lines"], ["origin"])
    if any(_credits(line["origin"]) for line in lines):
        raise RequestRejected("already_reversed", f"invoice {invoice} is itself a reversal")
    notes = await _credit_notes(client, row["lines"])
    orphans = [n["id"] for n in notes if n["reference"] is None and n["state"] == "draft"]
    if len(orphans) < len(notes):
        raise RequestRejected("already_reversed", f"invoice {invoice} is already credited")
    if row["state"] not in _CREDITABLE:
        raise RequestRejected("expense_not_posted", f"invoice {invoice} is {row['state']}")
    return row, orphans[0] if orphans else None


async def _credit_notes(client: TrytonClient, lines: list[int]) -> list[dict[str, Any]]:
    """The credit notes, not cancelled, whose lines credit ``lines``, oldest first."""
    origins = [f"account.invoice.line,{line}" for line in lines]
    rows = await client.search_read(
        "account.invoice.line",
        [["origin", "in", origins], ["invoice.state", "!=", "cancelled"]],
        ["invoice"],
    )
    notes = sorted({row["invoice"] for row in rows})
    return await client.read("account.invoice", notes, ["state", "reference"]) if notes else []


async def _credit(client: TrytonClient, invoice: dict[str, Any], reversal: ExpenseReversal) -> int:
    """Run Tryton's credit wizard on ``invoice``; answer the draft credit note it made."""
    context = {
        **company_context(invoice["company"]),
        "active_model": "account.invoice",
        "active_id": invoice["id"],
        "active_ids": [invoice["id"]],
    }
    # A supplier invoice cannot be refunded (cancelled) in the same step: Tryton refuses it.
    start = {"invoice_date": reversal.expense.expense_date, "with_refund": False}
    async with client.wizard("account.invoice.credit", context=context) as execute:
        result = await execute("credit", {"start": start})
    [[_action, data]] = result["actions"]
    [credit] = data["res_id"]
    return int(credit)


def _credits(origin: str | None) -> bool:
    return bool(origin) and str(origin).startswith("account.invoice.line,")
