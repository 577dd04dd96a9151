"""Staffing: demand and bookings (DOMAIN.md §2.4)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from tandem_contracts._money import Money
from tandem_contracts._refs import ExternalRef
from tandem_contracts._types import CalendarDate, CanonicalId, CanonicalModel, Minutes, Version

__all__ = [
    "Assignment",
    "AssignmentApproval",
    "AssignmentStatus",
    "BookingType",
    "RateSource",
    "ResourceRequest",
    "ResourceRequestStatus",
]


class ResourceRequestStatus(StrEnum):
    DRAFT = "draft"
    READY_TO_STAFF = "ready_to_staff"
    HELD = "held"
    ASSIGNED = "assigned"
    CANCELLED = "cancelled"


class ResourceRequest(CanonicalModel):
    """Demand for a role and skills on a project or opportunity; SoR: RM."""

    id: CanonicalId
    project_id: CanonicalId | None = None
    opportunity_id: CanonicalId | None = None
    role_id: CanonicalId
    required_skill_ids: tuple[CanonicalId, ...] = ()
    minutes: Minutes
    start_date: CalendarDate
    end_date: CalendarDate
    proposed_rate: Money | None = None
    priority: int = Field(default=3, ge=1, le=5)
    status: ResourceRequestStatus
    refs: tuple[ExternalRef, ...] = ()


class BookingType(StrEnum):
    HARD = "hard"
    SOFT = "soft"


class AssignmentApproval(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class AssignmentStatus(StrEnum):
    PROPOSED = "proposed"
    CONFIRMED = "confirmed"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class RateSource(CanonicalModel):
    """Which rate-card row a rate was resolved from, kept so a frozen rate can be explained."""

    rate_card_id: CanonicalId | None = None
    rate_card_version: Version | None = None
    scope_level: str = Field(min_length=1, max_length=40)
    role_id: CanonicalId | None = None


class Assignment(CanonicalModel):
    """A booking of a resource on a project; SoR: RM. Shape: total minutes over the dates."""

    id: CanonicalId
    project_id: CanonicalId
    work_item_id: CanonicalId | None = None
    resource_id: CanonicalId
    worker_id: CanonicalId | None = None
    role_id: CanonicalId
    start_date: CalendarDate
    end_date: CalendarDate
    total_minutes: Minutes
    minutes_per_day: Minutes | None = None
    booking_type: BookingType
    approval_status: AssignmentApproval = AssignmentApproval.APPROVED
    bill_rate: Money | None = None
    rate_source: RateSource | None = None
    cost_rate: Money | None = None
    billable: bool = True
    status: AssignmentStatus
    refs: tuple[ExternalRef, ...] = ()
