"""The process API's response schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from tandem_contracts import Money
from tandem_contracts.entities import Assignment, ResourceRequest

__all__ = [
    "BookingRead",
    "BookingRef",
    "CostRateRead",
    "ExclusionRead",
    "ExclusionReason",
    "FactorRead",
    "FailureRead",
    "HrisStatus",
    "OptionRead",
    "PipelineStage",
    "RequestPage",
    "RequestRead",
    "SystemStatus",
    "WorkerPage",
    "WorkerStatusRead",
]

PipelineStage = Literal["waiting", "failed", "not_staffable_yet", "staffable", "terminated"]


class HrisStatus(BaseModel):
    """The worker as the HRIS last told it: its status, version and HRIS record."""

    status: str | None
    version: int | None
    instance: str | None
    ref: str | None


class SystemStatus(BaseModel):
    """The worker's record in a system and the worker version it last took."""

    instance: str
    ref: str
    synced_version: int
    synced_at: datetime


class FailureRead(BaseModel):
    """The worker's open problem: a message waiting (for ``waiting_for``) or parked."""

    event_type: str
    reason: str
    detail: str
    waiting_for: str | None
    at: datetime


class CostRateRead(BaseModel):
    """A dated hourly cost."""

    effective_from: date
    effective_to: date | None
    amount: str
    currency: str


class WorkerStatusRead(BaseModel):
    """A worker's sync status across the HRIS, the PSA and the ERP."""

    worker_id: str
    worker_number: str | None
    legal_entity_id: str | None
    pipeline: PipelineStage
    start_date: date | None
    last_day: date | None
    hris: HrisStatus
    psa: SystemStatus | None
    erp: SystemStatus | None
    failure: FailureRead | None
    cost_rates: list[CostRateRead] = []


class WorkerPage(BaseModel):
    """One page of the onboarding pipeline; ``next_after`` continues it."""

    items: list[WorkerStatusRead]
    next_after: str | None


class BookingRef(BaseModel):
    """The booking in the PSA."""

    instance: str
    ref: str


class BookingRead(BaseModel):
    """A PSA booking as staffing-sync handled it: the assignment last announced confirmed
    (its frozen bill rate, rate source and cost rate), the subject version of the last event
    about it, and what a resource manager should know (``warnings``)."""

    assignment_id: str
    psa: BookingRef
    worker_id: str | None
    project_id: str | None
    status: Literal["confirmed", "cancelled", "not_confirmed"]
    psa_version: int
    version: int
    assignment: Assignment | None
    warnings: list[str]
    updated_at: datetime


class FactorRead(BaseModel):
    """One factor of an option's score: its score (0 to 1, two places), weight and why."""

    factor: str
    score: str
    weight: int
    reason: str


class OptionRead(BaseModel):
    """A ranked option: its fit (0 to 100), the breakdown, free minutes over the dates, the
    rate it is costed against, warnings and every reason it ranks where it does."""

    rank: int
    resource_id: str
    worker_id: str | None
    fit_score: int
    available_minutes: int
    proposed_rate: Money | None
    breakdown: list[FactorRead]
    warnings: list[str]
    reasons: list[str]


class ExclusionReason(BaseModel):
    """Why a candidate is not an option: a code and its sentence."""

    code: str
    reason: str


class ExclusionRead(BaseModel):
    """A candidate left out, with every reason."""

    resource_id: str
    worker_id: str | None
    reasons: list[ExclusionReason]


class RequestRead(BaseModel):
    """A resource request as staffing-sync handled it: ``proposed`` with its options, best
    first, and the candidates left out; ``closed`` (cancelled or assigned: not ranked);
    ``waiting`` (for its project) or ``failed``, with ``problem``."""

    request_id: str
    project_id: str | None
    request_version: int
    version: int
    status: Literal["proposed", "closed", "waiting", "failed"]
    problem: str | None
    request: ResourceRequest
    options: list[OptionRead]
    excluded: list[ExclusionRead]
    proposed_at: datetime | None
    updated_at: datetime


class RequestPage(BaseModel):
    """Requests newest first; ``next_before`` continues the list."""

    items: list[RequestRead]
    next_before: str | None
