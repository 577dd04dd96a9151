"""Intercompany time in Tryton: the worker's employee in the project's company.

NetSuite's Intercompany Time and Expense (and the sandbox ERP after it) books a subsidiary's
employee on another subsidiary's project. Tryton keeps a timesheet line to an employee of the
line's company (the domain of ``timesheet.line.employee``), so a firm that staffs across its
entities models the worker in Tryton as employed by each company they work for: one party
(keyed by the worker's employee key, ``_keys``), one employee of it per company. A posting
names the worker's employee of the entity employing it (the port's employee); when that
employee is of another company than the work's, the line is booked on the same party's
employee of the work's company, made on first need with the named employee's start and end
dates, the way ``_masters.employ`` makes every employee (after a settle pause, settled on the
oldest). Ending the named employee ends it too (``_masters.end_employee``).

The port never sees that employee: ``reported_employees`` answers a line's employee as the
party's first one, the employee its posting named, and a reversal's marker goes to the
original line's employee (``_postings``).

**Cost.** DOMAIN.md §4.5 moves the cost of intercompany time to the project's entity. The
project company's employee costs, on each line's date, the hourly cost time-expense froze on
the entry (``TimeEntry.cost_rate``: the worker's cost rate in force on the work date,
converted into the project's currency at that date's rate, §4.4 and §7.4): when the cost in
force on the line's date differs, a cost price dated that day is added (a known date is never
rewritten), so the line costs what the hour cost the group. Not the transfer price: the
markup is billing-readiness's (its intercompany charge, cost x markup, is what the employing
entity invoices the project's). A cost in another currency than the company's (a project
billed in a foreign currency) is not added: Tryton's cost prices are in the company's.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tandem_connectors.ports import TimePosting
from tandem_connectors.tryton._client import TrytonClient
from tandem_connectors.tryton._keys import EVERY_RECORD
from tandem_connectors.tryton._masters import again_when, employ, oldest_employee, record_taken

__all__ = ["booked_employees", "reported_employees"]

# timesheet_cost's price digits (its ``price_decimal`` setting, 4 by default): Tryton refuses
# a cost price with more.
_COST_PLACES = Decimal("0.0001")
_EMPLOYEE_FIELDS = ["company", "party", "start_date", "end_date"]


async def booked_employees(
    client: TrytonClient, postings: Sequence[tuple[TimePosting, int]]
) -> dict[str, int]:
    """The employee each posting's line (in the company paired with it) books on, by key:
    the posting's own when it is of that company, else its party's employee there, costed
    as the entries say."""
    named = {int(posting.employee) for posting, _ in postings}
    rows = await client.search_read(
        "company.employee", [["id", "in", sorted(named)]], _EMPLOYEE_FIELDS, context=EVERY_RECORD
    )
    own = {row["id"]: row for row in rows}
    booked: dict[str, int] = {}
    theirs: dict[tuple[int, int], int] = {}
    across: dict[tuple[int, int], list[TimePosting]] = defaultdict(list)
    for posting, company in postings:
        row = own.get(int(posting.employee))
        # An employee Tryton does not have is left for Tryton to refuse, as any other line.
        if row is None or row["company"] == company:
            booked[posting.key] = int(posting.employee)
            continue
        pair = (row["party"], company)
        if pair not in theirs:
            theirs[pair] = await _employee_of(client, row, company)
        booked[posting.key] = theirs[pair]
        across[(theirs[pair], company)].append(posting)
    for (employee, company), crossing in across.items():
        await _cost(client, employee, await _currency(client, company), crossing)
    return booked


async def _employee_of(client: TrytonClient, named: dict[str, Any], company: int) -> int:
    """The named employee's party's employee of ``company``, made on first need."""
    found = await oldest_employee(client, named["party"], company)
    if found is None:
        found, _ = await employ(
            client, named["party"], company, named["start_date"], named["end_date"]
        )
    return found


async def _currency(client: TrytonClient, company: int) -> str:
    [row] = await client.read("company.company", [company], ["currency.code"])
    return str(row["currency."]["code"])


async def _cost(
    client: TrytonClient, employee: int, currency: str, postings: Sequence[TimePosting]
) -> None:
    """Add the cost prices that make each line cost its entry's frozen cost rate."""
    wanted = sorted(
        {
            (_day(p), p.entry.cost_rate.amount.quantize(_COST_PLACES))
            for p in postings
            if p.entry.cost_rate is not None and p.entry.cost_rate.currency == currency
        }
    )
    if not wanted:
        return
    # Another writer may add the same date at the same moment: look again, then add the rest.
    async for attempt in again_when(record_taken):
        with attempt:
            rows = await client.search_read(
                "company.employee_cost_price", [["employee", "=", employee]], ["date", "cost_price"]
            )
            held = {row["date"]: row["cost_price"] for row in rows}
            for day, cost in wanted:
                if day not in held and _in_force(held, day) != cost:
                    held[day] = cost
            new = [
                {"employee": employee, "date": day, "cost_price": cost}
                for day, cost in held.items()
                if day not in {row["date"] for row in rows}
            ]
            if new:
                await client.create("company.employee_cost_price", new)


def _in_force(held: dict[dt.date, Decimal], day: dt.date) -> Decimal | None:
    """The cost price in force on ``day``: the latest dated on or before it."""
    dated = [d for d in held if d <= day]
    return held[max(dated)] if dated else None


def _day(posting: TimePosting) -> dt.date:
    return posting.entry.accounting_date or posting.entry.work_date


async def reported_employees(client: TrytonClient, employees: set[int]) -> dict[int, int]:
    """Each employee as the port knows it: its party's first employee, the one postings name
    (an employee of a sister company is made after it, booked on and never named)."""
    if not employees:
        return {}
    rows = await client.search_read(
        "company.employee", [["id", "in", sorted(employees)]], ["party"], context=EVERY_RECORD
    )
    party_of = {row["id"]: row["party"] for row in rows}
    everyone = await client.search_read(
        "company.employee", [["party", "in", sorted(set(party_of.values()))]], ["party"],
        order=[("id", "ASC")], context=EVERY_RECORD,
    )  # fmt: skip
    first: dict[int, int] = {}
    for row in everyone:
        first.setdefault(row["party"], row["id"])
    return {e: first.get(party_of.get(e, -1), e) for e in employees}
