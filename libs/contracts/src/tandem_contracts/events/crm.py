"""Events about opportunities, reported from the CRM."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from tandem_contracts._event import Context, Event
from tandem_contracts._refs import SystemKind
from tandem_contracts._types import CanonicalId, UtcDatetime
from tandem_contracts.entities import Opportunity

__all__ = ["OpportunityCommitted", "OpportunityLost"]


class _CrmEvent(Event):
    context: ClassVar[Context] = Context.CRM
    system_of_record: ClassVar[SystemKind | None] = SystemKind.CRM
    producers: ClassVar[tuple[str, ...]] = ("project-sync",)
    subject_type: ClassVar[str] = "opportunity"


class OpportunityCommitted(_CrmEvent):
    """SoR: CRM. Trigger: an opportunity reaches Closed Won (or the tenant's committing stage).

    project-sync creates the project shell (ERP first, then PSA); staffing-sync opens demand.
    """

    event_type: ClassVar[str] = "OpportunityCommitted"

    opportunity: Opportunity
    committed_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.opportunity.id


class OpportunityLost(_CrmEvent):
    """SoR: CRM. Trigger: an opportunity moves to a lost stage.

    project-sync cancels any project shell; staffing-sync releases soft holds.
    """

    event_type: ClassVar[str] = "OpportunityLost"

    opportunity_id: CanonicalId
    stage: str = Field(min_length=1, max_length=80)
    reason: str | None = Field(default=None, max_length=500)
    lost_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.opportunity_id
