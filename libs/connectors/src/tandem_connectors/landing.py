"""The landing table: each record version a system of record sent, kept once, in arrival order.

Signed webhooks, polled feeds and reconciliation's re-drives all *land* records here
(``connectors.inbound``); duplicates from any path, or from several, are dropped by the unique
(system, instance, record type, id, version). ``tandem_connectors.inbound`` then turns pending
rows into events. Records are in the system's own shape and carry ``id`` and ``version`` (the
REST systems' shape; an adapter of another shape maps to it before landing).

A record that cannot be stored as it is (``check_record``: over 256 KiB as JSON, nested over 32
levels, a NUL or lone surrogate in its text, an integer beyond 64 bits, an unusable ``id`` or
``version``) is not landed: it is kept *refused* — set aside (``rejected``) without its payload,
with why, so that one bad record never stops a feed and an operator sees it. A refused row is
never replayed: the system must send a version that can be stored.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tandem_connectors._records import (
    MAX_RECORD_BYTES,
    RecordRefused,
    check_record,
    refused_key,
    serialized,
)
from tandem_messaging import DbConnection

__all__ = [
    "MAX_RECORD_BYTES",
    "AbstractLanding",
    "Landed",
    "Landing",
    "RecordRefused",
    "Settlement",
    "Via",
    "check_record",
]

logger = logging.getLogger(__name__)

Via = Literal["webhook", "poll", "reconcile", "replay"]
Settlement = Literal["published", "ignored", "rejected"]

_LAND = """
INSERT INTO connectors.inbound (system, instance, record_type, record_id, version, via, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
ON CONFLICT (system, instance, record_type, record_id, version) DO NOTHING
RETURNING sequence
"""
_REFUSE = """
INSERT INTO connectors.inbound
    (system, instance, record_type, record_id, version, via, payload, status, detail, settled_at,
     refused)
VALUES ($1, $2, $3, $4, $5, $6, 'null'::jsonb, 'rejected', $7, clock_timestamp(), true)
ON CONFLICT (system, instance, record_type, record_id, version) DO NOTHING
"""
_PENDING = """
SELECT sequence, system, instance, record_type, record_id, version, via, payload::text
FROM connectors.inbound
WHERE status = 'pending' AND system = $1 AND instance = $2
ORDER BY sequence LIMIT $3 FOR UPDATE
"""
_SETTLE = """
UPDATE connectors.inbound SET status = $2, detail = $3, settled_at = clock_timestamp()
WHERE sequence = ANY($1::bigint[])
"""
_SET_ASIDE = """
UPDATE connectors.inbound SET status = 'rejected', detail = r.detail, settled_at = clock_timestamp()
FROM unnest($1::bigint[], $2::text[]) AS r(sequence, detail)
WHERE connectors.inbound.sequence = r.sequence
"""
_NOTE = """
UPDATE connectors.inbound SET detail = r.detail
FROM unnest($1::bigint[], $2::text[]) AS r(sequence, detail)
WHERE connectors.inbound.sequence = r.sequence
"""
# One ingester per source at a time (replicas may run): they would interleave a key's records.
_TURN = "SELECT pg_try_advisory_xact_lock(29797, hashtext($1 || '/' || $2))"
_EARLIER = """
SELECT payload::text FROM connectors.inbound
WHERE system = $1 AND instance = $2 AND record_type = $3 AND record_id = $4 AND version < $5
  AND status = 'published'
ORDER BY version
"""
_WAITING = """
SELECT DISTINCT record_id FROM connectors.inbound
WHERE system = $1 AND record_type = $2 AND status = 'pending' AND detail IS NOT NULL
"""
_REPLAY = """
UPDATE connectors.inbound SET status = 'pending', detail = NULL, settled_at = NULL
WHERE status = 'rejected' AND NOT refused AND system = $1 AND instance = $2
  AND ($3::bigint[] IS NULL OR sequence = ANY($3::bigint[]))
RETURNING sequence
"""


@dataclass(frozen=True)
class Landed:
    """A landed record version, as ingestion reads it."""

    sequence: int
    system: str
    instance: str
    record_type: str
    record_id: str
    version: int
    via: str
    record: Mapping[str, Any]


class AbstractLanding(ABC):
    """What services ask of the landing table besides ingestion's own pass."""

    @abstractmethod
    async def land(
        self, system: str, instance: str, record_type: str, record: Mapping[str, Any], via: Via
    ) -> bool:
        """Keep a record version once; answer whether it was new."""

    @abstractmethod
    async def earlier_published(
        self, system: str, instance: str, record_type: str, record_id: str, version: int
    ) -> list[Mapping[str, Any]]:
        """The record's versions before ``version`` that became events, oldest first."""

    @abstractmethod
    async def waiting(self, system: str, record_type: str) -> set[str]:
        """Ids of the records whose pending versions wait for something (see ``inbound``)."""


class Landing(AbstractLanding):
    """``connectors.inbound`` in the transaction of ``connection``."""

    def __init__(self, connection: DbConnection) -> None:
        self._db = connection

    async def land(
        self, system: str, instance: str, record_type: str, record: Mapping[str, Any], via: Via
    ) -> bool:
        """Keep a record version once; answer whether it was new (a record that cannot be
        stored is kept refused, with why, and is not new)."""
        try:
            row = _row(system, instance, record_type, record, via)
        except RecordRefused as refused:
            await self._refuse(system, instance, record_type, [(record, str(refused))], via)
            return False
        return await self._db.fetchval(_LAND, *row) is not None

    async def land_many(
        self,
        system: str,
        instance: str,
        record_type: str,
        records: Sequence[Mapping[str, Any]],
        via: Via,
    ) -> int:
        """Keep each record version once (a page of a feed), in one round trip; those that
        cannot be stored are kept refused, with why. Answer how many were refused."""
        rows: list[tuple[object, ...]] = []
        refusals: list[tuple[Mapping[str, Any], str]] = []
        for record in records:
            try:
                rows.append(_row(system, instance, record_type, record, via))
            except RecordRefused as refused:
                refusals.append((record, str(refused)))
        if rows:
            await self._db.executemany(_LAND, rows)
        await self._refuse(system, instance, record_type, refusals, via)
        return len(refusals)

    async def _refuse(
        self,
        system: str,
        instance: str,
        record_type: str,
        refusals: Sequence[tuple[Mapping[str, Any], str]],
        via: Via,
    ) -> None:
        rows = []
        for record, why in refusals:
            record_id, version = refused_key(record)
            logger.warning(
                "%s/%s %s %s v%d refused at landing: %s",
                system, instance, record_type, record_id, version, why,
            )  # fmt: skip
            detail = f"refused at landing: {why}"
            rows.append((system, instance, record_type, record_id, version, via, detail))
        if rows:
            await self._db.executemany(_REFUSE, rows)

    async def earlier_published(
        self, system: str, instance: str, record_type: str, record_id: str, version: int
    ) -> list[Mapping[str, Any]]:
        """The record's published versions before ``version``."""
        rows = await self._db.fetch(_EARLIER, system, instance, record_type, record_id, version)
        return [json.loads(row[0]) for row in rows]

    async def waiting(self, system: str, record_type: str) -> set[str]:
        """Ids of the records with a pending version that waits."""
        return {str(row[0]) for row in await self._db.fetch(_WAITING, system, record_type)}

    async def take_turn(self, system: str, instance: str) -> bool:
        """Whether this transaction is the one ingesting the source now (until it ends)."""
        return bool(await self._db.fetchval(_TURN, system, instance))

    async def pending(self, system: str, instance: str, limit: int) -> list[Landed]:
        """The source's oldest pending versions, locked for this transaction."""
        rows = await self._db.fetch(_PENDING, system, instance, limit)
        return [
            Landed(r["sequence"], r["system"], r["instance"], r["record_type"], r["record_id"],
                   r["version"], r["via"], json.loads(r["payload"]))
            for r in rows
        ]  # fmt: skip

    async def settle(
        self, sequences: Sequence[int], status: Settlement, detail: str | None
    ) -> None:
        """Mark rows published or ignored."""
        if sequences:
            await self._db.execute(_SETTLE, list(sequences), status, detail)

    async def set_aside(self, reasons: Mapping[int, str]) -> None:
        """Mark rows rejected, each with why (they wait for a fix and a replay)."""
        if reasons:
            await self._db.execute(_SET_ASIDE, list(reasons), [r[:2000] for r in reasons.values()])

    async def note(self, reasons: Mapping[int, str]) -> None:
        """Say why pending rows still wait."""
        if reasons:
            await self._db.execute(_NOTE, list(reasons), [r[:2000] for r in reasons.values()])

    async def replay_rejected(
        self, system: str, instance: str, sequences: Sequence[int] | None = None
    ) -> list[int]:
        """Make set-aside rows (all of the source, or ``sequences``) pending again; rows
        refused at landing kept no payload and stay set aside."""
        rows = await self._db.fetch(
            _REPLAY, system, instance, list(sequences) if sequences is not None else None
        )
        return [int(row[0]) for row in rows]


def _row(
    system: str, instance: str, record_type: str, record: Mapping[str, Any], via: Via
) -> tuple[object, ...]:
    """The ``_LAND`` parameters of one record version; ``RecordRefused`` if it cannot be."""
    payload = serialized(record)
    return (system, instance, record_type, str(record["id"]), record["version"], via, payload)
