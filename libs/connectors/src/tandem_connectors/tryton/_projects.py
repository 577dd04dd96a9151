"""A project's life after creation in Tryton: activate, cancel, close for time, activity.

Tryton 8.2's ``project.work`` has a configurable ``status`` (``project.work.status``), shipped
with *Open* (the default) and *Done*. *Done* demands a progress of 100 % on the work and every
child, and progress drives the ``progress`` and ``effort`` invoice methods and revenue, so the
adapter does not use it for a project that ends unfinished. It adds two statuses of its own
(made once per database, for projects and tasks, with no progress): *Cancelled* and *Closed
for time*. The mapping:

=====================  ===============================================================
Port call              Tryton
=====================  ===============================================================
``activate_project``   the default status (*Open*), ``timesheet_available`` on
``cancel_project``     every work of the project (itself and its tasks): status
                       *Cancelled*, ``timesheet_available`` off (Tryton removes the
                       empty timesheet works, so no time can be entered); then an
                       ``ir.note`` on the project, "Cancelled by Tandem: <reason>
                       [<key>]", the reason readable in Tryton. The work is kept.
``close_project_for    every work: ``timesheet_end_date`` = the day before
_time``                ``closed_from`` (Tryton's own "restrict adding lines after the
                       date"; one already earlier is kept), then status *Closed for time*
``project_activity``   timesheet lines on the works' timesheet works; expense invoices
                       marked with a work (``_expenses``); invoiced when a timesheet line
                       or work is on an invoice line, or the project's invoiced amount
                       is not zero
=====================  ===============================================================

The status is written last, so a retry after a crash finds the project not yet in it and does
the (idempotent) steps again; the note, written after the status, is added by a retry too.
Over RPC, Tryton cannot check the activity and cancel in one transaction: a line entered
between the cancel's reads and its write is not prevented (it stays, on a cancelled project,
for finance to see). The sandbox ERP does both in one transaction.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from tandem_connectors.errors import NotFound, RequestRejected
from tandem_connectors.ports import ProjectActivity
from tandem_connectors.tryton._client import TrytonClient
from tandem_connectors.tryton._mapping import company_context

__all__ = [
    "CANCELLED",
    "CLOSED_FOR_TIME",
    "activate",
    "activity",
    "cancel",
    "close_for_time",
    "expense_marker",
]

CANCELLED = "Cancelled"
CLOSED_FOR_TIME = "Closed for time"
_NOTE = "Cancelled by Tandem: "


def expense_marker(work: int) -> str:
    """What an expense invoice's ``comment`` holds to name the work it was booked on."""
    return f"project.work,{work}"


async def _project(client: TrytonClient, work: int) -> dict[str, Any]:
    fields = ["type", "company", "number", "status", "status.name", "timesheet_available"]
    # A search, not a read: reading a missing id is refused as an error, not answered empty.
    rows = await client.search_read("project.work", [["id", "=", work]], fields)
    if not rows or rows[0]["type"] != "project":
        raise NotFound(f"Tryton has no project work {work}")
    row: dict[str, Any] = rows[0]
    row["status_name"] = row["status."]["name"]
    return row


async def _status(client: TrytonClient, name: str) -> int:
    """The id of the adapter's status ``name``, made the first time it is needed."""
    found = await client.search("project.work.status", [["name", "=", name]], limit=1)
    if found:
        return found[0]
    values = {"name": name, "types": ["project", "task"], "progress": None, "sequence": 90}
    [made] = await client.create("project.work.status", [values])
    return made


async def _open_status(client: TrytonClient) -> int:
    """Tryton's default status of a new work (*Open*, unless configured otherwise)."""
    defaults = await client.call("project.work", "default_get", ["status"])
    if not defaults.get("status"):
        raise RequestRejected("erp_setup_incomplete", "Tryton has no default project status")
    return int(defaults["status"])


async def _tree(client: TrytonClient, work: int) -> list[int]:
    """The project's works: itself and every task under it."""
    return await client.search("project.work", [["parent", "child_of", [work]]])


