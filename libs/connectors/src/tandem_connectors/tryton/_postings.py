"""Time into Tryton: timesheet lines, their reversals, and reconciliation's view of them.

**Reversal.** Tryton refuses a negative ``timesheet.line`` duration
("duration must be positive"), so a reversal cannot be a line of the opposite sign. The
honest equivalent: when the original line is not yet invoiced, the adapter first writes a
zero-duration *reversal marker* line (key in ``description``, on the company's
"Tandem reversals" timesheet work, which no project invoices), then deletes the original,
which Tryton allows only while it is uninvoiced. Billing, cost and revenue thereby lose the
reversed time, the marker records that and when it happened, and a retry after a crash between
the two steps finds the marker and finishes the delete. Time already invoiced cannot be
reversed here (Tryton refuses to delete or change it): ``RequestRejected`` with reason
``time_already_invoiced``, for finance to credit the invoice.

A line whose posting names an employee of another company than its work's (intercompany
time) books on the same party's employee of the work's company (``_intercompany``); lines are
read back with the employee their posting named.

Expenses (supplier invoices and their credit notes) are in ``_expenses``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from tandem_connectors.errors import NotFound, RequestRejected
from tandem_connectors.ports import ErpTimeLine, ExpensePosting, TimePosting, TimeReversal
from tandem_connectors.tryton._client import TrytonClient
from tandem_connectors.tryton._intercompany import booked_employees, reported_employees
from tandem_connectors.tryton._keys import find_keys
from tandem_connectors.tryton._mapping import company_context, duration_of, minutes_of
from tandem_connectors.tryton._projects import CANCELLED

__all__ = ["answers", "post_time", "reverse_time", "time_lines"]

REVERSALS_WORK = "Tandem reversals"


async def post_time(
    client: TrytonClient, postings: Sequence[TimePosting]
) -> list[tuple[int, bool]]:
    """Create the timesheet lines of the postings not yet written, in one create."""
    found = await find_keys(client, "timesheet.line", [p.key for p in postings])
    missing = list({p.key: p for p in postings if p.key not in found}.values())
    if missing:
        works = await _timesheet_works(client, {int(p.work) for p in missing})
        ends = await _employee_ends(client, {int(p.employee) for p in missing})
        for posting in missing:
            _check_taking(posting, works[int(posting.work)][2])
            _check_employed(posting, ends.get(int(posting.employee)))
        booked = await booked_employees(client, [(p, works[int(p.work)][1]) for p in missing])
        values = [_line(p, *works[int(p.work)][:2], booked[p.key]) for p in missing]
        ids = await client.create("timesheet.line", values)
        found |= {p.key: made for p, made in zip(missing, ids, strict=True)}
    return answers(postings, found, {p.key for p in missing})


def answers(
    postings: Sequence[TimePosting | ExpensePosting],
    found: dict[str, int],
    made: set[str],
) -> list[tuple[int, bool]]:
    """One (id, created) per posting; a key repeated in a batch was created by its first."""
    first: dict[str, int] = {}
    for index, posting in enumerate(postings):
        first.setdefault(posting.key, index)
    return [(found[p.key], p.key in made and first[p.key] == i) for i, p in enumerate(postings)]


def _line(posting: TimePosting, timesheet_work: int, company: int, employee: int) -> dict[str, Any]:
    entry = posting.entry
    return {
        "company": company,
        "employee": employee,
        "work": timesheet_work,
        "date": entry.accounting_date or entry.work_date,
        "duration": duration_of(entry.duration_minutes),
        "description": posting.key,
    }


def _check_taking(posting: TimePosting, last_day: dt.date | None) -> None:
    """Refuse time dated after the work's timesheet end (a project closed for time) with its
    reason, before Tryton refuses the whole batch for a domain it breaks."""
    day = posting.entry.accounting_date or posting.entry.work_date
    if last_day is not None and day > last_day:
        raise RequestRejected(
            "project_closed_for_time",
            f"Tryton work {posting.work} takes no time after {last_day} ({posting.key}: {day})",
        )


def _check_employed(posting: TimePosting, last_day: dt.date | None) -> None:
    """Refuse time dated after the employee's ``end_date`` with its reason, before Tryton's
    domain on the line's employee refuses the whole batch."""
    day = posting.entry.accounting_date or posting.entry.work_date
    if last_day is not None and day > last_day:
        raise RequestRejected(
            "employee_ended",
            f"Tryton employee {posting.employee} ended {last_day} ({posting.key}: {day})",
        )


async def _employee_ends(client: TrytonClient, employees: set[int]) -> dict[int, dt.date]:
    """The end date of each of ``employees`` that has one."""
    domain = [["id", "in", sorted(employees)], ["end_date", "!=", None]]
    rows = await client.search_read("company.employee", domain, ["end_date"])
    return {row["id"]: row["end_date"] for row in rows}


