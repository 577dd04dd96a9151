"""What the parking-lot endpoints read and return (``/v1/parked``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AuditedWhy",
    "ParkedActionCreate",
    "ParkedActionRead",
    "ParkedDetailRead",
    "ParkedPage",
    "ParkedRead",
    "ParkedStatus",
]

ParkedStatus = Literal["parked", "replayed", "released", "discarded"]

_MAX_IDS = 1000

AuditedWhy = Annotated[
    str,
    # At least one printable character that is not white space, by any regex dialect's
    # reckoning: the schema's pattern is the rule, the validator only trims.
    Field(min_length=1, max_length=500, pattern=r"[^\s\x00-\x1f\x7f-\x9f]"),
    Field(description="why (audited)"),
    AfterValidator(str.strip),
]
"""The reason an operator gives for an audited action (replay, discard)."""


class ParkedRead(BaseModel):
    """A parked message as listed: why it failed, how often, and what it waits for."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    consumer: str
    event_id: UUID | None
    event_type: str | None
    routing_key: str
    reason: str
    detail: str
    exception_class: str | None
    attempts: int
    first_failure_at: datetime
    last_failure_at: datetime
    waiting_for: str | None
    status: ParkedStatus
    parked_at: datetime


class ParkedPage(BaseModel):
    """One page of parked messages; pass ``next_after`` as ``after`` for the next one."""

    items: list[ParkedRead]
    next_after: UUID | None


class ParkedDetailRead(ParkedRead):
    """A parked message in full: headers and envelope, confidential fields redacted.

    ``envelope`` is null when the body does not decode; ``decode_error`` then says why.
    """

    queue: str
    resolved_at: datetime | None
    headers: dict[str, Any]
    body_size: int
    envelope: dict[str, Any] | None
    decode_error: str | None


class ParkedActionCreate(BaseModel):
    """Which parked messages to replay or discard, and why; at least one selector is required.

    Selectors combine (ids and consumer and reason and event type). The actor is the caller,
    never a field of the body, and unknown fields are refused so a misspelt selector cannot
    widen the selection.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["ids"], "properties": {"ids": {"minItems": 1}}},
                {"required": ["consumer"], "properties": {"consumer": {"type": "string"}}},
                {"required": ["reason"], "properties": {"reason": {"type": "string"}}},
                {"required": ["event_type"], "properties": {"event_type": {"type": "string"}}},
            ]
        },
    )

    ids: list[UUID] = Field(default_factory=list, max_length=_MAX_IDS)
    consumer: str | None = Field(default=None, min_length=1, max_length=200)
    reason: str | None = Field(default=None, min_length=1, max_length=200)
    event_type: str | None = Field(default=None, min_length=1, max_length=100)
    why: AuditedWhy

    @model_validator(mode="after")
    def _check_selected(self) -> Self:
        if not (self.ids or self.consumer or self.reason or self.event_type):
            raise ValueError("select messages by ids, consumer, reason or event_type")
        return self


class ParkedActionRead(BaseModel):
    """The audited action: its id, and how many and which parked messages it took."""

    action_id: UUID
    count: int
    ids: list[UUID]
