"""A typed REST collection over the record store: list, read, create (or upsert), patch.

Each system declares its collections with a ``Collection`` (its pydantic models, filters and
hooks); ``collection_router`` turns one into routes under ``/v1/<path>``. Every create and
patch emits ``<subject>.created`` / ``<subject>.updated`` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel

from tandem_sandbox._http import Limit, SandboxError, decode_token, encode_token, parse
from tandem_sandbox._state import StateDep
from tandem_sandbox._store import Record, Tx, mint_id

__all__ = ["Collection", "collection_router", "create_record", "load", "page_of", "require"]

Hook = Callable[[Tx, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Collection:
    """One resource of a system: where it lives, its models, and what checks its writes."""

    path: str
    subject: str
    prefix: str
    create: type[BaseModel]
    patch: type[BaseModel] | None = None
    filters: tuple[str, ...] = ()
    upsert: Literal["none", "update", "once"] = "none"
    """By ``external_id``: refuse a second (none), update the record (update), answer it (once)."""
    before_create: Hook | None = None
    before_write: Hook | None = None
    creatable: bool = True
    """False when records are only made by a business action (a hire), not by POST."""


async def load(tx: Tx, collection: str, id_: str, *, lock: bool = False) -> Record:
    """Return the record or answer 404 NOT_FOUND."""
    record = await tx.get(collection, id_, lock=lock)
    if record is None:
        raise SandboxError(404, "NOT_FOUND", f"no {collection} record {id_}")
    return record


async def require(tx: Tx, collection: str, id_: str | None, field: str) -> Record | None:
    """Check a reference field names an existing record; 400 INVALID_REFERENCE otherwise."""
    if id_ is None:
        return None
    key = (collection, "require", id_)
    if key not in tx.memo:  # a bulk request names the same employee and project many times
        tx.memo[key] = await tx.get(collection, id_)
    record: Record | None = tx.memo[key]
    if record is None:
        raise SandboxError(400, "INVALID_REFERENCE", f"{field}: no {collection} record {id_}")
    return record


async def create_record(tx: Tx, spec: Collection, data: dict[str, Any]) -> tuple[Record, bool]:
    """Create a record from validated ``data``, or answer the one its external id names."""
    external_id = data.pop("external_id", None)
    if external_id is not None:
        existing = await tx.by_external_id(spec.path, external_id)
        if existing is not None:
            if spec.upsert == "none":
                raise SandboxError(409, "DUPLICATE_EXTERNAL_ID", f"{external_id} exists")
            if spec.upsert == "once" or _unchanged(existing, data):
                return existing, False
            merged = {**existing.data, **data}
            if spec.before_write:
                await spec.before_write(tx, merged)
            record = await tx.update(existing, merged)
            await tx.emit(f"{spec.subject}.updated", spec.subject, record.id, record.public())
            return record, False
    if spec.before_write:
        await spec.before_write(tx, data)
    if spec.before_create:
        await spec.before_create(tx, data)
    record = await tx.insert(spec.path, mint_id(spec.prefix), data, external_id)
    await tx.emit(f"{spec.subject}.created", spec.subject, record.id, record.public())
    return record, True


def _unchanged(record: Record, data: dict[str, Any]) -> bool:
    return all(record.data.get(key) == value for key, value in data.items())


async def page_of(
    tx: Tx,
    collection: str,
    *,
    limit: int,
    page_token: str | None,
    where: dict[str, Any] | None = None,
    updated_after: datetime | None = None,
) -> dict[str, Any]:
    """Return one page ``{"items", "next_page_token"}`` of a collection, in change order."""
    after = int(decode_token(page_token).get("s", 0))
    records = await tx.page(
        collection, after=after, limit=limit + 1, where=where, updated_after=updated_after
    )
    more = len(records) > limit
    records = records[:limit]
    token = encode_token({"s": records[-1].seq}) if more else None
    return {"items": [r.public() for r in records], "next_page_token": token}


async def _by_external_id(
    tx: Tx, collection: str, external_id: str, where: dict[str, Any]
) -> dict[str, Any]:
    """The page holding the record of ``external_id`` if it matches ``where``, else empty."""
    record = await tx.by_external_id(collection, external_id)
    # Query values are strings, like the values the declared filters compare (ids, statuses).
    if record is None or any(str(record.data.get(f)) != v for f, v in where.items()):
        return {"items": [], "next_page_token": None}
    return {"items": [record.public()], "next_page_token": None}


def collection_router(system: str, spec: Collection) -> APIRouter:
    """Return the routes of one collection: list, read, create and (when declared) patch."""
    router = APIRouter(prefix=f"/v1/{spec.path}", tags=[spec.path])

    @router.get("", summary=f"List {spec.path}")
    async def list_records(
        state: StateDep,
        request: Request,
        limit: Limit = 50,
        page_token: str | None = None,
        updated_after: datetime | None = None,
        external_id: str | None = None,
    ) -> dict[str, Any]:
        """List records in change order, one page at a time; filter by the declared fields,
        or look one up by ``external_id`` (a page of at most one record)."""
        where = {f: v for f, v in request.query_params.items() if f in spec.filters}
        async with state.store.tx(system) as tx:
            if external_id is not None:
                return await _by_external_id(tx, spec.path, external_id, where)
            page = await page_of(
                tx,
                spec.path,
                limit=limit,
                page_token=page_token,
                where=where,
                updated_after=updated_after,
            )
        if updated_after is not None:  # a poll: the feed faults apply, as to /v1/events
            page["items"] = state.faults.polled(page["items"])
        return page

    @router.get("/{record_id}", summary=f"Read one of {spec.path}")
    async def read_record(state: StateDep, record_id: str) -> dict[str, Any]:
        """Read one record."""
        async with state.store.tx(system) as tx:
            return (await load(tx, spec.path, record_id)).public()

    async def create(
        state: StateDep, response: Response, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Create a record (201), or answer the one with the same external_id (200)."""
        data = parse(spec.create, body).model_dump(mode="json")
        try:
            async with state.store.tx(system) as tx:
                record, created = await create_record(tx, spec, dict(data))
        except asyncpg.UniqueViolationError:
            # Another request made the same external_id at the same moment: answered as if it
            # came second (the record, or 409 where a second is refused), not with a 500.
            async with state.store.tx(system) as tx:
                record, created = await create_record(tx, spec, dict(data))
        response.status_code = 201 if created else 200
        return record.public()

    if spec.creatable:
        router.add_api_route(
            "", create, methods=["POST"], status_code=201, summary=f"Create one of {spec.path}"
        )

    if spec.patch is not None:
        patch_model = spec.patch

        @router.patch("/{record_id}", summary=f"Change one of {spec.path}")
        async def patch(
            state: StateDep, record_id: str, body: Annotated[Any, Body()]
        ) -> dict[str, Any]:
            """Change the given fields of a record (a new version)."""
            changes = parse(patch_model, body).model_dump(mode="json", exclude_unset=True)
            async with state.store.tx(system) as tx:
                record = await load(tx, spec.path, record_id, lock=True)
                data = {**record.data, **changes}
                if spec.before_write:
                    await spec.before_write(tx, data)
                record = await tx.update(record, data)
                await tx.emit(f"{spec.subject}.updated", spec.subject, record.id, record.public())
            return record.public()

    return router
