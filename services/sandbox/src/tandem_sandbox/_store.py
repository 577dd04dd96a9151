"""The record store every sandbox system shares: JSONB rows keyed by (system, collection, id).

A write takes the next value of one monotonic change sequence and bumps the row's version;
events written in the same transaction are handed to ``on_events`` after the commit, so a
webhook is never sent for a change that rolled back.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

__all__ = ["Event", "Record", "Store", "Tx", "mint_id"]

DbConnection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

_INSERT = """
INSERT INTO sandbox.records (system, collection, id, external_id, data)
VALUES ($1, $2, $3, $4, $5::jsonb)
RETURNING *
"""
_UPDATE = """
UPDATE sandbox.records
SET data = $4::jsonb, version = version + 1, seq = nextval('sandbox.change_seq'),
    updated_at = clock_timestamp()
WHERE system = $1 AND collection = $2 AND id = $3
RETURNING *
"""
_GET = "SELECT * FROM sandbox.records WHERE system = $1 AND collection = $2 AND id = $3"
_GET_LOCKED = _GET + " FOR UPDATE"
_GET_SHARED = _GET + " FOR SHARE"
_BY_EXTERNAL = """
SELECT * FROM sandbox.records WHERE system = $1 AND collection = $2 AND external_id = $3
FOR UPDATE
"""
# $4 is a JSON object every listed record's data must contain (jsonb @>): the list filters.
_PAGE = """
SELECT * FROM sandbox.records
WHERE system = $1 AND collection = $2 AND seq > $3 AND data @> $4::jsonb
ORDER BY seq LIMIT $5
"""
# Changed after $6: read through records_by_update (OFFSET 0 keeps the planner from scanning
# the whole collection in seq order instead, which it picks while statistics are stale).
_PAGE_SINCE = """
SELECT * FROM (
    SELECT * FROM sandbox.records
    WHERE system = $1 AND collection = $2 AND updated_at > $6 OFFSET 0
) AS changed
WHERE seq > $3 AND data @> $4::jsonb
ORDER BY seq LIMIT $5
"""
_EMIT = """
INSERT INTO sandbox.events (system, type, subject_type, subject_id, data)
VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING *
"""
_NEXT_NUMBER = """
INSERT INTO sandbox.counters (system, name, value) VALUES ($1, $2, 1)
ON CONFLICT (system, name) DO UPDATE SET value = sandbox.counters.value + 1
RETURNING value
"""
# Two writers of one new external id would both find nothing and both insert (the second a
# unique violation): a transaction first takes the external id's advisory lock, so the second
# waits for the first to commit and then finds its record. Locks are taken in one order (by
# hash), so two transactions locking several never wait on each other in a cycle.
_LOCK_EXTERNALS = """
SELECT count(pg_advisory_xact_lock(key)) FROM (
    SELECT DISTINCT hashtextextended($1 || '/' || $2 || '/' || wanted, 0) AS key
    FROM unnest($3::text[]) AS wanted ORDER BY key
) AS keys
"""
# One index lookup per id (OFFSET 0 keeps the planner from flattening it into a scan of the
# collection, which it picks while a fast-growing table's statistics are stale).
_BY_EXTERNALS = """
SELECT r.* FROM unnest($3::text[]) AS wanted(external_id)
CROSS JOIN LATERAL (
    SELECT * FROM sandbox.records WHERE system = $1 AND collection = $2
      AND external_id = wanted.external_id OFFSET 0 FOR UPDATE
) AS r
"""
_INSERT_MANY = """
INSERT INTO sandbox.records (system, collection, id, external_id, data)
SELECT $1, $2, new.id, new.external_id, new.data::jsonb
FROM unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS new(id, external_id, data, n)
ORDER BY new.n
RETURNING *
"""
_EMIT_MANY = """
INSERT INTO sandbox.events (system, type, subject_type, subject_id, data)
SELECT $1, new.type, new.subject_type, new.subject_id, new.data::jsonb
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY
    AS new(type, subject_type, subject_id, data, n)
