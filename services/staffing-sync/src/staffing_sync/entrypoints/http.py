"""The process API (``/v1``): a worker's sync status, the onboarding pipeline, what became of
a PSA booking, and resource requests with their staffing options."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from staffing_sync.adapters.views import Views
from staffing_sync.entrypoints.schemas import (
    BookingRead,
    PipelineStage,
    RequestPage,
    RequestRead,
    WorkerPage,
    WorkerStatusRead,
)
from tandem_service_kit import PoolDep, Principal, require_scopes

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["staffing-sync"])
Reader = Annotated[Principal, Depends(require_scopes("staffing:read"))]
IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-:.]+$")]


@router.get("/workers/{worker_id}", responses={404: {"description": "No such worker."}})
async def worker_status(pool: PoolDep, caller: Reader, worker_id: IdPath) -> WorkerStatusRead:
    """The worker's sync status: its HRIS version, its PSA resource and ERP employee with the
    version each took, its cost rates, and what holds it."""
    async with pool.acquire() as db:
        found = await Views(db).worker(worker_id, datetime.now(UTC).date())
    if found is None:
        raise HTTPException(404, f"staffing-sync knows no worker {worker_id}")
    return WorkerStatusRead.model_validate(found)


@router.get("/workers")
async def onboarding_pipeline(
    pool: PoolDep,
    caller: Reader,
    status: PipelineStage | None = None,
    after: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> WorkerPage:
    """The onboarding pipeline: workers waiting, failed, hired but not yet staffable,
    staffable, or terminated (``status`` filters), by worker id."""
    async with pool.acquire() as db:
        rows = await Views(db).pipeline(datetime.now(UTC).date(), status, after, limit)
    items = [WorkerStatusRead.model_validate(row) for row in rows]
    next_after = items[-1].worker_id if len(items) == limit else None
    return WorkerPage(items=items, next_after=next_after)


@router.get("/assignments/{assignment_id}", responses={404: {"description": "No such booking."}})
async def booking_status(pool: PoolDep, caller: Reader, assignment_id: IdPath) -> BookingRead:
    """A PSA booking as staffing-sync handled it: confirmed (with its frozen rate), cancelled
    or not confirmed, and its warnings (an intercompany pair not allowed, no rate)."""
    async with pool.acquire() as db:
        found = await Views(db).booking(assignment_id)
    if found is None:
        raise HTTPException(404, f"staffing-sync handled no booking {assignment_id}")
    return BookingRead.model_validate(found)


@router.get("/requests/{request_id}", responses={404: {"description": "No such request."}})
async def request_options(pool: PoolDep, caller: Reader, request_id: IdPath) -> RequestRead:
    """A resource request with its options, best first (each with its score breakdown and
    reasons), and the candidates left out with why."""
    async with pool.acquire() as db:
        found = await Views(db).request(request_id)
    if found is None:
        raise HTTPException(404, f"staffing-sync handled no request {request_id}")
    return RequestRead.model_validate(found)


@router.get("/requests")
async def requests(
    pool: PoolDep,
    caller: Reader,
    project_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    before: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RequestPage:
    """Resource requests newest first (``project_id`` filters; ``before`` continues)."""
    async with pool.acquire() as db:
        rows = await Views(db).requests(project_id, before, limit)
    items = [RequestRead.model_validate(row) for row in rows]
    next_before = items[-1].request_id if len(items) == limit else None
    return RequestPage(items=items, next_before=next_before)
