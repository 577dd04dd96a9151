"""From a CRM's native stage to the canonical opportunity status, and what a change means.

Each tenant maps its own stage names (DOMAIN.md §2.3: ``open → committed | lost | reopened``);
the default is Salesforce's. A stage the map does not name is an error, never a guess: the
ingestion sets the record aside with its reason until the map is configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from project_sync.domain.errors import UnknownStageError
from tandem_contracts.entities import OpportunityStatus

__all__ = ["DEFAULT_STAGE_MAP", "StageChange", "StageMap", "classify"]

DEFAULT_STAGE_MAP: Mapping[str, OpportunityStatus] = MappingProxyType(
    {
        "Prospecting": OpportunityStatus.OPEN,
        "Qualification": OpportunityStatus.OPEN,
        "Proposal": OpportunityStatus.OPEN,
        "Negotiation": OpportunityStatus.OPEN,
        "Closed Won": OpportunityStatus.COMMITTED,
        "Closed Lost": OpportunityStatus.LOST,
    }
)


def _normal(stage: str) -> str:
    # CRMs differ in case and spacing of the same picklist value ("Closed  won").
    return " ".join(stage.split()).casefold()


class StageMap:
    """A tenant's native stages and their canonical statuses."""

    def __init__(self, stages: Mapping[str, OpportunityStatus] = DEFAULT_STAGE_MAP) -> None:
        self._stages = {_normal(stage): status for stage, status in stages.items()}
        if OpportunityStatus.COMMITTED not in self._stages.values():
            raise ValueError("a stage map needs at least one committing stage")

    def status_of(self, stage: str) -> OpportunityStatus:
        """The canonical status of the native ``stage``; ``UnknownStageError`` if unmapped."""
        try:
            return self._stages[_normal(stage)]
        except KeyError:
            raise UnknownStageError(stage) from None


class StageChange(StrEnum):
    """What a status change asks of project-sync."""

    COMMIT = "commit"  # start a saga (a new generation after a loss or a reopening)
    LOSE = "lose"  # end or compensate the saga
    REOPEN = "reopen"  # back out of committed: compensate what the commit created
    NONE = "none"


def classify(previous: OpportunityStatus | None, new: OpportunityStatus) -> StageChange:
    """What moving from ``previous`` (None: first seen) to ``new`` means."""
    if new is OpportunityStatus.COMMITTED:
        return StageChange.NONE if previous is OpportunityStatus.COMMITTED else StageChange.COMMIT
    if new is OpportunityStatus.LOST:
        return StageChange.NONE if previous is OpportunityStatus.LOST else StageChange.LOSE
    if previous is OpportunityStatus.COMMITTED:
        return StageChange.REOPEN
    return StageChange.NONE
