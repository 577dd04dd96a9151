"""Reconciliation on demand: ``POST /v1/reconciliations`` runs one and answers its report."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException

from tandem_connectors import ConnectorError
from tandem_service_kit import Principal, require_scopes
from time_expense.entrypoints.deps import Deps
from time_expense.entrypoints.schemas import (
    ReconciliationRead,
    ReconciliationRequest,
    period_bounds,
)
from time_expense.service_layer.reconciliation import ReconciliationError

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["reconciliation"])
Reconciling = Annotated[Principal, Depends(require_scopes("time:reconcile"))]


@router.post("/reconciliations", status_code=201)
async def run_reconciliation(
    body: ReconciliationRequest, deps: Deps, caller: Reconciling
) -> list[ReconciliationRead]:
    """Reconcile the month's approved time of a legal entity with each PSA; repair if asked."""
    reconcilers = deps.reconcilers
    if not reconcilers:
        raise HTTPException(409, "no PSA instance is configured to reconcile against")
    start, end = period_bounds(body.period)
    reports = []
    for reconciler in reconcilers.values():
        try:
            report = await reconciler.run(
                body.legal_entity_id, start, end, repair=body.repair, trigger="request"
            )
        except ReconciliationError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ConnectorError as exc:
            raise HTTPException(503, f"a system of record is unavailable: {exc}") from exc
        data = asdict(report)
        data["mismatches"] = [
            {**asdict(m), "kind": m.kind.value, "entry_ids": list(m.entry_ids)}
            for m in report.mismatches
        ]
        reports.append(ReconciliationRead.model_validate(data))
    return reports
