"""The landing table of what the PSA sent: once per (record, version), in arrival order."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from tandem_messaging import DbConnection

__all__ = ["Inbound"]

_LAND = """
INSERT INTO time_expense.inbound (source, record_type, record_id, version, via, payload)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
ON CONFLICT (source, record_type, record_id, version) DO NOTHING
RETURNING sequence
"""
_PENDING = """
SELECT sequence, source, record_type, record_id, version, payload FROM time_expense.inbound
WHERE status = 'pending' AND source = $2 ORDER BY sequence LIMIT $1 FOR UPDATE
"""
_SETTLE = """
UPDATE time_expense.inbound SET status = $2, detail = $3 WHERE sequence = ANY($1::bigint[])
"""
# One ingester per source at a time (replicas may run): they would interleave a worker's rows.
_TURN = "SELECT pg_try_advisory_xact_lock(29797, hashtext($1))"
_NOTE = "UPDATE time_expense.inbound SET detail = $2 WHERE sequence = $1"
_WAS_APPROVED = """
SELECT EXISTS (SELECT 1 FROM time_expense.inbound WHERE source = $1 AND record_type = $2
    AND record_id = $3 AND version < $4 AND status = 'published'
    AND payload->>'status' = 'approved')
"""


class Inbound:
    """Reads and writes ``time_expense.inbound`` in the caller's transaction."""

    def __init__(self, connection: DbConnection) -> None:
        self._db = connection

    async def land(
        self, *, source: str, via: str, record_type: str, record: Mapping[str, Any]
    ) -> bool:
        """Keep a record version once; answer whether it was new."""
        sequence = await self._db.fetchval(_LAND, *_landing(source, via, record_type, record))
        return sequence is not None

    async def land_many(
        self, *, source: str, via: str, record_type: str, records: Sequence[Mapping[str, Any]]
    ) -> None:
        """Keep each record version once (a page of a feed), in one round trip."""
        await self._db.executemany(
            _LAND, [_landing(source, via, record_type, record) for record in records]
        )

    async def take_turn(self, source: str) -> bool:
        """Whether this transaction is the one ingesting ``source`` now (until it ends)."""
        return bool(await self._db.fetchval(_TURN, source))

    async def pending(self, source: str, limit: int) -> list[asyncpg.Record]:
        """The oldest pending rows of ``source``, locked for this transaction."""
        return await self._db.fetch(_PENDING, limit, source)

    async def settle(self, sequences: Sequence[int], status: str, detail: str | None) -> None:
        """Mark rows published or ignored."""
        if sequences:
            await self._db.execute(_SETTLE, list(sequences), status, detail)

    async def note(self, sequence: int, detail: str) -> None:
        """Say why a row still waits."""
        await self._db.execute(_NOTE, sequence, detail)

    async def was_approved(
        self, source: str, record_type: str, record_id: str, version: int
    ) -> bool:
        """Whether an earlier version of the record was published as approved."""
        return bool(await self._db.fetchval(_WAS_APPROVED, source, record_type, record_id, version))


def _landing(
    source: str, via: str, record_type: str, record: Mapping[str, Any]
) -> tuple[object, ...]:
    """The ``_LAND`` parameters of one record version."""
    return (source, record_type, record["id"], int(record["version"]), via, json.dumps(record))
