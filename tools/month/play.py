"""Play a generated month in the sandbox PSA: log each week's time and expenses, then submit,
approve or reject them as the firm did; time-expense takes it from there."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from tandem_contracts.entities import ExpenseStatus, TimesheetStatus
from tandem_sandbox.scenario import Firm

__all__ = ["Played", "play"]

_APPROVE = {TimesheetStatus.APPROVED, TimesheetStatus.PARTIALLY_APPROVED}
_EXPENSE_APPROVE = {ExpenseStatus.APPROVED, ExpenseStatus.REIMBURSED}


@dataclass
class Played:
    """What the PSA was told, and when the approving started and ended."""

    timesheets: int = 0
    entries: int = 0
    approved_entries: int = 0
    approved_minutes: int = 0
    rejected_entries: int = 0
    refused_by_psa: int = 0
    """Entries the PSA would not take (a project closed for time, say): never logged."""
    expenses: int = 0
    approved_expenses: int = 0
    no_resource: int = 0
    """Timesheets and expenses of workers with no PSA resource: never logged."""
    started: float = 0.0
    finished: float = 0.0


async def play(
    firm: Firm,
    psa_url: str,
    psa_projects: dict[str, str],
    *,
    resources: dict[str, str] | None = None,
    parallel: int = 16,
) -> Played:
    """Log and decide the firm's month week by week on the PSA's projects (``psa_projects``:
    generated project id → the PSA's) by the PSA's resources (``resources``: generated worker
    id → the PSA's; default the firm's own); answer the totals. A worker with no resource
    (not onboarded) logs nothing: counted in ``no_resource``."""
    played = Played(started=time.monotonic())
    resource_of = (
        resources
        if resources is not None
        else {r.worker_id: r.id for r in firm.resources if r.worker_id}
    )
    entries_of: dict[str | None, list[Any]] = defaultdict(list)
    for entry in firm.time_entries:
        entries_of[entry.timesheet_id].append(entry)
    gate = asyncio.Semaphore(parallel)
    on = psa_projects
    async with httpx.AsyncClient(base_url=psa_url, timeout=60) as psa:
        for week_start in _weeks(firm.month):
            week_end = week_start + timedelta(days=6)
            sheets = [t for t in firm.timesheets if week_start <= t.period_start <= week_end]
            expenses = [x for x in firm.expenses if week_start <= x.expense_date <= week_end]

            async def sheet_of(sheet: Any) -> None:
                async with gate:
                    await _timesheet(psa, sheet, entries_of[sheet.id], resource_of, on, played)

            async def expense_of(expense: Any) -> None:
                async with gate:
                    await _expense(psa, expense, resource_of, on, played)

            await asyncio.gather(*(sheet_of(s) for s in sheets), *(expense_of(x) for x in expenses))
    played.finished = time.monotonic()
    return played


async def _timesheet(
    psa: httpx.AsyncClient,
    sheet: Any,
    entries: list[Any],
    resource_of: dict[str, str],
    on: dict[str, str],
    played: Played,
) -> None:
    if sheet.worker_id not in resource_of:
        played.no_resource += 1
        return
    resource = resource_of[sheet.worker_id]
    logged = []
    for entry in entries:
        answer = await psa.post("/v1/time-entries", json={
            "resource_id": resource, "project_id": on[entry.project_id],
            "task_id": entry.work_item_id,
            "date": entry.work_date.isoformat(), "minutes": entry.duration_minutes,
            "billable": entry.billable, "notes": entry.notes,
        })  # fmt: skip
        if answer.status_code == 409:
            played.refused_by_psa += 1
            continue
        _ok(answer)
        logged.append(entry)
    entries = logged
    played.entries += len(entries)
    played.timesheets += 1
    if sheet.status is TimesheetStatus.OPEN or not entries:
        return
    created = _ok(await psa.post("/v1/timesheets", json={
        "resource_id": resource, "period_start": sheet.period_start.isoformat(),
        "period_end": sheet.period_end.isoformat(), "external_id": sheet.id,
    }))  # fmt: skip
    sheet_id = created["id"]
    _ok(await psa.post(f"/v1/timesheets/{sheet_id}/submit", json={}))
    if sheet.status in _APPROVE:
        _ok(await psa.post(f"/v1/timesheets/{sheet_id}/approve", json={"approver": "pm"}))
        played.approved_entries += len(entries)
        played.approved_minutes += sum(e.duration_minutes for e in entries)
    elif sheet.status is TimesheetStatus.REJECTED:
        _ok(await psa.post(f"/v1/timesheets/{sheet_id}/reject", json={"approver": "pm"}))
        played.rejected_entries += len(entries)


async def _expense(
    psa: httpx.AsyncClient,
    expense: Any,
    resource_of: dict[str, str],
    on: dict[str, str],
    played: Played,
) -> None:
    if expense.worker_id not in resource_of:
        played.no_resource += 1
        return
    answer = await psa.post("/v1/expenses", json={
        "resource_id": resource_of[expense.worker_id], "project_id": on[expense.project_id],
        "date": expense.expense_date.isoformat(), "category": expense.category,
        "amount": str(expense.amount.amount), "currency": expense.amount.currency,
        "billable": expense.billable, "markup_multiplier": str(expense.markup_multiplier),
        "receipt_ref": expense.receipt_ref,
    })  # fmt: skip
    if answer.status_code == 409:
        played.refused_by_psa += 1
        return
    created = _ok(answer)
    played.expenses += 1
    _ok(await psa.post(f"/v1/expenses/{created['id']}/submit", json={}))
    if expense.status in _EXPENSE_APPROVE:
        _ok(await psa.post(f"/v1/expenses/{created['id']}/approve", json={"approver": "pm"}))
        played.approved_expenses += 1
    elif expense.status is ExpenseStatus.REJECTED:
        _ok(await psa.post(f"/v1/expenses/{created['id']}/reject", json={"approver": "pm"}))


def _ok(answer: httpx.Response) -> dict[str, Any]:
    if answer.status_code >= 400:
        raise RuntimeError(f"the PSA refused {answer.request.url}: {answer.text[:300]}")
    body: dict[str, Any] = answer.json()
    return body


def _weeks(month: date) -> list[date]:
    """The Mondays of the weeks touching ``month``."""
    first_day = month.replace(day=1)
    last_day = (first_day + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    monday = first_day - timedelta(days=first_day.weekday())
    weeks = []
    while monday <= last_day:
        weeks.append(monday)
        monday += timedelta(weeks=1)
    return weeks
