"""The cross-reference store: which external record each canonical entity is, per instance.

Unique both ways: one external record maps to one canonical entity, and a canonical entity
has at most one record of each object type in each system instance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import groupby
from typing import Any

import asyncpg

from tandem_connectors.errors import RequestRejected
from tandem_contracts import ExternalRef
from tandem_messaging import DbConnection

__all__ = ["CrossReferences", "XrefConflict"]

# Many links of one canonical type to records of one system instance and object type.
_LINK_MANY = """
INSERT INTO connectors.external_refs (canonical_type, canonical_id, system, instance,
    object_type, external_id, external_version, sync_status)
SELECT $1, link.canonical_id, $2, $3, $4, link.external_id, link.external_version,
    link.sync_status
FROM unnest($5::text[], $6::text[], $7::text[], $8::text[])
    AS link(canonical_id, external_id, external_version, sync_status)
ON CONFLICT (system, instance, object_type, external_id) DO UPDATE
    SET external_version = EXCLUDED.external_version, sync_status = EXCLUDED.sync_status,
        last_synced_at = clock_timestamp(), last_error = NULL
    WHERE connectors.external_refs.canonical_type = EXCLUDED.canonical_type
      AND connectors.external_refs.canonical_id = EXCLUDED.canonical_id
RETURNING 1
"""
_UNLINK = """
DELETE FROM connectors.external_refs
WHERE canonical_type = $1 AND canonical_id = $2 AND system = $3 AND instance = $4
  AND object_type = $5
"""
_EXTERNAL = """
SELECT external_id FROM connectors.external_refs
WHERE canonical_type = $1 AND canonical_id = $2 AND system = $3 AND instance = $4
  AND object_type = $5
"""
_CANONICAL = """
SELECT canonical_id FROM connectors.external_refs
WHERE system = $1 AND instance = $2 AND object_type = $3 AND external_id = $4
  AND canonical_type = $5
"""
_FAILED = """
UPDATE connectors.external_refs SET sync_status = 'failed', last_error = $6::jsonb,
    last_synced_at = clock_timestamp()
WHERE canonical_type = $1 AND canonical_id = $2 AND system = $3 AND instance = $4
  AND object_type = $5
"""


class XrefConflict(RequestRejected):
    """The external record is already linked to another canonical entity (or vice versa)."""

    def __init__(self, message: str) -> None:
        super().__init__("xref_conflict", message)


class CrossReferences:
    """Reads and writes ``connectors.external_refs`` in the caller's transaction."""

    async def link(
        self, connection: DbConnection, canonical_type: str, canonical_id: str, ref: ExternalRef
    ) -> None:
        """Record that ``ref`` is ``canonical_type:canonical_id``; idempotent for the same pair."""
        await self.link_many(connection, canonical_type, [(canonical_id, ref)])

    async def link_many(
        self,
        connection: DbConnection,
        canonical_type: str,
        links: Sequence[tuple[str, ExternalRef]],
    ) -> None:
        """``link`` for many ``(canonical_id, ref)`` pairs: one statement per system instance
        and object type. Raises ``XrefConflict`` if any pair contradicts a link already kept
        (or another pair); the caller's transaction then rolls back, keeping none of them."""

        def target(link: tuple[str, ExternalRef]) -> tuple[str, str, str]:
            return link[1].system.value, link[1].instance, link[1].object_type

        for (system, instance, object_type), group in groupby(sorted(links, key=target), target):
            by_record: dict[str, tuple[str, ExternalRef]] = {}
            for canonical_id, ref in group:
                seen = by_record.setdefault(ref.external_id, (canonical_id, ref))
                if seen[0] != canonical_id:
                    raise XrefConflict(
                        f"{system}/{instance} {object_type} {ref.external_id} is named for "
                        f"both {canonical_type}:{seen[0]} and {canonical_type}:{canonical_id}"
                    )
            pairs = list(by_record.values())
            try:
                rows = await connection.fetch(
                    _LINK_MANY,
                    canonical_type,
                    system,
                    instance,
                    object_type,
                    [canonical_id for canonical_id, _ in pairs],
                    [ref.external_id for _, ref in pairs],
                    [ref.external_version for _, ref in pairs],
                    [ref.sync_status.value for _, ref in pairs],
                )
            except asyncpg.UniqueViolationError as exc:
                named = ", ".join(f"{canonical_type}:{canonical_id}" for canonical_id, _ in pairs)
                raise XrefConflict(
                    f"{named}: one already has a {object_type} in {system}/{instance}"
                ) from exc
            if len(rows) != len(pairs):
                raise XrefConflict(
                    f"{len(pairs) - len(rows)} {system}/{instance} {object_type} record(s) "
                    f"are linked to another {canonical_type}"
                )

    async def unlink(
        self,
        connection: DbConnection,
        canonical_type: str,
        canonical_id: str,
        *,
        system: str,
        instance: str,
        object_type: str,
    ) -> bool:
        """Forget the canonical entity's record of ``object_type`` in one instance (when the
        record no longer stands for it, e.g. a reversed posting); answer whether one was kept."""
        status = await connection.execute(
            _UNLINK, canonical_type, canonical_id, system, instance, object_type
        )
        return not status.endswith(" 0")

    async def external_id(
        self,
        connection: DbConnection,
        canonical_type: str,
        canonical_id: str,
        *,
        system: str,
        instance: str,
        object_type: str,
    ) -> str | None:
        """Return the external id of a canonical entity in one instance, or None."""
        value = await connection.fetchval(
            _EXTERNAL, canonical_type, canonical_id, system, instance, object_type
        )
        return None if value is None else str(value)

    async def canonical_id(
        self,
        connection: DbConnection,
        canonical_type: str,
        *,
        system: str,
        instance: str,
        object_type: str,
        external_id: str,
    ) -> str | None:
        """Return the canonical id an external record is linked to, or None."""
        value = await connection.fetchval(
            _CANONICAL, system, instance, object_type, external_id, canonical_type
        )
        return None if value is None else str(value)

    async def mark_failed(
        self,
        connection: DbConnection,
        canonical_type: str,
        canonical_id: str,
        *,
        system: str,
        instance: str,
        object_type: str,
        error: dict[str, Any],
    ) -> None:
        """Record the last sync of a link as failed, with its error (code, message, retryable)."""
        await connection.execute(
            _FAILED,
            canonical_type,
            canonical_id,
            system,
            instance,
            object_type,
            json.dumps(error),
        )
