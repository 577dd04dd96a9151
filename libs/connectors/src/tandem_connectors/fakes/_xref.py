"""``FakeCrossReferences``: the cross-reference store in a dictionary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tandem_connectors.xref import AbstractCrossReferences, Link, XrefConflict
from tandem_contracts import ExternalRef

__all__ = ["FakeCrossReferences"]

_Record = tuple[str, str, str, str]  # system, instance, object type, external id
_Entity = tuple[str, str, str, str, str]  # canonical type, id, system, instance, object type


class FakeCrossReferences(AbstractCrossReferences):
    """Links kept in memory, unique both ways like ``connectors.external_refs``."""

    def __init__(self) -> None:
        self.by_record: dict[_Record, tuple[str, str]] = {}
        self.by_entity: dict[_Entity, str] = {}
        self.failed: dict[_Entity, dict[str, Any]] = {}
        self.audit: list[tuple[str, str, ExternalRef, str, str]] = []

    async def link_many(self, canonical_type: str, links: Sequence[Link]) -> None:
        """Check every link against those kept and each other, then keep them all (or raise
        and keep none)."""
        records: dict[_Record, tuple[str, str]] = {}
        entities: dict[_Entity, str] = {}
        for canonical_id, ref in links:
            record = (ref.system.value, ref.instance, ref.object_type, ref.external_id)
            entity = (canonical_type, canonical_id, *record[:3])
            owner = records.get(record) or self.by_record.get(record)
            held = entities.get(entity) or self.by_entity.get(entity)
            if (owner and owner != (canonical_type, canonical_id)) or (
                held is not None and held != ref.external_id
            ):
                raise XrefConflict(f"{record} contradicts a kept link of {canonical_id}")
            records[record], entities[entity] = (canonical_type, canonical_id), ref.external_id
        self.by_record.update(records)
        self.by_entity.update(entities)

    async def link_by_hand(
        self, canonical_type: str, canonical_id: str, ref: ExternalRef, *, actor: str, why: str
    ) -> None:
        """Link and remember who and why."""
        await self.link(canonical_type, canonical_id, ref)
        self.audit.append((canonical_type, canonical_id, ref, actor, why))

    async def unlink(
        self,
        canonical_type: str,
        canonical_id: str,
        *,
        system: str,
        instance: str,
        object_type: str,
    ) -> bool:
        """Forget the link, if kept."""  # fmt: skip
        external = self.by_entity.pop(
            (canonical_type, canonical_id, system, instance, object_type), None
        )
        if external is None:
            return False
        del self.by_record[(system, instance, object_type, external)]
        return True

    async def external_id(
        self,
        canonical_type: str,
        canonical_id: str,
        *,
        system: str,
        instance: str,
        object_type: str,
    ) -> str | None:
        """The linked external id."""  # fmt: skip
        return self.by_entity.get((canonical_type, canonical_id, system, instance, object_type))

    async def canonical_id(
        self,
        canonical_type: str,
        *,
        system: str,
        instance: str,
        object_type: str,
        external_id: str,
    ) -> str | None:
        """The linked canonical id."""  # fmt: skip
        owner = self.by_record.get((system, instance, object_type, external_id))
        return owner[1] if owner and owner[0] == canonical_type else None

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
        """Remember the failure."""  # fmt: skip
        self.failed[(canonical_type, canonical_id, system, instance, object_type)] = error
