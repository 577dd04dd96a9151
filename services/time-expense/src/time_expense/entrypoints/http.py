"""The process API (``/v1``): sync status, posting summaries, business exceptions, FX rates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from tandem_contracts.events import PostingFailureReason
from tandem_service_kit import PoolDep, Principal, require_scopes
from time_expense.adapters.views import Views
from time_expense.domain import Stage
from time_expense.entrypoints.deps import Deps
from time_expense.entrypoints.schemas import (
    EntryPage,
    EntryRead,
    EntrySummary,
    ExceptionPage,
    ExceptionRead,
    FxRatesLoad,
    FxRatesLoaded,
    Period,
    PostingSummary,
    SummaryRow,
    period_bounds,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["time-expense"])
Reader = Annotated[Principal, Depends(require_scopes("time:read"))]
Admin = Annotated[Principal, Depends(require_scopes("time:admin"))]
Limit = Annotated[int, Query(ge=1, le=500)]
Key = Annotated[str | None, Query(min_length=1, max_length=255)]
"""An id filter or a page cursor: ids are at most 255 characters anywhere in Tandem."""


@router.get("/time-entries/{entry_id}")
async def read_time_entry(
    entry_id: Annotated[str, Path(max_length=255)], pool: PoolDep, caller: Reader
) -> EntryRead:
    """Read one time entry's sync status, its ERP postings and its open exception."""
    async with pool.acquire() as db:
        found = await Views(db).entry(entry_id)
    if found is None:
        raise HTTPException(404, f"time entry {entry_id} is unknown to time-expense")
    return EntryRead.model_validate(found)


@router.get("/time-entries")
async def list_time_entries(
    pool: PoolDep,
    caller: Reader,
    timesheet_id: Key = None,
    project_id: Key = None,
    stage: Stage | None = None,
    after: Key = None,
    limit: Limit = 100,
) -> EntryPage:
    """List time entries, by timesheet, project and stage if given (pages in entry-id order)."""
    async with pool.acquire() as db:
        rows = await Views(db).entries(
            timesheet_id=timesheet_id,
            project_id=project_id,
            stage=stage.value if stage else None,
            after=after,
            limit=limit,
        )
    items = [EntrySummary.model_validate(row) for row in rows]
    return EntryPage(items=items, next_after=items[-1].entry_id if len(items) == limit else None)


@router.get("/postings/summary")
async def posting_summary(
    pool: PoolDep,
    caller: Reader,
    period: Annotated[Period, Query(description="accounting period, YYYY-MM")],
    project_id: Key = None,
    legal_entity_id: Key = None,
) -> PostingSummary:
    """Sum what was posted per project and currency with accounting dates in ``period``."""
    start, end = period_bounds(period)
    async with pool.acquire() as db:
        rows = await Views(db).summary(start, end, project_id, legal_entity_id)
    return PostingSummary(
        period=period, start=start, end=end, rows=[SummaryRow.model_validate(r) for r in rows]
    )


@router.get("/exceptions")
async def list_exceptions(
    pool: PoolDep,
    caller: Reader,
    reason: PostingFailureReason | None = None,
    legal_entity_id: Key = None,
    region: Annotated[str | None, Query(pattern=r"^[a-z]{2,8}$")] = None,
    practice_id: Annotated[
        str | None, Query(min_length=1, max_length=255, description="an org unit of the project")
    ] = None,
    open_only: bool = True,
    after: Key = None,
    limit: Limit = 100,
) -> ExceptionPage:
    """List business exceptions by reason, legal entity, region and practice."""
    async with pool.acquire() as db:
        rows = await Views(db).exceptions(
            reason=reason.value if reason else None,
            legal_entity_id=legal_entity_id,
            region=region,
            org_unit_id=practice_id,
            open_only=open_only,
            after=after,
            limit=limit,
        )
    items = [ExceptionRead.model_validate(row) for row in rows]
    return ExceptionPage(
        items=items, next_after=items[-1].subject_id if len(items) == limit else None
    )


@router.put("/fx-rates", status_code=200)
async def load_fx_rates(body: FxRatesLoad, deps: Deps, caller: Admin) -> FxRatesLoaded:
    """Load published FX rates (immutable: a rate id already loaded is kept as it was)."""
    async with deps.transactions() as uow:
        for rate in body.rates:
            await uow.reference.save_fx_rate(rate)
    return FxRatesLoaded(loaded=len(body.rates))
