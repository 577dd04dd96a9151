"""What the inbound endpoints read and return (``/v1/inbound/{system}/{instance}``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tandem_contracts import unsafe_text
from tandem_service_kit._parking_schemas import AuditedWhy

__all__ = ["Landed", "SetAsidePage", "SetAsideRead", "SetAsideReplayCreate", "SetAsideReplayRead"]

_MAX_IDS = 1000
# Within what a JSON number holds exactly (RFC 7493): a client's float parser, or a schema
# validator's, would otherwise round an id near 2**63 to another one.
JSON_SAFE_INT = 2**53 - 1
_SequenceNumber = Annotated[int, Field(ge=1, le=JSON_SAFE_INT)]


class Landed(BaseModel):
    """What became of a webhook delivery."""

    delivery_id: str
    landed: bool
    record_type: str | None


class SetAsideRead(BaseModel):
    """A set-aside record version: its key, why it was set aside, and when."""

    model_config = ConfigDict(from_attributes=True)

    sequence: int
    record_type: str
    record_id: str
    version: int
    via: str
    reason: str
    landed_at: datetime
    set_aside_at: datetime | None
    replayable: bool = Field(description="false when refused at landing: no payload was kept")


class SetAsidePage(BaseModel):
    """One page of set-aside records; pass ``next_after`` as ``after`` for the next one."""

    items: list[SetAsideRead]
    next_after: int | None


class SetAsideReplayCreate(BaseModel):
    """Which set-aside records to replay (``ids``, or ``all`` of the source), and why.

    The actor is the caller, never a field of the body; unknown fields are refused so that a
    misspelt selector cannot widen the selection.
    """

    model_config = ConfigDict(
        extra="forbid",
        # Ids, or all: the validator's rule, said in the schema too.
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["ids"],
                    "properties": {"ids": {"minItems": 1}, "all": {"const": False}},
                },
                {
                    "required": ["all"],
                    "properties": {"all": {"const": True}, "ids": {"maxItems": 0}},
                },
            ]
        },
    )

    ids: list[_SequenceNumber] = Field(default_factory=list, max_length=_MAX_IDS)
    all: bool = False
    why: AuditedWhy

    @field_validator("why")
    @classmethod
    def _check_why(cls, value: str) -> str:
        if (unsafe := unsafe_text(value)) is not None:
            raise ValueError(f"the reason holds a {unsafe}")
        return value

    @model_validator(mode="after")
    def _check_selected(self) -> Self:
        if bool(self.ids) == self.all:
            raise ValueError("select records by ids, or all of them, not both")
        return self


class SetAsideReplayRead(BaseModel):
    """The audited replay: its audit row, and how many and which records became pending."""

    audit_id: int
    count: int
    ids: list[int]
