"""The parking lot: messages that cannot be handled now, kept in PostgreSQL until replayed.

Every parked message keeps its body, headers (trace context included), original routing key,
failure reason, exception class, attempt count and first/last failure time. Operators list
them and replay or discard them (one, by filter, or all); each action is audited. A message
parked because a dependency is missing is released automatically once a handler ``satisfy``s
that dependency. Only messages still ``parked`` are ever replayed, released or discarded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractConnection

from tandem_contracts import CONTENT_TYPE, uuid7
from tandem_messaging._db import DbConnection
from tandem_messaging._headers import (
    ATTEMPT_HEADER,
    REPLAY_HEADER,
    clean_text,
    routing_key_in,
    storable_headers,
)
from tandem_messaging._topology import hash_exchange

__all__ = [
    "DiscardResult",
    "ParkedMessage",
    "ReplayResult",
    "ReplaySelection",
    "discard",
    "list_parked",
    "park",
    "release",
    "replay",
]

_LOCK_SPACE = 0x7A4E  # advisory-lock namespace of dependency keys


@dataclass(frozen=True)
class ParkedMessage:
    """A parked message as operators see it (without its body)."""

    id: uuid.UUID
    consumer: str
    event_id: uuid.UUID | None
    event_type: str | None
    routing_key: str
    reason: str
    detail: str
    exception_class: str | None
    attempts: int
    first_failure_at: datetime
    last_failure_at: datetime
    waiting_for: str | None
    status: str
    parked_at: datetime


@dataclass(frozen=True)
class Failure:
    """Why and how often a message failed, for the parking lot."""

    reason: str
    detail: str
    exception_class: str | None
    attempts: int
    first_failure_at: datetime
    last_failure_at: datetime
    waiting_for: str | None = None


@dataclass(frozen=True)
class ReplaySelection:
    """Which parked messages to replay or discard: by ids, by filter, or ``everything``."""

    ids: tuple[uuid.UUID, ...] = ()
    consumer: str | None = None
    reason: str | None = None
    event_type: str | None = None
    everything: bool = False

    def __post_init__(self) -> None:
        if not (self.ids or self.consumer or self.reason or self.event_type or self.everything):
            raise ValueError("say which messages to select, or everything=True")


@dataclass(frozen=True)
class ReplayResult:
    """The audit id of a replay and the parked messages it sent back."""

    replay_id: uuid.UUID
    replayed: int
    message_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class DiscardResult:
    """The audit id of a discard and the parked messages it set aside for good."""

    discard_id: uuid.UUID
    discarded: int
    message_ids: tuple[uuid.UUID, ...]


_PARK = """
INSERT INTO messaging.parked (id, consumer, queue, event_id, event_type, routing_key, body,
    headers, reason, detail, exception_class, attempts, first_failure_at, last_failure_at,
    waiting_for)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13, $14, $15)
"""
_SATISFIED = "SELECT 1 FROM messaging.satisfied_dependencies WHERE consumer = $1 AND key = $2"
_LOCK_KEY = "SELECT pg_advisory_xact_lock($3::int, hashtext($1 || '|' || $2))"
_SATISFY = """
INSERT INTO messaging.satisfied_dependencies (consumer, key) SELECT $1, unnest($2::text[])
ON CONFLICT DO NOTHING
"""
_RELEASE = """
UPDATE messaging.parked SET status = 'released', resolved_at = clock_timestamp()
WHERE consumer = $1 AND waiting_for = ANY($2::text[]) AND status = 'parked'
RETURNING id, queue, routing_key, body, headers::text, event_id, event_type
"""
_SELECT_FOR_REPLAY = """
SELECT id, consumer, queue, routing_key, body, headers::text, event_id, event_type
FROM messaging.parked
WHERE status = 'parked'
  AND ($1::uuid[] IS NULL OR id = ANY($1::uuid[]))
  AND ($2::text IS NULL OR consumer = $2)
  AND ($3::text IS NULL OR reason = $3)
  AND ($4::text IS NULL OR event_type = $4)
ORDER BY parked_at, id
FOR UPDATE SKIP LOCKED
"""
_SELECT_FOR_DISCARD = """
SELECT id FROM messaging.parked
WHERE status = 'parked'
  AND ($1::uuid[] IS NULL OR id = ANY($1::uuid[]))
  AND ($2::text IS NULL OR consumer = $2)
  AND ($3::text IS NULL OR reason = $3)
  AND ($4::text IS NULL OR event_type = $4)
ORDER BY parked_at, id
FOR UPDATE SKIP LOCKED
"""
_MARK = """
UPDATE messaging.parked SET status = $2, resolved_at = clock_timestamp()
WHERE id = ANY($1::uuid[])
"""
_AUDIT = """
INSERT INTO messaging.replay_audit (id, actor, reason, selection, message_ids, action)
VALUES ($1, $2, $3, $4::jsonb, $5::uuid[], $6)
"""
_LIST = """
SELECT id, consumer, event_id, event_type, routing_key, reason, detail, exception_class,
       attempts, first_failure_at, last_failure_at, waiting_for, status, parked_at
FROM messaging.parked
WHERE status = $1 AND ($2::text IS NULL OR consumer = $2) AND ($3::text IS NULL OR reason = $3)
  AND ($4::text IS NULL OR event_type = $4) AND ($5::text IS NULL OR waiting_for = $5)
  AND ($6::timestamptz IS NULL OR parked_at >= $6)
  AND ($7::timestamptz IS NULL OR parked_at < $7)
  AND ($8::uuid IS NULL
       OR (parked_at, id) > (SELECT c.parked_at, c.id FROM messaging.parked c WHERE c.id = $8))
