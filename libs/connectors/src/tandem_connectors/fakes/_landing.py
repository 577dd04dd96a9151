"""``FakeLanding``: the landing table in a dictionary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tandem_connectors.landing import AbstractLanding, Via

__all__ = ["FakeLanding"]

_Version = tuple[str, str, str, str, int]  # system, instance, record type, id, version


@dataclass
class FakeLanding(AbstractLanding):
    """Landed versions with their status; a test sets ``status`` as ingestion would."""

    records: dict[_Version, Mapping[str, Any]] = field(default_factory=dict)
    status: dict[_Version, str] = field(default_factory=dict)
    notes: dict[_Version, str] = field(default_factory=dict)
    via: dict[_Version, Via] = field(default_factory=dict)

    async def land(
        self, system: str, instance: str, record_type: str, record: Mapping[str, Any], via: Via
    ) -> bool:
        """Keep a version once."""
        version = (system, instance, record_type, str(record["id"]), int(record["version"]))
        if version in self.records:
            return False
        self.records[version], self.status[version], self.via[version] = record, "pending", via
        return True

    async def earlier_published(
        self, system: str, instance: str, record_type: str, record_id: str, version: int
    ) -> list[Mapping[str, Any]]:
        """Published versions before ``version``, oldest first."""
        return [
            self.records[key]
            for key in sorted(self.records, key=lambda k: k[4])
            if key[:4] == (system, instance, record_type, record_id)
            and key[4] < version
            and self.status[key] == "published"
        ]

    async def waiting(self, system: str, record_type: str) -> set[str]:
        """Ids of pending versions noted as waiting."""
        return {
            key[3]
            for key, state in self.status.items()
            if state == "pending" and key in self.notes and key[0] == system
            and key[2] == record_type
        }  # fmt: skip
