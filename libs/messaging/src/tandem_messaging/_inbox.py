"""The inbox: a handled event leaves a row, committed with the handler's effects."""

from __future__ import annotations

from enum import Enum
from typing import Any

from tandem_contracts import Envelope
from tandem_messaging._db import DbConnection

__all__ = ["Claim", "claim"]

# One round trip: record the event, and advance its subject's version only if it is new.
_CLAIM = """
WITH recorded AS (
    INSERT INTO messaging.inbox (consumer, event_id, idempotency_key, event_type)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT DO NOTHING
    RETURNING 1
), advanced AS (
    INSERT INTO messaging.subject_versions AS s (consumer, subject_type, subject_id, version)
    SELECT $1, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM recorded)
    ON CONFLICT (consumer, subject_type, subject_id) DO UPDATE SET version = EXCLUDED.version
    WHERE s.version < EXCLUDED.version
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM recorded) AS recorded, EXISTS (SELECT 1 FROM advanced) AS advanced
"""


class Claim(Enum):
    """What the inbox says of an event: first time, seen before, or older than applied."""

    NEW = "new"
    DUPLICATE = "duplicate"
    STALE = "stale"


async def claim(connection: DbConnection, consumer: str, envelope: Envelope[Any]) -> Claim:
    """Record ``envelope`` as handled by ``consumer`` inside the caller's transaction.

    A duplicate has the same event id or idempotency key as a handled one; a stale event's
    subject version is not newer than the last one applied for its subject.
    """
    row = await connection.fetchrow(
        _CLAIM,
        consumer,
        envelope.event_id,
        envelope.idempotency_key,
        envelope.event_type,
        envelope.subject.type,
        envelope.subject.id,
        envelope.subject_version,
    )
    assert row is not None  # noqa: S101 - a SELECT of two EXISTS always returns a row
    if not row["recorded"]:
        return Claim.DUPLICATE
    return Claim.NEW if row["advanced"] else Claim.STALE
