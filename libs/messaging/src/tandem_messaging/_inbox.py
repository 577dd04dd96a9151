"""The inbox: a handled event leaves a row, committed with the handler's effects."""

from __future__ import annotations

from enum import Enum
from typing import Any

from tandem_contracts import Envelope
from tandem_messaging._db import DbConnection

__all__ = ["Claim", "claim"]

_RECORD = """
INSERT INTO messaging.inbox (consumer, event_id, idempotency_key, event_type)
VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING
"""
_ADVANCE = """
INSERT INTO messaging.subject_versions AS s (consumer, subject_type, subject_id, version)
VALUES ($1, $2, $3, $4)
ON CONFLICT (consumer, subject_type, subject_id) DO UPDATE SET version = EXCLUDED.version
WHERE s.version < EXCLUDED.version
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
    status = await connection.execute(
        _RECORD, consumer, envelope.event_id, envelope.idempotency_key, envelope.event_type
    )
    if status.endswith(" 0"):
        return Claim.DUPLICATE
    status = await connection.execute(
        _ADVANCE, consumer, envelope.subject.type, envelope.subject.id, envelope.subject_version
    )
    return Claim.STALE if status.endswith(" 0") else Claim.NEW