ORDER BY new.n
RETURNING *
"""
_EVENTS_AFTER = "SELECT * FROM sandbox.events WHERE system = $1 AND seq > $2 ORDER BY seq LIMIT $3"
_EVENTS_IN = "SELECT * FROM sandbox.events WHERE system = $1 AND seq = ANY($2::bigint[])"


def mint_id(prefix: str) -> str:
    """Return a new record id such as ``opp_3f9a0c1b2d4e``."""
    return f"{prefix}_{secrets.token_hex(6)}"


@dataclass(frozen=True)
class Record:
    """One stored record: its data plus the store's bookkeeping."""

    system: str
    collection: str
    id: str
    external_id: str | None
    version: int
    seq: int
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Record:
        """Build a record from a ``sandbox.records`` row."""
        return cls(
            row["system"],
            row["collection"],
            row["id"],
            row["external_id"],
            row["version"],
            row["seq"],
            json.loads(row["data"]),
            row["created_at"],
            row["updated_at"],
        )

    def public(self) -> dict[str, Any]:
        """Return the record as the system's API shows it."""
        shown = {"id": self.id, **self.data, "version": self.version}
        if self.external_id is not None:
            shown["external_id"] = self.external_id
        shown["created_at"] = self.created_at.isoformat()
        shown["updated_at"] = self.updated_at.isoformat()
        return shown


@dataclass(frozen=True)
class Event:
    """One change event of a system (feed entry and webhook body)."""

    seq: int
    system: str
    type: str
    subject_type: str
    subject_id: str
    data: dict[str, Any]
    occurred_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Event:
        """Build an event from a ``sandbox.events`` row."""
        return cls(
            row["seq"],
            row["system"],
            row["type"],
            row["subject_type"],
            row["subject_id"],
            json.loads(row["data"]),
            row["occurred_at"],
        )

    def public(self) -> dict[str, Any]:
        """Return the event as the feed and webhooks carry it."""
        return {
            "id": f"evt_{self.system}_{self.seq}",
            "type": self.type,
            "subject": {"type": self.subject_type, "id": self.subject_id},
            "occurred_at": self.occurred_at.isoformat(),
            "data": self.data,
        }