async def activate(client: TrytonClient, work: int) -> str | None:
    """Open the project for time; answer its number. A cancelled or closed one is refused."""
    project = await _project(client, work)
    _refuse(project, work, CANCELLED, CLOSED_FOR_TIME)
    opened = await _open_status(client)
    if project["status"] != opened or not project["timesheet_available"]:
        await client.write("project.work", [work], {"status": opened, "timesheet_available": True})
    return _number(project)


async def cancel(client: TrytonClient, work: int, reason: str, key: str) -> str | None:
    """Cancel a project nothing is booked on; answer its number (see the module docstring)."""
    project = await _project(client, work)
    if project["status_name"] != CANCELLED:
        booked = await activity(client, work)
        if not booked.empty:
            raise RequestRejected("project_has_activity", f"Tryton project {work}: {booked}")
        status = await _status(client, CANCELLED)
        values = {"status": status, "timesheet_available": False}
        await client.write("project.work", await _tree(client, work), values)
    await _note(client, work, f"{_NOTE}{reason} [{key}]")
    return _number(project)


async def _note(client: TrytonClient, work: int, message: str) -> None:
    """Add the cancellation note once: the first one made for the project stays."""
    resource = f"project.work,{work}"
    domain = [["resource", "=", resource], ["message", "like", f"{_NOTE}%"]]
    if not await client.search("ir.note", domain, limit=1):
        await client.create("ir.note", [{"resource": resource, "message": message[:2000]}])


async def close_for_time(client: TrytonClient, work: int, closed_from: dt.date) -> str | None:
    """Close the project for time dated on or after ``closed_from``; answer its number."""
    project = await _project(client, work)
    _refuse(project, work, CANCELLED)
    if project["status_name"] == CLOSED_FOR_TIME:
        return _number(project)
    last_day = closed_from - dt.timedelta(days=1)
    tree = await _tree(client, work)
    rows = await client.read("project.work", tree, ["timesheet_end_date"])
    later = [row["id"] for row in rows if _after(row["timesheet_end_date"], last_day)]
    if later:
        await client.write("project.work", later, {"timesheet_end_date": last_day})
    status = await _status(client, CLOSED_FOR_TIME)
    await client.write("project.work", tree, {"status": status})
    return _number(project)


def _after(end: dt.date | None, last_day: dt.date) -> bool:
    return end is None or end > last_day


async def activity(client: TrytonClient, work: int) -> ProjectActivity:
    """The timesheet and expense lines booked on the project's works, and whether invoiced."""
    project = await _project(client, work)
    tree = await _tree(client, work)
    rows = await client.read("project.work", tree, ["timesheet_works", "invoice_line"])
    timesheet_works = [tw for row in rows for tw in row["timesheet_works"]]
    lines = [["work", "in", timesheet_works]]
    time_lines = await _count(client, "timesheet.line", lines) if timesheet_works else 0
    invoiced_lines = (
        await _count(client, "timesheet.line", [*lines, ["invoice_line", "!=", None]])
        if time_lines
        else 0
    )
    markers = [expense_marker(w) for w in tree]
    expenses = await _count(
        client, "account.invoice", [["type", "=", "in"], ["comment", "in", markers]]
    )
    [amounts] = await client.read(
        "project.work", [work], ["invoiced_amount"], context=company_context(project["company"])
    )
    invoiced = (
        bool(invoiced_lines)
        or any(row["invoice_line"] is not None for row in rows)
        or Decimal(amounts["invoiced_amount"] or 0) != 0
    )
    return ProjectActivity(time_lines=time_lines, expense_lines=expenses, invoiced=invoiced)


async def _count(client: TrytonClient, model: str, domain: list[Any]) -> int:
    return int(await client.call(model, "search_count", domain))


def _refuse(project: dict[str, Any], work: int, *statuses: str) -> None:
    if (status := project["status_name"]) in statuses:
        reason = "project_cancelled" if status == CANCELLED else "project_closed"
        raise RequestRejected(reason, f"Tryton project {work} is {status.lower()}")


def _number(project: dict[str, Any]) -> str | None:
    number: str | None = project["number"]
    return number
