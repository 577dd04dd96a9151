"""What every port shares: the answer of a write."""

from __future__ import annotations

from dataclasses import dataclass

from tandem_contracts import ExternalRef

__all__ = ["Written"]


@dataclass(frozen=True, slots=True)
class Written:
    """What a write left in the system: the record's reference, and whether this call made it."""

    ref: ExternalRef
    created: bool
    code: str | None = None
    """The number the system minted for the record (a project code), when it mints one."""

    @property
    def external_id(self) -> str:
        """The record's id in the system."""
        return self.ref.external_id
