"""Routes of the ERP's postings: bulk creates, reversals, period close and reopen."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from tandem_sandbox._collections import Collection, collection_router, create_record, load
from tandem_sandbox._erp_postings import (
    BULK_LIMIT,
    EXPENSE_LINES,
    PERIODS,
    TIME_BILLS,
    Reversal,
    bulk_create,
    check_period_open,
)
from tandem_sandbox._http import SandboxError, parse
from tandem_sandbox._state import StateDep
from tandem_sandbox._store import Record, Tx

__all__ = ["erp_posting_routers"]

# Which period states each action leaves from: a locked period never opens again.
_PERIOD_MOVES = {
    "close": ("open", "closed"),
    "reopen": ("closed", "open"),
    "lock": (None, "locked"),
}


def _bulk_router(spec: Collection) -> APIRouter:
    router = APIRouter(prefix=f"/v1/{spec.path}", tags=[spec.path])

    @router.post("/bulk", summary=f"Create up to {BULK_LIMIT} {spec.path}")
    async def bulk(state: StateDep, body: Annotated[Any, Body()]) -> dict[str, Any]:
        """Create many records at once: one result per item (created, existing or error)."""
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise SandboxError(400, "INVALID_BULK", 'the body must be {"items": [...]}')
        if len(items) > BULK_LIMIT:
            raise SandboxError(
                413, "BULK_LIMIT_EXCEEDED", f"{len(items)} items, at most {BULK_LIMIT}"
            )
        async with state.store.tx("erp") as tx:
            return {"results": await bulk_create(tx, spec, items)}

    return router


# What a reversal negates in each posting collection, besides the amount.
_NEGATED = {TIME_BILLS.path: ("minutes",), EXPENSE_LINES.path: ()}


def _reversal_router(spec: Collection, what: str) -> APIRouter:
    router = APIRouter(prefix=f"/v1/{spec.path}", tags=[spec.path])

    @router.post("/{record_id}/reversal", status_code=201, summary=f"Reverse {what}")
    async def reverse(
        state: StateDep, record_id: str, response: Response, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Post the opposite of a posting (once per external_id); never edit in place."""
        reversal = parse(Reversal, body)
        async with state.store.tx("erp") as tx:
            existing = await tx.by_external_id(spec.path, reversal.external_id)
            if existing is not None:
                response.status_code = 200
                return existing.public()
            record = await _reverse(tx, spec, record_id, reversal)
        return record.public()

    return router


async def _reverse(tx: Tx, spec: Collection, record_id: str, reversal: Reversal) -> Record:
    """Create the negative of the posting ``record_id`` and link the two."""
    original = await load(tx, spec.path, record_id, lock=True)
    if original.data.get("reversed_by") is not None or original.data.get("reverses") is not None:
        raise SandboxError(
            409, "ALREADY_REVERSED", f"{spec.subject} {record_id} cannot be reversed"
        )
    day = reversal.date.isoformat() if reversal.date else original.data["date"]
    await check_period_open(tx, original.data["subsidiary_id"], day)
    negated = {field: -original.data[field] for field in _NEGATED[spec.path]}
    data = {
        **original.data,
        **negated,
        "date": day,
        "amount": str(-Decimal(original.data["amount"])),
        "reverses": original.id,
        "reversed_by": None,
        "invoice_id": None,
    }
    # Created without the collection's checks: the original passed them, and a reversal must
    # go through even when the project no longer takes new postings.
    bare = Collection(spec.path, spec.subject, spec.prefix, spec.create)
    record, _ = await create_record(tx, bare, {**data, "external_id": reversal.external_id})
    await tx.update(original, {**original.data, "reversed_by": record.id})
    return record


def _period_router() -> APIRouter:
    router = APIRouter(prefix="/v1/accounting-periods", tags=["accounting-periods"])

    async def move(state: StateDep, period_id: str, action: str) -> dict[str, Any]:
        source, target = _PERIOD_MOVES[action]
        async with state.store.tx("erp") as tx:
            period = await load(tx, "accounting-periods", period_id, lock=True)
            status = period.data["status"]
            if status == "locked" or (source is not None and status != source):
                raise SandboxError(409, "INVALID_TRANSITION", f"cannot {action} a {status} period")
            period = await tx.update(period, {**period.data, "status": target})
            await tx.emit(
                f"accounting_period.{target}", "accounting_period", period.id, period.public()
            )
        return period.public()

    def mover(action: str) -> Any:
        async def endpoint(state: StateDep, period_id: str) -> dict[str, Any]:
            return await move(state, period_id, action)

        endpoint.__doc__ = f"{action.capitalize()} the accounting period."
        return endpoint

    for action in _PERIOD_MOVES:
        router.add_api_route(f"/{{period_id}}/{action}", mover(action), methods=["POST"])
    return router


def erp_posting_routers() -> list[APIRouter]:
    """Return the ERP's posting routes."""
    return [
        _bulk_router(TIME_BILLS),
        _bulk_router(EXPENSE_LINES),
        _bulk_router(PERIODS),
        _reversal_router(TIME_BILLS, "a time bill"),
        _reversal_router(EXPENSE_LINES, "an expense line"),
        _period_router(),
        collection_router("erp", PERIODS),
        collection_router("erp", TIME_BILLS),
        collection_router("erp", EXPENSE_LINES),
    ]
