"""The HTTP ERP's postings: accounting periods, time bills, expense lines, reversals, bulk.

A posting dated in a closed or locked period of its project's subsidiary answers 409
``PERIOD_CLOSED``; a date no period covers is accepted. A project that does not allow time
(expenses), or was closed for time from a date on or before the posting's, answers 409
``PROJECT_CLOSED_FOR_TIME`` (``..._FOR_EXPENSES``); a time bill dated after its employee's
``end_date`` answers 409 ``EMPLOYEE_ENDED``. The project is read with a share lock, so
a concurrent cancel (``_erp_projects``) waits for the posting, or the posting for the cancel.

Time bills and expense lines are created once per ``external_id`` (a repeat answers the first
record, 200), and carry ``reverses`` / ``reversed_by``: a reversal is a second posting of the
opposite sign. Bulk creates take at most 300 items and answer one result per item, in order.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from tandem_contracts import CurrencyCode, minor_unit
from tandem_sandbox._collections import Collection, require
from tandem_sandbox._http import SandboxError, parse
from tandem_sandbox._store import Record, Tx, mint_id

__all__ = [
    "BULK_LIMIT",
    "EXPENSE_LINES",
    "PERIODS",
    "TIME_BILLS",
    "Reversal",
    "bulk_create",
    "check_period_open",
    "round_money",
]

BULK_LIMIT = 300
Id = Annotated[str, Field(min_length=1, max_length=100)]
ExternalId = Annotated[str, Field(min_length=1, max_length=100)]
Rate = Annotated[Decimal, Field(max_digits=18, decimal_places=2)]
_PERIODS_OF = """
SELECT data->>'name' AS name, data->>'status' AS status, (data->>'start_date')::date AS start,
    (data->>'end_date')::date AS end
