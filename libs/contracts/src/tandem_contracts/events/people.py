"""Events about workers and staffing: from the HRIS (context ``hr``) and RM (``staffing``)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from tandem_contracts._event import Context, Event
from tandem_contracts._money import Money
from tandem_contracts._refs import SystemKind
from tandem_contracts._types import CalendarDate, CanonicalId, CanonicalModel, Minutes, UtcDatetime
from tandem_contracts.entities import Assignment, CostRate, ResourceRequest, Worker

__all__ = [
    "AssignmentCancelled",
    "AssignmentConfirmed",
    "ConsultantOnboarded",
    "CostRateChanged",
    "ResourceRequested",
    "StaffingOption",
    "StaffingOptionsProposed",
    "WorkerTerminated",
    "WorkerUpdated",
]


class _HrEvent(Event):
    context: ClassVar[Context] = Context.HR
    system_of_record: ClassVar[SystemKind | None] = SystemKind.HRIS
    producers: ClassVar[tuple[str, ...]] = ("staffing-sync",)
    subject_type: ClassVar[str] = "worker"


class ConsultantOnboarded(_HrEvent):
    """SoR: HRIS. Trigger: a hire (or pending hire) of a delivery worker; the RM gets a resource,
    the ERP an employee and the PSA a user.
    """

    event_type: ClassVar[str] = "ConsultantOnboarded"

    worker: Worker
    primary_role_id: CanonicalId | None = None
    cost_rate: CostRate | None = None
    start_date: CalendarDate

    @property
    def subject_id(self) -> str:
        return self.worker.id


class WorkerUpdated(_HrEvent):
    """SoR: HRIS. Trigger: an org, manager, location or status change of a worker, effective on
    ``effective_date``; ``changed_fields`` names what changed.
    """

    event_type: ClassVar[str] = "WorkerUpdated"

    worker: Worker
    changed_fields: tuple[Annotated[str, StringConstraints(max_length=100)], ...] = Field(
        min_length=1
    )
    effective_date: CalendarDate

    @property
    def subject_id(self) -> str:
        return self.worker.id


class WorkerTerminated(_HrEvent):
    """SoR: HRIS. Trigger: a termination (or a fixed-term end) recorded for a worker; from the
    day after ``last_day`` the PSA resource is not bookable, bookings after it are cancelled
    and time-expense refuses time. Ids and dates only: the reason stays in the HRIS.
    """

    event_type: ClassVar[str] = "WorkerTerminated"

    worker_id: CanonicalId
    legal_entity_id: CanonicalId
    last_day: CalendarDate
    terminated_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.worker_id


class CostRateChanged(_HrEvent):
    """SoR: HRIS / Finance. Trigger: a new dated cost rate for a worker (or a role)."""

    event_type: ClassVar[str] = "CostRateChanged"

    cost_rate: CostRate

    @property
    def subject_id(self) -> str:
        subject = self.cost_rate.worker_id or self.cost_rate.role_id
        if subject is None:
            raise ValueError("a cost rate names a worker or a role")
        return subject


class _StaffingEvent(Event):
    context: ClassVar[Context] = Context.STAFFING
    system_of_record: ClassVar[SystemKind | None] = SystemKind.RM
    producers: ClassVar[tuple[str, ...]] = ("staffing-sync",)
    subject_type: ClassVar[str] = "resource_request"


class ResourceRequested(_StaffingEvent):
    """SoR: RM. Trigger: demand for a role and skills on a project or opportunity is raised."""

    event_type: ClassVar[str] = "ResourceRequested"

    request: ResourceRequest

    @property
    def subject_id(self) -> str:
        return self.request.id


class StaffingOption(CanonicalModel):
    """One candidate for a resource request, with how well it fits and at what rate."""

    resource_id: CanonicalId
    worker_id: CanonicalId | None = None
    fit_score: int = Field(ge=0, le=100)
    available_minutes: Minutes
    proposed_rate: Money | None = None
    reasons: tuple[Annotated[str, StringConstraints(max_length=500)], ...] = ()


class StaffingOptionsProposed(_StaffingEvent):
    """SoR: RM (matching run by staffing-sync). Trigger: candidates ranked for a resource request
    by role, skills, availability and rate.
    """

    event_type: ClassVar[str] = "StaffingOptionsProposed"

    request_id: CanonicalId
    options: tuple[StaffingOption, ...]
    proposed_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.request_id


class AssignmentConfirmed(_StaffingEvent):
    """SoR: RM. Trigger: a hard booking or an approved allocation, with the bill and cost rate
    resolved at confirmation and its rate source.
    """

    event_type: ClassVar[str] = "AssignmentConfirmed"
    subject_type: ClassVar[str] = "assignment"

    assignment: Assignment
    confirmed_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.assignment.id


class AssignmentCancelled(_StaffingEvent):
    """SoR: RM. Trigger: a booking is deleted or cancelled."""

    event_type: ClassVar[str] = "AssignmentCancelled"
    subject_type: ClassVar[str] = "assignment"

    assignment_id: CanonicalId
    project_id: CanonicalId
    reason: str | None = Field(default=None, max_length=500)
    cancelled_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.assignment_id
