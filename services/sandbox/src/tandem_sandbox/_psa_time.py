"""The PSA's time and expense side: daily time entries, weekly timesheets, approvals.

Timesheet: open → submitted → approved | rejected; approved → rejected is allowed (a
downstream refusal), and a rejected sheet may be submitted again. Submitting a sheet takes the
resource's draft or rejected entries of its period. An approved entry is locked: a correction
is an adjustment, which gives the entry a new revision and keeps the previous values.
Expenses follow draft → submitted → approved | rejected, approved → rejected allowed.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tandem_contracts import CurrencyCode
from tandem_sandbox._collections import Collection, collection_router, load, require
from tandem_sandbox._http import SandboxError, parse
from tandem_sandbox._psa_workflow import workflow_router
from tandem_sandbox._state import StateDep
from tandem_sandbox._store import Tx

__all__ = ["psa_time_routers"]

Id = Annotated[str, Field(min_length=1, max_length=100)]
Amount = Annotated[Decimal, Field(max_digits=18, decimal_places=2)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimesheetCreate(_Model):
    """A resource's timesheet for a period (usually a week)."""

    resource_id: Id
    period_start: dt.date
    period_end: dt.date
    external_id: Id | None = None

    @model_validator(mode="after")
    def _check_period(self) -> TimesheetCreate:
        if not 0 <= (self.period_end - self.period_start).days <= 31:
            raise ValueError("period_end must be 0 to 31 days after period_start")
        return self


class TimeEntryCreate(_Model):
    """Minutes a resource worked on a project on one day."""

    resource_id: Id
    project_id: Id
    task_id: Id | None = None
    date: dt.date
    minutes: int = Field(ge=1, le=1440)
    billable: bool = True
    notes: str | None = Field(default=None, max_length=4000)
    bill_rate: Amount | None = None
    currency: CurrencyCode | None = None
    external_id: Id | None = None


class TimeEntryPatch(_Model):
    """What may change on a draft or rejected entry."""

    minutes: int | None = Field(default=None, ge=1, le=1440)
    billable: bool | None = None
    notes: str | None = Field(default=None, max_length=4000)
    task_id: Id | None = None


class Adjustment(TimeEntryPatch):
    """A correction of an approved entry, with its reason."""

    reason: str = Field(min_length=1, max_length=1000)


class ExpenseCreate(_Model):
    """An expense a resource incurred for a project."""

    resource_id: Id
    project_id: Id
    date: dt.date
    category: str = Field(min_length=1, max_length=80)
    amount: Amount
    currency: CurrencyCode
    billable: bool = True
    markup_multiplier: Decimal = Field(default=Decimal(1), ge=0, le=10)
    receipt_ref: str | None = Field(default=None, max_length=200)
    notes: str | None = Field(default=None, max_length=4000)
    external_id: Id | None = None


async def _check_timesheet(tx: Tx, data: dict[str, Any]) -> None:
    await require(tx, "resources", data["resource_id"], "resource_id")
    data.update(status="open", entry_ids=[], approvals=[])


async def _check_open(tx: Tx, data: dict[str, Any], flag: str, code: str) -> None:
    await require(tx, "resources", data["resource_id"], "resource_id")
    # Share-locked: a cancel (which counts the project's entries) waits for this one, or
    # this one for the cancel, and then sees the project closed.
    project = await tx.get("projects", data["project_id"], share=True)
    if project is None:
        raise SandboxError(
            400, "INVALID_REFERENCE", f"project_id: no projects record {data['project_id']}"
        )
    if not project.data.get(flag):
        raise SandboxError(409, code, f"project {project.id} is not open ({flag} is false)")


async def _check_entry(tx: Tx, data: dict[str, Any]) -> None:
    if data.get("status", "draft") not in ("draft", "rejected"):
        raise SandboxError(409, "ENTRY_LOCKED", "a submitted or approved entry cannot change")
    await _check_open(tx, data, "open_for_time", "PROJECT_CLOSED_FOR_TIME")
    await require(tx, "tasks", data.get("task_id"), "task_id")


async def _new_entry(tx: Tx, data: dict[str, Any]) -> None:
    data.update(status="draft", revision=1, timesheet_id=None)


async def _new_expense(tx: Tx, data: dict[str, Any]) -> None:
    await _check_open(tx, data, "open_for_expenses", "PROJECT_CLOSED_FOR_EXPENSES")
    data.update(status="draft", approvals=[])


TIMESHEETS = Collection(
    "timesheets",
    "timesheet",
    "tms",
    TimesheetCreate,
    None,
    ("resource_id", "status"),
    "once",
    _check_timesheet,
)
TIME_ENTRIES = Collection(
    "time-entries",
    "time_entry",
    "tme",
    TimeEntryCreate,
    TimeEntryPatch,
    ("resource_id", "project_id", "status", "timesheet_id"),
    "once",
    _new_entry,
    _check_entry,
)
EXPENSES = Collection(
    "expenses",
    "expense",
    "exp",
    ExpenseCreate,
    None,
    ("resource_id", "project_id", "status"),
    "once",
    _new_expense,
)


def _adjust_router() -> APIRouter:
    router = APIRouter(prefix="/v1/time-entries", tags=["time-entries"])

    @router.post("/{entry_id}/adjustments", summary="Adjust an approved time entry")
    async def adjust(
        state: StateDep, entry_id: str, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Correct an approved entry: a new revision, the previous values kept."""
        adjustment = parse(Adjustment, body).model_dump(mode="json", exclude_unset=True)
        reason = adjustment.pop("reason")
        async with state.store.tx("psa") as tx:
            entry = await load(tx, "time-entries", entry_id, lock=True)
            if entry.data["status"] != "approved":
                raise SandboxError(409, "INVALID_TRANSITION", "only an approved entry is adjusted")
            await require(tx, "tasks", adjustment.get("task_id"), "task_id")
            previous = {k: entry.data.get(k) for k in ("minutes", "billable", "notes", "task_id")}
            data = {**entry.data, **adjustment, "revision": entry.data["revision"] + 1}
            data["adjustment"] = {
                "reason": reason,
                "previous": previous,
                "revision": entry.data["revision"],
            }
            entry = await tx.update(entry, data)
            await tx.emit("time_entry.adjusted", "time_entry", entry.id, entry.public())
        return entry.public()

    return router


def psa_time_routers() -> list[APIRouter]:
    """Return the PSA's timesheet, time-entry and expense routes."""
    return [
        workflow_router("timesheets", "timesheet", entries=True),
        workflow_router("expenses", "expense", entries=False),
        _adjust_router(),
        collection_router("psa", TIMESHEETS),
        collection_router("psa", TIME_ENTRIES),
        collection_router("psa", EXPENSES),
    ]