FROM sandbox.records
WHERE system = 'erp' AND collection = 'accounting-periods' AND data->>'subsidiary_id' = $1
"""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PeriodCreate(_Model):
    """An accounting period of a subsidiary."""

    subsidiary_id: Id
    name: str = Field(min_length=1, max_length=40)
    start_date: dt.date
    end_date: dt.date
    status: Literal["open", "closed", "locked"] = "open"
    external_id: ExternalId | None = None


class TimeBillCreate(_Model):
    """Approved time to post: minutes of an employee on a project, at a rate."""

    external_id: ExternalId
    employee_id: Id
    project_id: Id
    task_id: Id | None = None
    service_item_id: Id | None = None
    date: dt.date
    minutes: int = Field(ge=1, le=1440)
    rate: Rate
    currency: CurrencyCode
    billable: bool = True
    memo: str | None = Field(default=None, max_length=1000)


class ExpenseLineCreate(_Model):
    """An approved expense to post."""

    external_id: ExternalId
    employee_id: Id
    project_id: Id
    date: dt.date
    category: str = Field(min_length=1, max_length=80)
    amount: Rate
    currency: CurrencyCode
    billable: bool = True
    markup_multiplier: Decimal = Field(default=Decimal(1), ge=0, le=10)
    memo: str | None = Field(default=None, max_length=1000)


class Reversal(_Model):
    """The reversal of a posted time bill or expense line, dated ``date`` (default: the
    original's)."""

    external_id: ExternalId
    date: dt.date | None = None


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit."""
    return amount.quantize(Decimal(1).scaleb(-minor_unit(currency)), rounding="ROUND_HALF_UP")


async def check_period_open(tx: Tx, subsidiary_id: str, day: str) -> None:
    """Refuse (409 PERIOD_CLOSED) a posting dated in a closed or locked period."""
    key = (PERIODS.path, "of", subsidiary_id)
    if key not in tx.memo:  # read once per request: a bulk posts many days of few subsidiaries
        tx.memo[key] = await tx.connection.fetch(_PERIODS_OF, subsidiary_id)
    on = dt.date.fromisoformat(day)
    row = next(
        (p for p in tx.memo[key] if p["start"] <= on <= p["end"] and p["status"] != "open"), None
    )
    if row is not None:
        raise SandboxError(
            409, "PERIOD_CLOSED", f"the period {row['name']} of {day} is {row['status']}"
        )


async def _project(tx: Tx, project_id: str) -> Record:
    """The posting's project, share-locked for the transaction (read once per request)."""
    key = ("projects", "posting", project_id)
    if key not in tx.memo:
        tx.memo[key] = await tx.get("projects", project_id, share=True)
    project: Record | None = tx.memo[key]
    if project is None:
        raise SandboxError(400, "INVALID_REFERENCE", f"project_id: no projects record {project_id}")
    return project


async def _check_posting(tx: Tx, data: dict[str, Any], flag: str, code: str) -> None:
    await require(tx, "employees", data["employee_id"], "employee_id")
    project = await _project(tx, data["project_id"])
    if not project.data[flag]:
        raise SandboxError(409, code, f"project {project.id} does not allow it ({flag} false)")
    closed_from = project.data.get("closed_from")
    if closed_from is not None and data["date"] >= closed_from:
        raise SandboxError(
            409, code, f"project {project.id} is closed for postings from {closed_from}"
        )
    data["subsidiary_id"] = project.data["subsidiary_id"]
    await check_period_open(tx, data["subsidiary_id"], data["date"])
    data.update(status="posted", invoice_id=None)


async def _time_bill(tx: Tx, data: dict[str, Any]) -> None:
    await _check_posting(tx, data, "allow_time", "PROJECT_CLOSED_FOR_TIME")
    employee = await require(tx, "employees", data["employee_id"], "employee_id")
    last_day = employee.data.get("end_date") if employee else None
    if last_day is not None and data["date"] > last_day:  # ISO dates order as strings
        raise SandboxError(
            409, "EMPLOYEE_ENDED", f"employee {data['employee_id']}'s last day is {last_day}"
        )
    await require(tx, "tasks", data.get("task_id"), "task_id")
    await require(tx, "service-items", data.get("service_item_id"), "service_item_id")
    amount = Decimal(data["minutes"]) / 60 * Decimal(data["rate"])
    data.update(amount=str(round_money(amount, data["currency"])), reverses=None, reversed_by=None)


async def _expense_line(tx: Tx, data: dict[str, Any]) -> None:
    await _check_posting(tx, data, "allow_expenses", "PROJECT_CLOSED_FOR_EXPENSES")
    data.update(reverses=None, reversed_by=None)


async def _period(tx: Tx, data: dict[str, Any]) -> None:
    await require(tx, "subsidiaries", data["subsidiary_id"], "subsidiary_id")
    if data["end_date"] < data["start_date"]:
        raise SandboxError(400, "INVALID_PERIOD", "end_date is before start_date")


PERIODS = Collection(
    "accounting-periods",
    "accounting_period",
    "per",
    PeriodCreate,
    None,
    ("subsidiary_id", "status", "name"),
    "once",
    _period,
)
TIME_BILLS = Collection(
    "time-bills",
    "time_bill",
    "tb",
    TimeBillCreate,
    None,
    ("project_id", "employee_id", "invoice_id"),
    "once",
    _time_bill,
)
EXPENSE_LINES = Collection(
    "expense-lines",
    "expense_line",
    "exl",
    ExpenseLineCreate,
    None,
    ("project_id", "employee_id", "invoice_id"),
    "once",
    _expense_line,
)


async def bulk_create(tx: Tx, spec: Collection, items: list[Any]) -> list[dict[str, Any]]:
    """Answer one result per item, in order: created, existing (its ``external_id`` was
    created before, or earlier in this request) or error.

    Every item is checked first — the checks of these collections only read — and the items
    that pass are created with one insert, so a refused item leaves nothing behind.
    """
    assert spec.upsert == "once"  # noqa: S101 - the bulk routes are for create-once records
    results: list[dict[str, Any] | None] = [None] * len(items)
    parsed: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(items):
        try:
            parsed.append((index, parse(spec.create, item).model_dump(mode="json")))
        except RequestValidationError as exc:
            error = {"code": "VALIDATION_ERROR", "detail": str(exc.errors()[:3])}
            results[index] = {"index": index, "status": "error", "error": error}
    named = [data["external_id"] for _, data in parsed if data.get("external_id")]
    known = {r.external_id: r for r in await tx.by_external_ids(spec.path, named)}
    new: list[tuple[str, dict[str, Any], str | None]] = []
    creating: dict[str, int] = {}  # external id -> its index in ``new``
    repeats: list[tuple[int, int]] = []  # (item index, index in ``new`` it repeats)
    made: list[int] = []  # item index of each of ``new``
    for index, data in parsed:
        external_id = data.pop("external_id", None)
        if external_id in known:
            record = known[external_id]
            results[index] = {"index": index, "status": "existing", "record": record.public()}
            continue
        if external_id is not None and external_id in creating:
            repeats.append((index, creating[external_id]))
            continue
        try:
            for hook in (spec.before_write, spec.before_create):
                if hook is not None:
                    await hook(tx, data)
        except SandboxError as exc:
            error = {"code": exc.code, "detail": exc.detail}
            results[index] = {"index": index, "status": "error", "error": error}
            continue
        if external_id is not None:
            creating[external_id] = len(new)
        new.append((mint_id(spec.prefix), data, external_id))
        made.append(index)
    records = await tx.insert_many(spec.path, new) if new else []
    if records:
        created = f"{spec.subject}.created"
        await tx.emit_many([(created, spec.subject, r.id, r.public()) for r in records])
    for index, record in zip(made, records, strict=True):
        results[index] = {"index": index, "status": "created", "record": record.public()}
    for index, first in repeats:
        record = records[first]
        results[index] = {"index": index, "status": "existing", "record": record.public()}
    return [result for result in results if result is not None]
