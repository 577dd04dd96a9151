"""The HTTP ERP's employees: dated costs merged on upsert, and an end date (release date).

Several writers upsert the same employee by ``external_id`` (time-expense at onboarding with
the one rate it knows, staffing-sync with the whole series), so an upsert *merges* its
``cost_rates`` into the held ones by ``effective_from``: a new date is added, a date held
already takes the upsert's rate (a correction), and no rate is ever dropped. The list is
kept oldest first.

``end_date`` (NetSuite's ``releaseDate``) is the employee's last day: set or cleared only by
``PATCH /v1/employees/{id}``, never by an upsert, so a writer that knows nothing of the
termination cannot reopen the employee. Time bills dated after it answer 409
``EMPLOYEE_ENDED`` (``_erp_postings``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, ConfigDict, Field

from tandem_contracts import CurrencyCode
from tandem_sandbox._collections import Collection, create_record, require
from tandem_sandbox._http import parse
from tandem_sandbox._state import StateDep
from tandem_sandbox._store import Tx

__all__ = ["EMPLOYEES", "employee_router", "merge_cost_rates"]

Id = Annotated[str, Field(min_length=1, max_length=100)]
Rate = Annotated[Decimal, Field(max_digits=18, decimal_places=2, ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatedCost(_Model):
    """An employee's hourly cost from a date on."""

    amount: Rate
    currency: CurrencyCode
    effective_from: date


class EmployeeCreate(_Model):
    """An employee of a subsidiary, with dated costs (merged into the held ones by date)."""

    external_id: Annotated[str, Field(min_length=1, max_length=100)]
    name: str = Field(min_length=1, max_length=200)
    subsidiary_id: Id
    email: str | None = Field(default=None, max_length=200)
    cost_rates: list[DatedCost] = Field(default_factory=list, max_length=200)


class EmployeePatch(_Model):
    """The changeable fields of an employee (``end_date``: its last day; null reopens it)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    end_date: date | None = None


def merge_cost_rates(held: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The held dated costs with ``new`` merged in by ``effective_from`` (a same date: the new
    one), oldest first."""
    by_date = {rate["effective_from"]: rate for rate in held}
    by_date.update((rate["effective_from"], rate) for rate in new)
    return [by_date[day] for day in sorted(by_date)]


async def _check_subsidiary(tx: Tx, data: dict[str, Any]) -> None:
    await require(tx, "subsidiaries", data["subsidiary_id"], "subsidiary_id")


# Created only by the merging upsert below; the collection gives list, read and patch.
EMPLOYEES = Collection(
    "employees",
    "employee",
    "emp",
    EmployeeCreate,
    EmployeePatch,
    ("subsidiary_id",),
    "update",
    before_write=_check_subsidiary,
    creatable=False,
)


def employee_router() -> APIRouter:
    """Return the employees' upsert route (it merges dated costs)."""
    router = APIRouter(prefix=f"/v1/{EMPLOYEES.path}", tags=[EMPLOYEES.path])

    @router.post("", status_code=201, summary="Create or update one of employees")
    async def upsert(
        state: StateDep, response: Response, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Create an employee (201), or update the one with the same external_id (200),
        merging its dated costs into the held ones."""
        data = parse(EmployeeCreate, body).model_dump(mode="json")
        async with state.store.tx("erp") as tx:
            held = await tx.by_external_id(EMPLOYEES.path, data["external_id"])
            if held is not None:
                data["cost_rates"] = merge_cost_rates(
                    held.data.get("cost_rates", []), data["cost_rates"]
                )
            record, created = await create_record(tx, EMPLOYEES, data)
        response.status_code = 201 if created else 200
        return record.public()

    return router
