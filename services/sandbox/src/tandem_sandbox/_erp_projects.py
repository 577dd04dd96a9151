"""The ERP project's life after creation: activate, cancel, close for time, and its activity.

- ``POST /v1/projects/{id}/activate`` — ``pending`` or ``in_progress`` → ``in_progress`` with
  time and expenses allowed; a cancelled or closed project is not reopened (409
  ``PROJECT_CANCELLED`` / ``PROJECT_CLOSED``).
- ``POST /v1/projects/{id}/cancel`` ``{reason}`` — only a project nothing is booked on (no time
  bill, expense line or invoice names it; else 409 ``PROJECT_HAS_ACTIVITY``): ``cancelled``,
  time and expenses no longer allowed, ``cancellation: {reason, at}``; kept, never deleted.
- ``POST /v1/projects/{id}/close-for-time`` ``{closed_from}`` — ``closed``; postings dated on
  or after ``closed_from`` are refused from then on (``PROJECT_CLOSED_FOR_TIME`` /
  ``..._FOR_EXPENSES``), earlier ones still taken; a cancelled project: 409
  ``PROJECT_CANCELLED``.
- ``GET /v1/projects/{id}/activity`` — ``{time_bills, expense_lines, invoiced}``.

Each action answers the project; done again, it answers the project as it is (no new version,
no event). The project row is locked for the action, and a posting reads its project with a
share lock (``_erp_postings``), so a cancel and a posting on the same project never both pass.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from tandem_sandbox._collections import load
from tandem_sandbox._http import SandboxError, parse
from tandem_sandbox._state import StateDep
from tandem_sandbox._store import Record, Tx

__all__ = ["erp_project_router"]

# Postings and invoices naming a project, by collection; reversals included. A customer
# invoice names its projects on its lines.
_ACTIVITY = """
SELECT collection, count(*) AS n,
    count(*) FILTER (WHERE data->>'invoice_id' IS NOT NULL) AS invoiced
FROM sandbox.records
WHERE system = 'erp' AND collection IN ('time-bills', 'expense-lines', 'invoices')
  AND data->>'project_id' = $1
GROUP BY collection
UNION ALL
SELECT 'customer-invoices', count(*), count(*)
FROM sandbox.records
WHERE system = 'erp' AND collection = 'customer-invoices'
  AND data->'lines' @> jsonb_build_array(jsonb_build_object('project_id', $1::text))
HAVING count(*) > 0
"""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Cancellation(_Model):
    """Why the project is cancelled."""

    reason: str = Field(min_length=1, max_length=500)


class CloseForTime(_Model):
    """From which date on the project takes no more time or expenses."""

    closed_from: date


async def activity(tx: Tx, project_id: str) -> dict[str, Any]:
    """What is booked on the project: time bills, expense lines, and whether any is invoiced."""
    rows = {row["collection"]: row for row in await tx.connection.fetch(_ACTIVITY, project_id)}
    count = {c: int(rows[c]["n"]) if c in rows else 0 for c in ("time-bills", "expense-lines")}
    invoiced = (
        "invoices" in rows
        or "customer-invoices" in rows
        or any(int(rows[c]["invoiced"]) for c in ("time-bills", "expense-lines") if c in rows)
    )
    return {
        "project_id": project_id,
        "time_bills": count["time-bills"],
        "expense_lines": count["expense-lines"],
        "invoiced": invoiced,
    }


async def _change(tx: Tx, project: Record, event: str, changes: dict[str, Any]) -> Record:
    updated = await tx.update(project, {**project.data, **changes})
    shown = updated.public()
    await tx.emit(f"project.{event}", "project", updated.id, shown)
    await tx.emit("project.updated", "project", updated.id, shown)
    return updated


def _refuse_status(project: Record, *refused: str) -> None:
    status = project.data["status"]
    if status in refused:
        code = "PROJECT_CANCELLED" if status == "cancelled" else "PROJECT_CLOSED"
        raise SandboxError(409, code, f"project {project.id} is {status}")


def erp_project_router() -> APIRouter:
    """Return the project action routes."""
    router = APIRouter(prefix="/v1/projects", tags=["projects"])

    @router.post("/{project_id}/activate", summary="Activate a project")
    async def activate(state: StateDep, project_id: str) -> dict[str, Any]:
        """Open a pending project for time and expenses (an active one is answered as is)."""
        async with state.store.tx("erp") as tx:
            project = await load(tx, "projects", project_id, lock=True)
            _refuse_status(project, "cancelled", "closed")
            opened = {"status": "in_progress", "allow_time": True, "allow_expenses": True}
            if any(project.data.get(k) != v for k, v in opened.items()):
                project = await _change(tx, project, "activated", opened)
        return project.public()

    @router.post("/{project_id}/cancel", summary="Cancel a project nothing is booked on")
    async def cancel(
        state: StateDep, project_id: str, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Cancel the project, kept with its reason; refused when anything is booked on it."""
        why = parse(Cancellation, body)
        async with state.store.tx("erp") as tx:
            project = await load(tx, "projects", project_id, lock=True)
            if project.data["status"] == "cancelled":
                return project.public()
            booked = await activity(tx, project_id)
            if booked["time_bills"] or booked["expense_lines"] or booked["invoiced"]:
                detail = (
                    f"project {project_id} has {booked['time_bills']} time bills and "
                    f"{booked['expense_lines']} expense lines"
                    + (", invoiced" if booked["invoiced"] else "")
                )
                raise SandboxError(409, "PROJECT_HAS_ACTIVITY", detail)
            at = datetime.now(UTC).isoformat()
            cancelled = {
                "status": "cancelled",
                "allow_time": False,
                "allow_expenses": False,
                "cancellation": {"reason": why.reason, "at": at},
            }
            project = await _change(tx, project, "cancelled", cancelled)
        return project.public()

    @router.post("/{project_id}/close-for-time", summary="Close a project for time")
    async def close_for_time(
        state: StateDep, project_id: str, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Refuse postings dated on or after ``closed_from`` (a closed one is answered as is)."""
        close = parse(CloseForTime, body)
        async with state.store.tx("erp") as tx:
            project = await load(tx, "projects", project_id, lock=True)
            _refuse_status(project, "cancelled")
            if project.data["status"] != "closed" or project.data.get("closed_from") is None:
                closed = {"status": "closed", "closed_from": close.closed_from.isoformat()}
                project = await _change(tx, project, "closed_for_time", closed)
        return project.public()

    @router.get("/{project_id}/activity", summary="What is booked on a project")
    async def read_activity(state: StateDep, project_id: str) -> dict[str, Any]:
        """Count the project's time bills and expense lines; say whether any is invoiced."""
        async with state.store.tx("erp") as tx:
            await load(tx, "projects", project_id)
            return await activity(tx, project_id)

    return router