@dataclass
class Tx:
    """Reads and writes of one transaction (or one autocommit connection)."""

    connection: DbConnection
    system: str
    events: list[Event] = field(default_factory=list)
    memo: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    """Reads the transaction may repeat (reference checks), keyed by a tuple starting with
    the collection read; a write through this Tx forgets everything read of its collection."""

    def forget(self, collection: str) -> None:
        """Drop what was memoised of ``collection`` (it changed in this transaction)."""
        for key in [k for k in self.memo if k[0] == collection]:
            del self.memo[key]

    async def get(
        self, collection: str, id_: str, *, lock: bool = False, share: bool = False
    ) -> Record | None:
        """Return the record, locked for update (``lock``) or share-locked (``share``: no one
        changes it until this transaction ends) when asked, or None."""
        query = _GET_LOCKED if lock else _GET_SHARED if share else _GET
        row = await self.connection.fetchrow(query, self.system, collection, id_)
        return Record.from_row(row) if row else None

    async def by_external_id(self, collection: str, external_id: str) -> Record | None:
        """Return (and lock) the record holding ``external_id``, or None: until this
        transaction ends, no one else creates a record under it."""
        await self._lock_externals(collection, [external_id])
        row = await self.connection.fetchrow(_BY_EXTERNAL, self.system, collection, external_id)
        return Record.from_row(row) if row else None

    async def by_external_ids(self, collection: str, external_ids: Sequence[str]) -> list[Record]:
        """Return (and lock) the records holding any of ``external_ids``; until this
        transaction ends, no one else creates a record under any of them."""
        await self._lock_externals(collection, external_ids)
        rows = await self.connection.fetch(
            _BY_EXTERNALS, self.system, collection, list(external_ids)
        )
        return [Record.from_row(row) for row in rows]

    async def _lock_externals(self, collection: str, external_ids: Sequence[str]) -> None:
        await self.connection.fetchval(_LOCK_EXTERNALS, self.system, collection, list(external_ids))

    async def insert_many(
        self, collection: str, new: Sequence[tuple[str, dict[str, Any], str | None]]
    ) -> list[Record]:
        """Insert new records ``(id, data, external_id)`` with one statement, in order."""
        self.forget(collection)
        rows = await self.connection.fetch(
            _INSERT_MANY,
            self.system,
            collection,
            [id_ for id_, _, _ in new],
            [external_id for _, _, external_id in new],
            [json.dumps(data) for _, data, _ in new],
        )
        by_id = {row["id"]: Record.from_row(row) for row in rows}
        return [by_id[id_] for id_, _, _ in new]

    async def emit_many(self, events: Sequence[tuple[str, str, str, dict[str, Any]]]) -> None:
        """Record change events ``(type, subject_type, subject_id, data)`` with one statement;
        they are delivered to subscribers once the transaction commits."""
        rows = await self.connection.fetch(
            _EMIT_MANY,
            self.system,
            [type_ for type_, _, _, _ in events],
            [subject_type for _, subject_type, _, _ in events],
            [subject_id for _, _, subject_id, _ in events],
            [json.dumps(data) for _, _, _, data in events],
        )
        self.events.extend(sorted((Event.from_row(row) for row in rows), key=lambda e: e.seq))

    async def insert(
        self, collection: str, id_: str, data: dict[str, Any], external_id: str | None = None
    ) -> Record:
        """Insert a new record (version 1)."""
        self.forget(collection)
        row = await self.connection.fetchrow(
            _INSERT, self.system, collection, id_, external_id, json.dumps(data)
        )
        assert row is not None  # noqa: S101 - INSERT ... RETURNING always answers a row
        return Record.from_row(row)

    async def update(self, record: Record, data: dict[str, Any]) -> Record:
        """Replace a record's data, giving it a new version and change sequence."""
        self.forget(record.collection)
        row = await self.connection.fetchrow(
            _UPDATE, self.system, record.collection, record.id, json.dumps(data)
        )
        assert row is not None  # noqa: S101 - the caller read the record in this transaction
        return Record.from_row(row)

    async def page(
        self,
        collection: str,
        *,
        after: int,
        limit: int,
        where: dict[str, Any] | None = None,
        updated_after: datetime | None = None,
    ) -> list[Record]:
        """Return up to ``limit`` records changed after sequence ``after``, in change order."""
        args = (self.system, collection, after, json.dumps(where or {}), limit)
        if updated_after is None:
            rows = await self.connection.fetch(_PAGE, *args)
        else:
            rows = await self.connection.fetch(_PAGE_SINCE, *args, updated_after)
        return [Record.from_row(row) for row in rows]

    async def emit(
        self, type_: str, subject_type: str, subject_id: str, data: dict[str, Any]
    ) -> Event:
        """Record a change event; it is delivered to subscribers once the transaction commits."""
        row = await self.connection.fetchrow(
            _EMIT, self.system, type_, subject_type, subject_id, json.dumps(data)
        )
        assert row is not None  # noqa: S101 - INSERT ... RETURNING always answers a row
        event = Event.from_row(row)
        self.events.append(event)
        return event

    async def next_number(self, name: str) -> int:
        """Return the next value of the system's counter ``name`` (gapless per transaction)."""
        value = await self.connection.fetchval(_NEXT_NUMBER, self.system, name)
        return int(value)

    async def events_after(self, after: int, limit: int) -> list[Event]:
        """Return up to ``limit`` events of the system after sequence ``after``."""
        rows = await self.connection.fetch(_EVENTS_AFTER, self.system, after, limit)
        return [Event.from_row(row) for row in rows]

    async def events_at(self, seqs: Sequence[int]) -> list[Event]:
        """Return the system's events with the given sequence numbers."""
        rows = await self.connection.fetch(_EVENTS_IN, self.system, list(seqs))
        return [Event.from_row(row) for row in rows]


OnEvents = Callable[[Sequence[Event]], Awaitable[None]]


class Store:
    """Hands out transactions on the shared pool; tells ``on_events`` what each one emitted."""

    def __init__(self, pool: asyncpg.Pool, on_events: OnEvents | None = None) -> None:
        self.pool = pool
        self.on_events = on_events

    @asynccontextmanager
    async def tx(self, system: str) -> AsyncIterator[Tx]:
        """Open a transaction for ``system``; its events go out after the commit."""
        async with self.pool.acquire() as connection, connection.transaction():
            tx = Tx(connection, system)
            yield tx
        if tx.events and self.on_events is not None:
            await self.on_events(tx.events)
