"""What operators did from the console (replays and discards), with who and why."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

__all__ = ["audit_entries", "audit_record"]


async def audit_record(
    pool: asyncpg.Pool,
    *,
    actor: str,
    action: str,
    service: str,
    ids: list[str],
    why: str,
    count: int,
    outcome: str,
) -> uuid.UUID:
    """Keep one console action; answer its id."""
    entry = uuid.uuid4()
    await pool.execute(
        "INSERT INTO observability.console_audit (id, actor, action, service, ids, why, count,"
        " outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        entry,
        actor,
        action,
        service,
        ids,
        why,
        count,
        outcome,
    )
    return entry


async def audit_entries(pool: asyncpg.Pool, limit: int) -> list[dict[str, Any]]:
    """The newest console actions first."""
    rows = await pool.fetch(
        "SELECT id, at, actor, action, service, ids, why, count, outcome"
        " FROM observability.console_audit ORDER BY at DESC LIMIT $1",
        limit,
    )
    return [dict(row) for row in rows]
