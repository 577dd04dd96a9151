"""Events about contracts, projects and milestones."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from tandem_contracts._event import Context, Event
from tandem_contracts._refs import SystemKind
from tandem_contracts._types import CalendarDate, CanonicalId, UtcDatetime
from tandem_contracts.entities import Contract, Milestone, Project

__all__ = [
    "MilestoneCompleted",
    "ProjectActivated",
    "ProjectClosedForTime",
    "ProjectShellCreated",
    "SOWApproved",
]


class _ProjectEvent(Event):
    context: ClassVar[Context] = Context.PROJECT
    producers: ClassVar[tuple[str, ...]] = ("project-sync",)
    subject_type: ClassVar[str] = "project"


class ProjectShellCreated(_ProjectEvent):
    """SoR: ERP (or the PSA, by tenant setting). Trigger: the shell of a committed opportunity's
    project was created in the system that mints the project code. No time is allowed yet.
    """

    event_type: ClassVar[str] = "ProjectShellCreated"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.ERP

    project: Project

    @property
    def subject_id(self) -> str:
        return self.project.id


class SOWApproved(_ProjectEvent):
    """SoR: ERP (or CLM). Trigger: a contract / statement of work is approved; it carries the
    billing model, value, cap, rate card, PO and terms that billing-readiness enforces.
    """

    event_type: ClassVar[str] = "SOWApproved"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.ERP
    subject_type: ClassVar[str] = "contract"

    contract: Contract
    project_ids: tuple[CanonicalId, ...] = ()
    approved_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.contract.id


class ProjectActivated(_ProjectEvent):
    """SoR: PSA, after the ERP acknowledged the project. Trigger: the project reaches In Progress.

    time-expense opens it for time and expense; staffing-sync confirms bookings.
    """

    event_type: ClassVar[str] = "ProjectActivated"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.PSA

    project: Project
    activated_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.project.id


class ProjectClosedForTime(_ProjectEvent):
    """SoR: PSA (delivery complete) or ERP (financially closed). Trigger: the project stops
    accepting time and expenses dated from ``closed_from``; time-expense rejects later entries.
    """

    event_type: ClassVar[str] = "ProjectClosedForTime"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.PSA

    project_id: CanonicalId
    closed_from: CalendarDate
    reason: str | None = Field(default=None, max_length=500)
    closed_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.project_id


class MilestoneCompleted(_ProjectEvent):
    """SoR: PSA. Trigger: a billing milestone is completed (or approved for billing, per its
    trigger); billing-readiness turns it into a milestone charge.
    """

    event_type: ClassVar[str] = "MilestoneCompleted"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.PSA
    subject_type: ClassVar[str] = "milestone"

    milestone: Milestone
    completed_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.milestone.id
