"""The HRIS (Workday-like): workers, hires, terminations and effective-dated cost rates.

A hire mints the worker number; a worker hired for a future date is ``pre_hire``. A new cost
rate closes the open-ended one before it (``effective_to`` = the day before); rates are added,
never rewritten. Events: worker.hired, worker.updated, worker.terminated, cost_rate.changed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, ConfigDict, Field

from tandem_contracts import CountryCode, CurrencyCode
from tandem_sandbox._collections import (
    Collection,
    collection_router,
    create_record,
    load,
    page_of,
    require,
)
from tandem_sandbox._http import Limit, SandboxError, parse
from tandem_sandbox._state import StateDep
from tandem_sandbox._store import Tx, mint_id

__all__ = ["hris_routers"]

Id = Annotated[str, Field(min_length=1, max_length=100)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CostRateCreate(_Model):
    """A worker's hourly cost from a date on."""

    amount: Decimal = Field(max_digits=18, decimal_places=2, ge=0)
    currency: CurrencyCode
    effective_from: date


class Hire(_Model):
    """The hire business process: the person, the employer, the start date."""

    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: str = Field(min_length=3, max_length=200)
    company: Id
    employment_type: Literal["employee", "contractor"] = "employee"
    hire_date: date
    job_title: str | None = Field(default=None, max_length=100)
    org_unit: str | None = Field(default=None, max_length=100)
    manager_id: Id | None = None
    location_country: CountryCode
    home_currency: CurrencyCode
    cost_rate: CostRateCreate | None = None
    external_id: Id | None = None


class WorkerPatch(_Model):
    """A change of job data."""

    email: str | None = Field(default=None, min_length=3, max_length=200)
    job_title: str | None = Field(default=None, max_length=100)
    org_unit: str | None = Field(default=None, max_length=100)
    manager_id: Id | None = None
    location_country: CountryCode | None = None
    status: Literal["active", "on_leave"] | None = None


class Termination(_Model):
    """The end of employment."""

    termination_date: date
    reason: str = Field(default="resignation", max_length=200)


async def _hired(tx: Tx, data: dict[str, Any]) -> None:
    await require(tx, "workers", data.get("manager_id"), "manager_id")
    data["worker_number"] = f"W{await tx.next_number('worker_number'):06d}"
    started = date.fromisoformat(data["hire_date"]) <= datetime.now(UTC).date()
    data["status"] = "active" if started else "pre_hire"
    data["termination_date"] = None


WORKERS = Collection(
    "workers",
    "worker",
    "wrk",
    Hire,
    WorkerPatch,
    ("status", "company"),
    "once",
    _hired,
    creatable=False,  # a worker comes into being by POST /v1/hires
)


async def add_cost_rate(tx: Tx, worker_id: str, rate: dict[str, Any]) -> dict[str, Any]:
    """Add a dated cost rate, closing the open-ended one before it; answer the new rate."""
    start = date.fromisoformat(rate["effective_from"])
    for record in await tx.page(
        "cost-rates", after=0, limit=10_000, where={"worker_id": worker_id}
    ):
        if record.data["effective_from"] == rate["effective_from"]:
            raise SandboxError(409, "DUPLICATE_EFFECTIVE_DATE", f"a rate starts on {start}")
        if (
            record.data["effective_to"] is None
            and record.data["effective_from"] < rate["effective_from"]
        ):
            closed = (start - timedelta(days=1)).isoformat()
            await tx.update(record, {**record.data, "effective_to": closed})
    data = {**rate, "worker_id": worker_id, "effective_to": None}
    created = await tx.insert("cost-rates", mint_id("crt"), data)
    await tx.emit("cost_rate.changed", "worker", worker_id, created.public())
    return created.public()


def _worker_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["workers"])

    @router.post("/hires", status_code=201, summary="Hire a worker")
    async def hire(
        state: StateDep, response: Response, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Run the hire: create the worker with a minted number (and a first cost rate)."""
        data = parse(Hire, body).model_dump(mode="json")
        first_rate = data.pop("cost_rate")
        async with state.store.tx("hris") as tx:
            worker, created = await create_record(tx, WORKERS, data)
            if created:
                await tx.emit("worker.hired", "worker", worker.id, worker.public())
                if first_rate is not None:
                    await add_cost_rate(tx, worker.id, first_rate)
        response.status_code = 201 if created else 200
        return worker.public()

    @router.post("/workers/{worker_id}/terminations", summary="Terminate a worker")
    async def terminate(
        state: StateDep, worker_id: str, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """End a worker's employment on a date."""
        termination = parse(Termination, body)
        async with state.store.tx("hris") as tx:
            worker = await load(tx, "workers", worker_id, lock=True)
            if worker.data["termination_date"] is not None:
                raise SandboxError(409, "ALREADY_TERMINATED", f"worker {worker_id} is terminated")
            ended = termination.termination_date <= datetime.now(UTC).date()
            data = {
                **worker.data,
                "termination_date": termination.termination_date.isoformat(),
                "termination_reason": termination.reason,
                "status": "terminated" if ended else worker.data["status"],
            }
            worker = await tx.update(worker, data)
            await tx.emit("worker.terminated", "worker", worker.id, worker.public())
        return worker.public()

    @router.post("/workers/{worker_id}/cost-rates", status_code=201, summary="Add a cost rate")
    async def add_rate(
        state: StateDep, worker_id: str, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Add an effective-dated cost rate (the previous open-ended one is closed)."""
        rate = parse(CostRateCreate, body).model_dump(mode="json")
        async with state.store.tx("hris") as tx:
            await load(tx, "workers", worker_id)
            return await add_cost_rate(tx, worker_id, rate)

    @router.get("/workers/{worker_id}/cost-rates", summary="List a worker's cost rates")
    async def cost_rates(
        state: StateDep, worker_id: str, limit: Limit = 50, page_token: str | None = None
    ) -> dict[str, Any]:
        """List the worker's cost rates in the order they were written."""
        async with state.store.tx("hris") as tx:
            await load(tx, "workers", worker_id)
            where = {"worker_id": worker_id}
            return await page_of(tx, "cost-rates", limit=limit, page_token=page_token, where=where)

    return router


COST_RATES = Collection(
    "cost-rates",
    "worker",
    "crt",
    CostRateCreate,
    filters=("worker_id",),
    creatable=False,  # a rate is added by POST /v1/workers/{id}/cost-rates
)
"""Every worker's cost rates, listed (and polled with ``updated_after``) like Workday's
compensation report: a ``cost_rate.changed`` webhook lost is read here."""


def hris_routers() -> list[APIRouter]:
    """Return the HRIS's routes."""
    return [_worker_router(), collection_router("hris", WORKERS),
            collection_router("hris", COST_RATES)]  # fmt: skip
