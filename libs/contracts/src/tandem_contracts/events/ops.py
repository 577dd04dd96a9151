"""Operational events derived by the suite itself (context ``ops``)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Self

from pydantic import Field, model_validator

from tandem_contracts._event import Context, Event
from tandem_contracts._money import DecimalString
from tandem_contracts._refs import SystemKind
from tandem_contracts._types import CanonicalId, SubjectKey, UtcDatetime

__all__ = [
    "BreachDirection",
    "MessageParked",
    "MismatchKind",
    "QuoteToCashStuck",
    "ReconciliationMismatch",
    "UtilizationThresholdBreached",
]

_ALL_SERVICES = (
    "project-sync",
    "staffing-sync",
    "time-expense",
    "billing-readiness",
    "observability",
)


class _OpsEvent(Event):
    context: ClassVar[Context] = Context.OPS
    system_of_record: ClassVar[SystemKind | None] = None


class BreachDirection(StrEnum):
    BELOW = "below"
    ABOVE = "above"


class UtilizationThresholdBreached(_OpsEvent):
    """SoR: none (derived by observability). Trigger: a resource's billable utilization for a
    period fell below its threshold (by default 90 % of target) or rose above the burnout line.
    """

    event_type: ClassVar[str] = "UtilizationThresholdBreached"
    producers: ClassVar[tuple[str, ...]] = ("observability",)
    subject_type: ClassVar[str] = "resource"

    resource_id: CanonicalId
    org_unit_id: CanonicalId | None = None
    period: str = Field(pattern=r"^\d{4}-\d{2}$")
    actual_pct: DecimalString = Field(ge=0, le=1000, decimal_places=2)
    target_pct: DecimalString = Field(ge=0, le=100, decimal_places=2)
    threshold_pct: DecimalString = Field(ge=0, le=1000, decimal_places=2)
    direction: BreachDirection

    @property
    def subject_id(self) -> str:
        return self.resource_id


class MismatchKind(StrEnum):
    MISSING_IN_TARGET = "missing_in_target"
    MISSING_IN_SOURCE = "missing_in_source"
    DUPLICATE_IN_TARGET = "duplicate_in_target"
    COUNT_DIFFERS = "count_differs"
    MINUTES_DIFFER = "minutes_differ"
    AMOUNT_DIFFERS = "amount_differs"


class ReconciliationMismatch(_OpsEvent):
    """SoR: none (derived by the reconciling service). Trigger: a reconciliation run found the
    source and target systems of record disagreeing for one scope (project, worker, period).
    """

    event_type: ClassVar[str] = "ReconciliationMismatch"
    producers: ClassVar[tuple[str, ...]] = _ALL_SERVICES
    subject_type: ClassVar[str] = "reconciliation_scope"

    run_id: CanonicalId
    kind: MismatchKind
    source_system: SystemKind
    target_system: SystemKind
    scope_key: SubjectKey
    project_id: CanonicalId | None = None
    worker_id: CanonicalId | None = None
    period: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}$")
    currency: str | None = Field(default=None, max_length=16)
    source_value: str = Field(max_length=200)
    target_value: str = Field(max_length=200)
    item_ids: tuple[CanonicalId, ...] = ()
    repairable: bool
    detected_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.scope_key


class MessageParked(_OpsEvent):
    """SoR: none (the messaging runtime). Trigger: a consumer parked a message that exhausted its
    retries or can never succeed; operators replay it once the cause is fixed.
    """

    event_type: ClassVar[str] = "MessageParked"
    producers: ClassVar[tuple[str, ...]] = _ALL_SERVICES
    subject_type: ClassVar[str] = "parked_message"

    consumer: str = Field(min_length=1, max_length=200)
    parked_id: CanonicalId
    original_event_id: str | None = Field(default=None, max_length=64)
    original_event_type: str | None = Field(default=None, max_length=100)
    routing_key: str = Field(max_length=255)
    reason: str = Field(min_length=1, max_length=100)
    detail: str = Field(max_length=2000)
    exception_class: str | None = Field(default=None, max_length=200)
    attempts: int = Field(ge=0)
    first_failure_at: UtcDatetime
    last_failure_at: UtcDatetime

    @property
    def subject_id(self) -> str:
        return self.parked_id


class QuoteToCashStuck(_OpsEvent):
    """SoR: none (derived by project-sync). Trigger: an opportunity's quote-to-cash saga has been
    at ``step`` since ``since``, past its configured time: an alert. ``waiting_for`` names the
    dependency it waits on (a customer not yet in the ERP, an approval), ``reason`` the last
    failure, if any. The saga also shows as stuck in project-sync's process API.
    """

    event_type: ClassVar[str] = "QuoteToCashStuck"
    producers: ClassVar[tuple[str, ...]] = ("project-sync",)
    subject_type: ClassVar[str] = "opportunity"

    opportunity_id: CanonicalId
    project_id: CanonicalId | None = None
    step: str = Field(min_length=1, max_length=80)
    since: UtcDatetime
    waiting_for: str | None = Field(default=None, min_length=1, max_length=200)
    reason: str | None = Field(default=None, min_length=1, max_length=500)
    detected_at: UtcDatetime

    @model_validator(mode="after")
    def _detected_after_it_stuck(self) -> Self:
        if self.detected_at < self.since:
            raise ValueError("detected_at cannot be before since")
        return self

    @property
    def subject_id(self) -> str:
        return self.opportunity_id