async def _timesheet_works(
    client: TrytonClient, works: set[int]
) -> dict[int, tuple[int, int, dt.date | None]]:
    """Map each project work to (its timesheet work, its company, its last day for time)."""
    fields = ["timesheet_works", "company", "timesheet_end_date", "status.name"]
    rows = await client.read("project.work", sorted(works), fields)
    mapped = {row["id"]: row for row in rows}
    for work in works:
        row = mapped.get(work)
        if row is not None and not row["timesheet_works"] and row["status."]["name"] == CANCELLED:
            raise RequestRejected("project_closed_for_time", f"Tryton work {work} is cancelled")
        if row is None or not row["timesheet_works"]:
            raise NotFound(f"Tryton project work {work} does not take time")
    return {
        work: (row["timesheet_works"][0], row["company"], row["timesheet_end_date"])
        for work, row in mapped.items()
    }


async def reverse_time(client: TrytonClient, reversal: TimeReversal) -> tuple[int, bool]:
    """Reverse a posted, uninvoiced timesheet line: a keyed marker, then the delete."""
    found = await find_keys(client, "timesheet.line", [reversal.key])
    # A search, not a read: Tryton refuses to read a line that a reversal already deleted.
    original = await client.search_read(
        "timesheet.line",
        [["id", "=", int(reversal.posted)]],
        ["invoice_line", "company", "employee"],
    )
    if reversal.key in found:
        if original:
            await client.delete("timesheet.line", [int(reversal.posted)])
        return found[reversal.key], False
    if not original:
        raise NotFound(f"Tryton has no timesheet line {reversal.posted}")
    if original[0]["invoice_line"] is not None:
        raise RequestRejected(
            "time_already_invoiced", f"timesheet line {reversal.posted} is invoiced"
        )
    company = original[0]["company"]
    marker = {
        "company": company,
        # The line's own employee: of its company, where the reversal names the worker's.
        "employee": original[0]["employee"],
        "work": await _reversals_work(client, company),
        "date": reversal.entry.accounting_date or reversal.entry.work_date,
        "duration": duration_of(0),
        "description": reversal.key,
    }
    [made] = await client.create("timesheet.line", [marker])
    await client.delete("timesheet.line", [int(reversal.posted)])
    return made, True


async def _reversals_work(client: TrytonClient, company: int) -> int:
    domain = [["name", "=", REVERSALS_WORK], ["company", "=", company]]
    found = await client.search("timesheet.work", domain, limit=1)
    if found:
        return found[0]
    values = {"name": REVERSALS_WORK, "company": company}
    [made] = await client.create("timesheet.work", [values], context=company_context(company))
    return made


_READ_ATTEMPTS = 5


async def time_lines(
    client: TrytonClient, company: int, start: dt.date, end: dt.date
) -> list[ErpTimeLine]:
    """The company's timesheet lines in [start, end], with the project each books on."""
    rows = await _lines_in(client, company, start, end)
    works = sorted({row["work"] for row in rows})
    origins = await client.read("timesheet.work", works, ["origin"]) if works else []
    work_of = {w["id"]: _work_id(w["origin"]) for w in origins}
    projects = await _projects_of(client, {w for w in work_of.values() if w})
    project_of = {timesheet: projects.get(work or "", "") for timesheet, work in work_of.items()}
    named = await reported_employees(client, {row["employee"] for row in rows})
    return [
        ErpTimeLine(
            external_id=str(row["id"]),
            key=row["description"] or None,
            employee=str(named[row["employee"]]),
            project=project_of.get(row["work"]) or "",
            posted_on=row["date"],
            minutes=minutes_of(row["duration"]),
            amount=None,
        )
        for row in rows
    ]


async def _lines_in(
    client: TrytonClient, company: int, start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    """The company's lines in [start, end]; read again when a reversal deleted one meanwhile."""
    domain = [["company", "=", company], ["date", ">=", start], ["date", "<=", end]]
    fields = ["id", "description", "employee", "work", "date", "duration"]
    for attempt in range(_READ_ATTEMPTS):
        try:
            rows: list[dict[str, Any]] = await client.search_read(
                "timesheet.line", domain, fields, order=[("id", "ASC")]
            )
        except RequestRejected as exc:
            # Tryton searches, then reads: a line deleted in between fails the read.
            if "don't exist" not in str(exc) or attempt + 1 == _READ_ATTEMPTS:
                raise
            continue
        return rows
    raise AssertionError("unreachable")  # pragma: no cover


async def _projects_of(client: TrytonClient, works: set[str]) -> dict[str, str]:
    """The project of each project work: itself, or a task's parent project."""
    if not works:
        return {}
    rows = await client.read("project.work", sorted(int(w) for w in works), ["type", "parent"])
    return {
        str(row["id"]): str(row["parent"] if row["type"] == "task" and row["parent"] else row["id"])
        for row in rows
    }


def _work_id(origin: str | None) -> str | None:
    """The ``project.work`` id of a timesheet work's origin (``"project.work,12"``)."""
    if origin and origin.startswith("project.work,"):
        return origin.split(",", 1)[1]
    return None
