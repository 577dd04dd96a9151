"""The PSA approval actions: submit, approve, reject a timesheet (with its entries), an expense
or a change order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from tandem_sandbox._collections import load
from tandem_sandbox._http import SandboxError, parse
from tandem_sandbox._state import StateDep
from tandem_sandbox._store import Record, Tx

__all__ = ["Decision", "workflow_router"]

Act = Callable[[Any, str, str, Any], Awaitable[dict[str, Any]]]

# Which states each action leaves from; approved → rejected is the downstream refusal case.
_FROM = {
    "submitted": ("draft", "open", "rejected"),
    "approved": ("submitted",),
    "rejected": ("submitted", "approved"),
}
_ACTIONS = {"submit": "submitted", "approve": "approved", "reject": "rejected"}
_ENTRY_SELECT = """
SELECT id FROM sandbox.records
WHERE system = 'psa' AND collection = 'time-entries'
  AND data->>'resource_id' = $1 AND data->>'date' BETWEEN $2 AND $3
  AND data->>'status' IN ('draft', 'rejected')
ORDER BY data->>'date', id
"""


class Decision(BaseModel):
    """Who decided, and why (a reason is expected on a rejection)."""

    model_config = ConfigDict(extra="forbid")

    approver: str | None = Field(default=None, max_length=100)
    comment: str | None = Field(default=None, max_length=1000)


async def _entry_ids(tx: Tx, sheet: Record, status: str) -> list[str]:
    if status != "submitted":
        return list(sheet.data["entry_ids"])
    data = sheet.data
    rows = await tx.connection.fetch(
        _ENTRY_SELECT, data["resource_id"], data["period_start"], data["period_end"]
    )
    if not rows:
        raise SandboxError(409, "NOTHING_TO_SUBMIT", "no draft or rejected entries in the period")
    return [row["id"] for row in rows]


async def _move_entries(
    tx: Tx, sheet_id: str, ids: list[str], status: str, step: dict[str, Any]
) -> None:
    for entry_id in ids:
        entry = await load(tx, "time-entries", entry_id, lock=True)
        data = {**entry.data, "status": status, "timesheet_id": sheet_id, "decision": step}
        entry = await tx.update(entry, data)
        await tx.emit(f"time_entry.{status}", "time_entry", entry.id, entry.public())


def workflow_router(
    path: str,
    subject: str,
    *,
    entries: bool,
    transitions: Mapping[str, tuple[str, ...]] = _FROM,
) -> APIRouter:
    """Return submit / approve / reject routes for ``path`` (a timesheet moves its entries);
    ``transitions`` names the states each action's status may be reached from."""
    router = APIRouter(prefix=f"/v1/{path}", tags=[path])
    collection = path

    async def act(state: StateDep, record_id: str, action: str, body: Any) -> dict[str, Any]:
        decision = parse(Decision, body if body is not None else {})
        status = _ACTIONS[action]
        step = {"decision": status, "at": datetime.now(UTC).isoformat(), **decision.model_dump()}
        async with state.store.tx("psa") as tx:
            record = await load(tx, collection, record_id, lock=True)
            if record.data["status"] not in transitions[status]:
                raise SandboxError(
                    409,
                    "INVALID_TRANSITION",
                    f"cannot {action} a {record.data['status']} {subject}",
                )
            data = {**record.data, "status": status, "approvals": [*record.data["approvals"], step]}
            if entries:
                data["entry_ids"] = await _entry_ids(tx, record, status)
                await _move_entries(tx, record.id, data["entry_ids"], status, step)
            record = await tx.update(record, data)
            await tx.emit(f"{subject}.{status}", subject, record.id, record.public())
        return record.public()

    for action in _ACTIONS:
        router.add_api_route(
            f"/{{record_id}}/{action}",
            _endpoint(act, action, subject),
            methods=["POST"],
            summary=f"{action.capitalize()} a {subject}",
        )
    return router


def _endpoint(act: Act, action: str, subject: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def endpoint(
        state: StateDep, record_id: str, body: Annotated[Any, Body()] = None
    ) -> dict[str, Any]:
        return await act(state, record_id, action, body)

    endpoint.__doc__ = f"{action.capitalize()} the {subject}."
    return endpoint
