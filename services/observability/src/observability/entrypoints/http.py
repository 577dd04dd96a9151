"""observability's ``/v1`` API: timelines, search, KPIs, SLOs, reconciliation, the fleet and
the parking lots of every service (read, replay and discard, audited)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from observability.adapters.audit import audit_entries, audit_record
from observability.adapters.parking import ParkingLotRefused
from observability.adapters.reconciliation import reconciliation
from observability.adapters.steps import keyed_rows, keys_of, timeline_rows
from observability.entrypoints.schemas import (
    AuditPage,
    ConsoleActionCreate,
    ConsoleActionRead,
    KeyTimelineRead,
    SearchRead,
    SloRead,
    SlosRead,
    StepRead,
    TimelineRead,
    WhoAmI,
)
from observability.service_layer.dependencies import Dependencies
from observability.service_layer.jobs import check_utilization, kpi_query
from observability.service_layer.ports import SourceUnavailable
from observability.service_layer.slos import slo_statuses
from tandem_service_kit import Principal, require_scopes, wired

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["observability"])

Deps = Annotated[Dependencies, Depends(wired)]
Anyone = Annotated[Principal, Depends(require_scopes())]
Reader = Annotated[Principal, Depends(require_scopes("observability:read"))]
ParkedReader = Annotated[Principal, Depends(require_scopes("parked:read"))]
Replayer = Annotated[Principal, Depends(require_scopes("parked:replay"))]
Discarder = Annotated[Principal, Depends(require_scopes("parked:discard"))]
Operator = Annotated[Principal, Depends(require_scopes("observability:operate"))]

# An id: printable, no white space. Written out as ranges (not ``\S``) so that Python and the
# OpenAPI document's ECMA regex agree on every character (U+0085 is white space only to Python).
ID_PATTERN = r"^[^\x00-\x20\x7f-\xa0]+$"
_Id = Annotated[str, Path(min_length=1, max_length=255, pattern=ID_PATTERN)]
_Service = Annotated[str, Path(min_length=1, max_length=63, pattern=r"^[a-z][a-z0-9-]*$")]
_MAX_STEPS = 2_000
_STUCK: frozenset[str] = frozenset({"failed", "held", "parked"})


def _steps(deps: Dependencies, rows: list[dict[str, Any]]) -> list[StepRead]:
    template = deps.settings.trace_url_template
    return [
        StepRead(
            **row,
            trace_url=template.replace("{trace_id}", row["trace_id"])
            if template and row["trace_id"]
            else None,
        )
        for row in rows
    ]


def _stuck(steps: list[StepRead]) -> list[StepRead]:
    """The latest step of each subject, where that step failed, is held or parked."""
    latest: dict[tuple[str, str], StepRead] = {}
    for step in steps:
        latest[(step.subject_type, step.subject_id)] = step
    return [step for step in latest.values() if step.outcome in _STUCK]


_TERMINAL = frozenset({"InvoicePosted", "InvoiceCredited"})


@router.get("/whoami")
async def whoami(principal: Anyone) -> WhoAmI:
    """Who the presented credential proves, and its scopes (the console's sign-in)."""
    return WhoAmI(subject=principal.subject, scopes=sorted(principal.scopes))


@router.get("/search")
async def search(
    deps: Deps,
    _: Reader,
    q: Annotated[str, Query(min_length=1, max_length=255, pattern=ID_PATTERN)],
) -> SearchRead:
    """Everything an id names: a business key, a system id, an event id or a correlation id."""
    async with deps.pool.acquire() as connection:
        matches = await keys_of(connection, q, 100)
    return SearchRead.model_validate({"query": q, "matches": matches})


@router.get("/timelines/{correlation_id}")
async def timeline(correlation_id: _Id, deps: Deps, _: Reader) -> TimelineRead:
    """One flow across services: each step, its service, outcome, system ids and trace."""
    async with deps.pool.acquire() as connection:
        rows = await timeline_rows(connection, correlation_id, _MAX_STEPS + 1)
    if not rows:
        raise HTTPException(404, detail=f"no steps recorded for correlation id {correlation_id}")
    steps = _steps(deps, rows[:_MAX_STEPS])
    stuck = _stuck(steps)
    state: Literal["complete", "in_progress", "stuck"] = (
        "stuck" if stuck else "complete" if steps[-1].event_type in _TERMINAL else "in_progress"
    )
    return TimelineRead(
        correlation_id=correlation_id,
        status=state,
        stuck=stuck,
        started_at=steps[0].occurred_at,
        last_at=steps[-1].occurred_at,
        services=sorted({step.service for step in steps}),
        steps=steps,
        truncated=len(rows) > _MAX_STEPS,
    )


@router.get("/keys/{kind}/{key_id}")
async def key_timeline(
    kind: Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[a-z_]+$")],
    key_id: _Id,
    deps: Deps,
    _: Reader,
) -> KeyTimelineRead:
    """Every step naming one business key (``timesheet``, ``invoice``, ``project``...)."""
    async with deps.pool.acquire() as connection:
        rows = await keyed_rows(connection, kind, key_id, _MAX_STEPS + 1)
    if not rows:
        raise HTTPException(404, detail=f"no steps name {kind} {key_id}")
    steps = _steps(deps, rows[:_MAX_STEPS])
    return KeyTimelineRead(
        kind=kind,
        id=key_id,
        correlation_ids=sorted({step.correlation_id for step in steps}),
        steps=steps,
        truncated=len(rows) > _MAX_STEPS,
    )


@router.get("/kpis")
async def kpis(
    deps: Deps,
    _: Reader,
    region: Annotated[
        str | None, Query(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    ] = None,
) -> dict[str, Any]:
    """The business KPIs per residency region (DOMAIN.md §5)."""
    snapshot = await deps.store.kpis(kpi_query(deps, region))
    return {"computed_at": datetime.now(UTC), "regions": snapshot}


@router.post("/utilization/check")
async def utilization_check(
    deps: Deps,
    principal: Operator,
    period: Annotated[str, Query(pattern=r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$")],
) -> dict[str, Any]:
    """Check ``period``'s utilization against the thresholds now (the scheduled job checks
    last month once it settled); each breach is announced once, whoever asks."""
    announced = await check_utilization(deps, period)
    logger.info("%s checked the utilization of %s: %d new breach(es)", principal.subject,
                period, announced)  # fmt: skip
    return {"period": period, "announced": announced}


@router.get("/slos")
async def slos(deps: Deps, _: Reader) -> SlosRead:
    """Each SLO: objective, the period's ratio and budget left, burn rates, what alerts."""
    return SlosRead(
        slos=[
            SloRead(
                name=s.slo.name,
                description=s.slo.description,
                objective=s.slo.objective,
                period=s.slo.period,
                good=s.good,
                total=s.total,
                ratio=s.ratio,
                budget_remaining=s.budget_remaining,
                burn_rates=s.burn_rates,
                alerting=s.alerting,
            )
            for s in await slo_statuses(deps)
        ]
    )


@router.get("/reconciliation")
async def reconciliation_results(deps: Deps, _: Reader) -> dict[str, Any]:
    """Each domain's reconciliation: its last mismatches by kind, and the most recent."""
    async with deps.pool.acquire() as connection:
        return {"domains": await reconciliation(connection)}


@router.get("/fleet")
async def fleet(deps: Deps, _: Reader) -> dict[str, Any]:
    """The services' workloads (Kubernetes) beside their queues (RabbitMQ)."""
    view: dict[str, Any] = {"read_at": datetime.now(UTC)}
    sources: list[tuple[str, Any]] = [("workloads", deps.fleet), ("queues", deps.broker)]
    for name, source in sources:
        view[name], view[f"{name}_error"] = None, None
        if source is None:
            view[f"{name}_error"] = "not configured"
            continue
        try:
            found = await (source.workloads() if name == "workloads" else source.queues())
        except SourceUnavailable as exc:
            view[f"{name}_error"] = str(exc)
        else:
            view[name] = [vars(item) for item in found]
    return view


@router.get("/parking-lots")
async def parking_lots(deps: Deps, _: ParkedReader) -> dict[str, Any]:
    """Every service's parked messages (the oldest 100 each: those waiting longest), or why a
    lot is unreachable."""
    lots = []
    for service in deps.parking_lots.services():
        try:
            items = await deps.parking_lots.list(service, limit=100)
        except SourceUnavailable as exc:
            lots.append({"service": service, "reachable": False, "error": str(exc), "items": []})
        else:
            lots.append({"service": service, "reachable": True, "error": None, "items": items})
    return {"services": lots}


def _known(deps: Dependencies, service: str) -> None:
    if service not in deps.parking_lots.services():
        raise HTTPException(404, detail=f"no parking lot is configured for service {service}")


@router.get("/parking-lots/{service}/messages/{parked_id}")
async def parked_message(
    service: _Service, parked_id: Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{36}$")], deps: Deps,
    _: ParkedReader,
) -> dict[str, Any]:  # fmt: skip
    """One parked message with its reason, history, headers and envelope (redacted)."""
    _known(deps, service)
    try:
        detail = await deps.parking_lots.detail(service, parked_id)
    except SourceUnavailable as exc:
        raise HTTPException(502, detail=f"{service} did not answer: {exc}") from exc
    if detail is None:
        raise HTTPException(404, detail=f"{service} has no parked message {parked_id}")
    return detail


async def _act(
    deps: Dependencies,
    principal: Principal,
    action: Literal["replay", "discard"],
    service: str,
    body: ConsoleActionCreate,
) -> ConsoleActionRead:
    _known(deps, service)
    ids = [str(item) for item in body.ids]
    # The operator is named in the service's own audit too: the service key acts for them.
    why = f"{body.why} (by {principal.subject} via the console)"[:500]
    call = deps.parking_lots.replay if action == "replay" else deps.parking_lots.discard
    try:
        done = await call(service, ids, why)
    except ParkingLotRefused as exc:
        await audit_record(
            deps.pool, actor=principal.subject, action=action, service=service, ids=ids,
            why=body.why, count=0, outcome=f"refused {exc.status}",
        )  # fmt: skip
        raise HTTPException(exc.status if exc.status < 500 else 502, detail=exc.detail) from exc
    except SourceUnavailable as exc:
        raise HTTPException(502, detail=f"{service} did not answer: {exc}") from exc
    audit_id = await audit_record(
        deps.pool, actor=principal.subject, action=action, service=service, ids=ids,
        why=body.why, count=done.count, outcome="done",
    )  # fmt: skip
    logger.info("%s %s %d parked message(s) of %s: %s", principal.subject, action, done.count,
                service, body.why)  # fmt: skip
    return ConsoleActionRead(
        action_id=done.action_id, count=done.count, ids=list(done.ids), audit_id=audit_id
    )


@router.post("/parking-lots/{service}/replay")
async def replay(
    service: _Service, body: ConsoleActionCreate, deps: Deps, principal: Replayer
) -> ConsoleActionRead:
    """Send parked messages of ``service`` back to their consumer, with a reason (audited)."""
    return await _act(deps, principal, "replay", service, body)


@router.post("/parking-lots/{service}/discard")
async def discard(
    service: _Service, body: ConsoleActionCreate, deps: Deps, principal: Discarder
) -> ConsoleActionRead:
    """Discard parked messages of ``service`` for good, with a reason (audited)."""
    return await _act(deps, principal, "discard", service, body)


@router.get("/audit")
async def audit(
    deps: Deps, _: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> AuditPage:
    """What operators did from the console, newest first."""
    return AuditPage.model_validate({"items": await audit_entries(deps.pool, limit)})