ORDER BY parked_at, id
LIMIT $9
"""


async def park(
    connection: DbConnection,
    *,
    consumer: str,
    queue: str,
    message: aio_pika.abc.AbstractIncomingMessage,
    event_id: uuid.UUID | None,
    event_type: str | None,
    failure: Failure,
) -> uuid.UUID | None:
    """Park ``message`` in the caller's transaction and return its parked id.

    Returns None, parking nothing, when the dependency it waits for is already satisfied:
    the caller should then simply retry it.
    """
    if failure.waiting_for is not None:
        await connection.execute(_LOCK_KEY, consumer, failure.waiting_for, _LOCK_SPACE)
        if await connection.fetchval(_SATISFIED, consumer, failure.waiting_for):
            return None
    # Headers and failure text are untrusted: cleaned so that parking itself cannot fail.
    headers = message.headers or {}
    parked_id = uuid7()
    await connection.execute(
        _PARK,
        parked_id,
        consumer,
        queue,
        event_id,
        event_type,
        routing_key_in(headers, message.routing_key or ""),
        message.body,
        json.dumps(storable_headers(headers)),
        clean_text(failure.reason, 100),
        clean_text(failure.detail, 2000),
        clean_text(failure.exception_class, 300) if failure.exception_class else None,
        failure.attempts,
        failure.first_failure_at,
        failure.last_failure_at,
        failure.waiting_for,
    )
    return parked_id


async def record_satisfied(connection: DbConnection, consumer: str, keys: Sequence[str]) -> None:
    """Record dependencies as met, in the handler's transaction."""
    await connection.execute(_SATISFY, consumer, list(keys))


async def release(
    pool: asyncpg.Pool, channel: AbstractChannel, consumer: str, keys: Sequence[str]
) -> int:
    """Send messages parked waiting for ``keys`` back to their queue; return how many."""
    async with pool.acquire() as connection, connection.transaction():
        for key in sorted(set(keys)):
            await connection.execute(_LOCK_KEY, consumer, key, _LOCK_SPACE)
        rows = await connection.fetch(_RELEASE, consumer, list(keys))
        await _republish(channel, rows, {})
    return len(rows)


async def replay(
    pool: asyncpg.Pool,
    connection: AbstractConnection,
    selection: ReplaySelection,
    *,
    actor: str,
    why: str,
) -> ReplayResult:
    """Send the selected parked messages back to their consumer's queue, and audit it.

    A replayed message that was in fact handled already is dropped by the consumer's inbox.
    """
    replay_id = uuid7()
    channel = await connection.channel(publisher_confirms=True)
    try:
        async with pool.acquire() as db, db.transaction():
            rows = await db.fetch(_SELECT_FOR_REPLAY, *_selection_args(selection))
            await _republish(channel, rows, {REPLAY_HEADER: str(replay_id), ATTEMPT_HEADER: 1})
            ids = [row["id"] for row in rows]
            await db.execute(_MARK, ids, "replayed")
            described = json.dumps(_describe(selection))
            await db.execute(_AUDIT, replay_id, actor, why, described, ids, "replay")
    finally:
        await channel.close()
    return ReplayResult(replay_id, len(ids), tuple(ids))


async def discard(
    pool: asyncpg.Pool, selection: ReplaySelection, *, actor: str, why: str
) -> DiscardResult:
    """Mark the selected parked messages discarded, never to be replayed or released; audit it."""
    discard_id = uuid7()
    async with pool.acquire() as db, db.transaction():
        rows = await db.fetch(_SELECT_FOR_DISCARD, *_selection_args(selection))
        ids = [row["id"] for row in rows]
        await db.execute(_MARK, ids, "discarded")
        described = json.dumps(_describe(selection))
        await db.execute(_AUDIT, discard_id, actor, why, described, ids, "discard")
    return DiscardResult(discard_id, len(ids), tuple(ids))


async def list_parked(
    pool: asyncpg.Pool,
    *,
    consumer: str | None = None,
    reason: str | None = None,
    event_type: str | None = None,
    waiting_for: str | None = None,
    parked_after: datetime | None = None,
    parked_before: datetime | None = None,
    status: str = "parked",
    after: uuid.UUID | None = None,
    limit: int = 100,
) -> list[ParkedMessage]:
    """Return parked messages in (parked_at, id) order, filtered, one keyset page at a time.

    ``parked_after <= parked_at < parked_before``; ``after`` is the id of the last message of
    the previous page (the next cursor is the last id returned).
    """
    filters = (consumer, reason, event_type, waiting_for, parked_after, parked_before)
    async with pool.acquire() as connection:
        rows = await connection.fetch(_LIST, status, *filters, after, limit)
    return [ParkedMessage(**dict(row)) for row in rows]


async def _republish(
    channel: AbstractChannel, rows: Sequence[asyncpg.Record], extra: dict[str, Any]
) -> None:
    """Publish parked messages back through their consumer group's hash exchange, with their
    stored headers (the partition key among them), so each reaches its key's partition."""
    for row in rows:
        headers = {**json.loads(row["headers"]), **extra}
        spread = await channel.get_exchange(hash_exchange(row["queue"]), ensure=False)
        await spread.publish(
            aio_pika.Message(
                bytes(row["body"]),
                headers=headers,
                content_type=CONTENT_TYPE,
                message_id=str(row["event_id"]) if row["event_id"] else None,
                type=row["event_type"],
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=row["routing_key"],
        )


def _selection_args(selection: ReplaySelection) -> tuple[Any, ...]:
    ids = list(selection.ids) or None
    return ids, selection.consumer, selection.reason, selection.event_type


def _describe(selection: ReplaySelection) -> dict[str, Any]:
    described = asdict(selection)
    described["ids"] = [str(i) for i in selection.ids]
    return described
