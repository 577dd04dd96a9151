"""Request and response bodies of observability's ``/v1`` routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field

__all__ = [
    "AuditPage",
    "AuditRead",
    "ConsoleActionCreate",
    "ConsoleActionRead",
    "KeyTimelineRead",
    "SearchMatch",
    "SearchRead",
    "SloRead",
    "SlosRead",
    "StepRead",
    "SystemIdRead",
    "TimelineRead",
    "WhoAmI",
]

# At least one printable character that is not white space (the pattern is searched, not
# anchored), as the services' own parked-message API requires: no action without a reason.
AuditedWhy = Annotated[
    str,
    Field(
        min_length=1,
        max_length=500,
        pattern=r"[^\s\x00-\x1f\x7f-\x9f]",
        description="why: kept in the console's audit and the service's",
    ),
    AfterValidator(str.strip),
]

Outcome = Literal["ok", "failed", "held", "parked", "mismatch", "breach"]


class WhoAmI(BaseModel):
    """Who the credential proves, and what it may do."""

    subject: str
    scopes: list[str]


class SystemIdRead(BaseModel):
    """An id a system of record minted (an ERP line, an invoice number)."""

    system: str
    instance: str
    object: str
    id: str


class StepRead(BaseModel):
    """One event of a flow, as observability keeps it: ids, codes and times only."""

    event_id: str
    event_type: str
    service: str
    system: str | None
    occurred_at: datetime
    recorded_at: datetime
    outcome: Outcome
    reason: str | None = Field(description="a code saying why it failed or is held")
    subject_type: str
    subject_id: str
    keys: dict[str, str | list[str]]
    system_ids: list[SystemIdRead]
    trace_id: str | None
    trace_url: str | None
    region: str
    correlation_id: str
    causation_id: str | None


class TimelineRead(BaseModel):
    """A flow across services, from its first event to its latest."""

    correlation_id: str
    status: Literal["complete", "in_progress", "stuck"]
    stuck: list[StepRead] = Field(description="the latest step of each stuck subject")
    started_at: datetime
    last_at: datetime
    services: list[str]
    steps: list[StepRead]
    truncated: bool


class KeyTimelineRead(BaseModel):
    """Every step naming one business key, across the flows it took part in."""

    kind: str
    id: str
    correlation_ids: list[str]
    steps: list[StepRead]
    truncated: bool


class SearchMatch(BaseModel):
    """What an id names: a business key, a system id, an event or a correlation id."""

    kind: str
    id: str
    correlation_ids: list[str]
    steps: int
    first_at: datetime
    last_at: datetime


class SearchRead(BaseModel):
    """Everything an id names."""

    query: str
    matches: list[SearchMatch]


class SloRead(BaseModel):
    """Where one SLO stands."""

    name: str
    description: str
    objective: float
    period: str
    good: float
    total: float
    ratio: float | None
    budget_remaining: float
    burn_rates: dict[str, float]
    alerting: Literal["page", "ticket"] | None


class SlosRead(BaseModel):
    """Every SLO."""

    slos: list[SloRead]


class ConsoleActionCreate(BaseModel):
    """Replay or discard parked messages of one service, with the reason (audited)."""

    ids: list[UUID] = Field(min_length=1, max_length=500)
    why: AuditedWhy


class ConsoleActionRead(BaseModel):
    """What the service did, and the console's audit entry."""

    action_id: str
    count: int
    ids: list[str]
    audit_id: UUID


class AuditRead(BaseModel):
    """One console action."""

    id: UUID
    at: datetime
    actor: str
    action: Literal["replay", "discard"]
    service: str
    ids: list[str]
    why: str
    count: int
    outcome: str


class AuditPage(BaseModel):
    """Console actions, newest first."""

    items: list[AuditRead]
