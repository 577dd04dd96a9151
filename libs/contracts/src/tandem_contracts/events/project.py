"""Events about contracts, projects and milestones."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Self

from pydantic import Field, model_validator

from tandem_contracts._event import Context, Event
from tandem_contracts._money import Money
from tandem_contracts._refs import ExternalRef, SystemKind
from tandem_contracts._types import CalendarDate, CanonicalId, UtcDatetime
from tandem_contracts.entities import Budget, Contract, Milestone, Project

__all__ = [
    "ChangeOrderApproved",
    "FinanceFlagReason",
    "MilestoneCompleted",
    "ProjectActivated",
    "ProjectCancelled",
    "ProjectClosedForTime",
    "ProjectFlaggedForFinance",
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


class ChangeOrderApproved(_ProjectEvent):
    """SoR: PSA (or the ERP, by tenant setting). Trigger: a budget or contract change order of a
    project is approved; from ``effective_from`` the project's budget is ``budget`` and, when
    given, the contract's value is ``total_value`` and its cap ``cap``. All amounts are in the
    project's currency. billing-readiness enforces the new cap.
    """

    event_type: ClassVar[str] = "ChangeOrderApproved"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.PSA

    project_id: CanonicalId
    change_order_id: CanonicalId
    contract_id: CanonicalId | None = None
    budget: Budget
    total_value: Money | None = None
    cap: Money | None = None
    description: str | None = Field(default=None, max_length=500)
    effective_from: CalendarDate
    approved_at: UtcDatetime

    @model_validator(mode="after")
    def _one_currency(self) -> Self:
        amounts = (self.budget.amount, self.budget.cost, self.total_value, self.cap)
        if len({m.currency for m in amounts if m is not None}) > 1:
            raise ValueError("a change order's amounts are all in the project's currency")
        return self

    @property
    def subject_id(self) -> str:
        return self.project_id


class ProjectCancelled(_ProjectEvent):
    """SoR: ERP, after the PSA (compensation by project-sync). Trigger: the opportunity of a
    project shell with no time and no charges was lost or reopened after commit: the shell is
    cancelled in the ERP and the PSA, never deleted; ``refs`` names the cancelled records.
    """

    event_type: ClassVar[str] = "ProjectCancelled"
    system_of_record: ClassVar[SystemKind | None] = SystemKind.ERP

    project_id: CanonicalId
    opportunity_id: CanonicalId
    reason: str = Field(min_length=1, max_length=500)
    refs: tuple[ExternalRef, ...] = ()
    cancelled_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.project_id


class FinanceFlagReason(StrEnum):
    """Why project-sync handed a project to finance instead of cancelling it."""

    LOST_AFTER_TIME_LOGGED = "lost_after_time_logged"
    REOPENED_AFTER_TIME_LOGGED = "reopened_after_time_logged"
    CANCELLED_AFTER_TIME_LOGGED = "cancelled_after_time_logged"


class ProjectFlaggedForFinance(_ProjectEvent):
    """SoR: none (derived by project-sync). Trigger: the opportunity of a project that already
    has time or charges was lost or reopened (or its saga cancelled): the project is closed for
    time and kept, never deleted, for finance to decide on what was logged.
    """

    event_type: ClassVar[str] = "ProjectFlaggedForFinance"
    system_of_record: ClassVar[SystemKind | None] = None

    project_id: CanonicalId
    opportunity_id: CanonicalId
    reason: FinanceFlagReason
    detail: str = Field(min_length=1, max_length=2000)
    flagged_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.project_id
