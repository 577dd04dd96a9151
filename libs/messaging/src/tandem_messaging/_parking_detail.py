"""One parked message in full, for an operator to inspect: headers and the decoded envelope.

Confidential payload fields never leave the service: time-entry ``notes`` and expense
``receipt_ref`` are redacted wherever they occur, and a body that does not decode is described
by its size and decode error, never shown.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from tandem_contracts import DecodeError, decode
from tandem_messaging._parking import ParkedMessage

__all__ = ["CONFIDENTIAL_FIELDS", "REDACTED", "ParkedDetail", "get_parked", "redact"]

CONFIDENTIAL_FIELDS = frozenset({"notes", "receipt_ref"})
REDACTED = "[redacted]"

_GET = """
SELECT id, consumer, event_id, event_type, routing_key, reason, detail, exception_class,
       attempts, first_failure_at, last_failure_at, waiting_for, status, parked_at,
       queue, resolved_at, headers::text AS headers, body
FROM messaging.parked
WHERE id = $1
"""


@dataclass(frozen=True)
class ParkedDetail(ParkedMessage):
    """A parked message with its queue, headers and decoded envelope (or why it cannot decode)."""

    queue: str
    resolved_at: datetime | None
    headers: dict[str, Any]
    body_size: int
    envelope: dict[str, Any] | None
    decode_error: str | None


def redact(value: Any) -> Any:
    """Return ``value`` with every confidential field, at any depth, replaced by ``REDACTED``."""
    if isinstance(value, dict):
        return {
            key: REDACTED if key in CONFIDENTIAL_FIELDS else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


async def get_parked(pool: asyncpg.Pool, id: uuid.UUID) -> ParkedDetail | None:
    """Return the parked message ``id`` in full, redacted; None when there is no such message."""
    async with pool.acquire() as connection:
        row = await connection.fetchrow(_GET, id)
    if row is None:
        return None
    fields = dict(row)
    body = bytes(fields.pop("body"))
    envelope, error = _decoded(body)
    fields["headers"] = json.loads(fields["headers"])
    return ParkedDetail(**fields, body_size=len(body), envelope=envelope, decode_error=error)


def _decoded(body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        envelope = decode(body)
    except DecodeError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return redact(envelope.model_dump(mode="json")), None
