"""The cross-reference store: which external record each canonical entity is, per instance.

Unique both ways: one external record maps to one canonical entity, and a canonical entity
has at most one record of each object type in each system instance.

``AbstractCrossReferences`` is the port services depend on; ``CrossReferences`` keeps the links
in ``connectors.external_refs`` within the caller's transaction and remembers what it read and
wrote for that transaction (a lane's batch asks for the same worker and project many times);
``tandem_connectors.fakes.FakeCrossReferences`` keeps them in memory for unit tests.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from itertools import groupby
from typing import Any

import asyncpg

from tandem_connectors.errors import RequestRejected
from tandem_contracts import ExternalRef
from tandem_messaging import DbConnection

__all__ = ["AbstractCrossReferences", "CrossReferences", "Link", "XrefConflict"]

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
_AUDIT = """
INSERT INTO connectors.link_audit (canonical_type, canonical_id, system, instance, object_type,
    external_id, actor, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
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


Link = tuple[str, ExternalRef]
"""A canonical id and the external record it is."""
_Where = tuple[str, str, str, str, str]  # canonical type, id or external id, system, instance, type


class AbstractCrossReferences(ABC):
    """Links between canonical entities and the records of systems of record.

    Reads answer ``None`` for what is not linked. Writes raise ``XrefConflict`` when a link
    would contradict one already kept; the caller's transaction then keeps none of its links.
    """

    async def link(self, canonical_type: str, canonical_id: str, ref: ExternalRef) -> None:
        """Record that ``ref`` is ``canonical_type:canonical_id``; idempotent for the same pair."""
        await self.link_many(canonical_type, [(canonical_id, ref)])

    @abstractmethod
    async def link_many(self, canonical_type: str, links: Sequence[Link]) -> None:
        """``link`` for many ``(canonical_id, ref)`` pairs, all or none."""

    @abstractmethod
    async def link_by_hand(
        self, canonical_type: str, canonical_id: str, ref: ExternalRef, *, actor: str, why: str
    ) -> None:
        """``link``, made by a person: audited with who and why."""

    @abstractmethod
    async def unlink(
        self,
        canonical_type: str,
        canonical_id: str,
        *,
        system: str,
        instance: str,
        object_type: str,
    ) -> bool:
        """Forget the entity's record of ``object_type`` in one instance (when the record no
        longer stands for it, e.g. a reversed posting); answer whether one was kept."""

    @abstractmethod
    async def external_id(
        self,
        canonical_type: str,
        canonical_id: str,
        *,
        system: str,
        instance: str,
        object_type: str,
    ) -> str | None:
        """The external id of a canonical entity in one instance."""

    @abstractmethod
    async def canonical_id(
        self,
        canonical_type: str,
        *,
        system: str,
        instance: str,
        object_type: str,
        external_id: str,
    ) -> str | None:
        """The canonical id an external record is linked to."""

    @abstractmethod
    async def mark_failed(
        self,
        canonical_type: str,
        canonical_id: str,
        *,
        system: str,
        instance: str,
        object_type: str,
        error: dict[str, Any],
    ) -> None:
        """Record the last sync of a link as failed, with its error (code, message, retryable)."""


class CrossReferences(AbstractCrossReferences):
    """``connectors.external_refs`` in the transaction of ``connection``.

    Reads are remembered for the life of the object (make one per transaction): a link the
    transaction writes or removes updates what it remembers.
    """

    def __init__(self, connection: DbConnection) -> None:
        self._db = connection
        self._external: dict[_Where, str | None] = {}
        self._canonical: dict[_Where, str | None] = {}

    async def link_many(self, canonical_type: str, links: Sequence[Link]) -> None:
        """Write the links: one statement per system instance and object type."""

        def target(link: Link) -> tuple[str, str, str]:
            return link[1].system.value, link[1].instance, link[1].object_type

        for (system, instance, object_type), group in groupby(sorted(links, key=target), target):
            by_record: dict[str, Link] = {}
            for canonical_id, ref in group:
                seen = by_record.setdefault(ref.external_id, (canonical_id, ref))
                if seen[0] != canonical_id:
                    raise XrefConflict(
                        f"{system}/{instance} {object_type} {ref.external_id} is named for "
                        f"both {canonical_type}:{seen[0]} and {canonical_type}:{canonical_id}"
                    )
            pairs = list(by_record.values())
            await self._insert(canonical_type, system, instance, object_type, pairs)
            for canonical_id, ref in pairs:
                where = (canonical_type, canonical_id, system, instance, object_type)
                self._external[where] = ref.external_id
                self._canonical[(canonical_type, ref.external_id, *where[2:])] = canonical_id

    async def _insert(
        self, canonical_type: str, system: str, instance: str, object_type: str, pairs: list[Link]
    ) -> None:
        try:
            # A savepoint: two transactions writing the same link at once (two customers of
            # one legal entity both finding its company unlinked) collide on the canonical
            # side's unique key, which ON CONFLICT cannot name beside the external one.
            async with self._db.transaction():
                rows = await self._db.fetch(
                    _LINK_MANY, canonical_type, system, instance, object_type,
                    [canonical_id for canonical_id, _ in pairs],
                    [ref.external_id for _, ref in pairs],
                    [ref.external_version for _, ref in pairs],
                    [ref.sync_status.value for _, ref in pairs],
                )  # fmt: skip
        except asyncpg.UniqueViolationError as exc:
            if await self._already(canonical_type, system, instance, object_type, pairs):
                return  # the other transaction wrote these very links: nothing to do
            named = ", ".join(f"{canonical_type}:{canonical_id}" for canonical_id, _ in pairs)
            raise XrefConflict(
                f"{named}: one already has a {object_type} in {system}/{instance}"
            ) from exc
        if len(rows) != len(pairs):
            raise XrefConflict(
                f"{len(pairs) - len(rows)} {system}/{instance} {object_type} record(s) "
                f"are linked to another {canonical_type}"
            )

    async def _already(
        self, canonical_type: str, system: str, instance: str, object_type: str, pairs: list[Link]
    ) -> bool:
        """Whether every pair is linked exactly so already (committed by another transaction)."""
        for canonical_id, ref in pairs:
            where = (canonical_type, canonical_id, system, instance, object_type)
            if await self._db.fetchval(_EXTERNAL, *where) != ref.external_id:
                return False
        return True

    async def link_by_hand(
        self, canonical_type: str, canonical_id: str, ref: ExternalRef, *, actor: str, why: str
    ) -> None:
        """Link, and audit it in ``connectors.link_audit``."""
        await self.link(canonical_type, canonical_id, ref)
        await self._db.execute(
            _AUDIT, canonical_type, canonical_id, ref.system.value, ref.instance,
            ref.object_type, ref.external_id, actor, why,
        )  # fmt: skip

    async def unlink(
        self,
        canonical_type: str,
        canonical_id: str,
        *,
        system: str,
        instance: str,
        object_type: str,
    ) -> bool:
        """Delete the link, if kept."""
        where = (canonical_type, canonical_id, system, instance, object_type)
        status = await self._db.execute(_UNLINK, *where)
        self._external[where] = None
        self._canonical = {k: v for k, v in self._canonical.items() if v != canonical_id}
        return not status.endswith(" 0")

    async def external_id(
        self,
        canonical_type: str,
        canonical_id: str,
        *,
        system: str,
        instance: str,
        object_type: str,
    ) -> str | None:
        """Read (once per object) the external id of a canonical entity in one instance."""
        where = (canonical_type, canonical_id, system, instance, object_type)
        if where not in self._external:
            value = await self._db.fetchval(_EXTERNAL, *where)
            self._external[where] = None if value is None else str(value)
        return self._external[where]

    async def canonical_id(
        self,
        canonical_type: str,
        *,
        system: str,
        instance: str,
        object_type: str,
        external_id: str,
    ) -> str | None:
        """Read (once per object) the canonical id an external record is linked to."""
        where = (canonical_type, external_id, system, instance, object_type)
        if where not in self._canonical:
            value = await self._db.fetchval(
                _CANONICAL, system, instance, object_type, external_id, canonical_type
            )
            self._canonical[where] = None if value is None else str(value)
        return self._canonical[where]

    async def mark_failed(
        self,
        canonical_type: str,
        canonical_id: str,
        *,
        system: str,
        instance: str,
        object_type: str,
        error: dict[str, Any],
    ) -> None:
        """Mark the link failed with its error."""
        await self._db.execute(
            _FAILED, canonical_type, canonical_id, system, instance, object_type, json.dumps(error)
        )
