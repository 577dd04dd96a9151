"""Scalar types shared by every entity and event: ids, timestamps, durations, regions."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

__all__ = [
    "CanonicalId",
    "CanonicalModel",
    "CountryCode",
    "Minutes",
    "Region",
    "SignedMinutes",
    "Slug",
    "SubjectKey",
    "UtcDatetime",
    "new_id",
    "uuid7",
]


def uuid7() -> uuid.UUID:
    """Return a new RFC 9562 version-7 UUID: time-ordered, 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | rand & ((1 << 80) - 1)
    value = value & ~(0xF << 76) | (0x7 << 76)  # version 7
    value = value & ~(0x3 << 62) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)


def new_id() -> str:
    """Return a new canonical id (a UUIDv7 string)."""
    return str(uuid7())


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _reject_naive(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise PydanticCustomError("timezone_aware", "Input should have timezone info")
    return value


UtcDatetime = Annotated[
    datetime,
    AfterValidator(_reject_naive),
    AfterValidator(_to_utc),
    Field(json_schema_extra={"format": "date-time"}),
]
"""A timezone-aware instant, normalised to UTC. Naive datetimes are rejected."""

CanonicalId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-:]+$")
]
"""A suite-minted id (UUIDv7 string) or another opaque id safe in routing keys and URLs."""

SubjectKey = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^\S+$")]
"""The id of an event's subject and its partition key: a canonical id or a composite key."""

Slug = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
]
"""A lower-case machine name: tenant, service, system instance."""

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""An ISO-3166 alpha-2 country code such as ``DE``."""

Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,8}$")]
"""A data-residency region such as ``us``, ``eu``, ``uk``, ``apac``."""

Minutes = Annotated[int, Field(ge=0, le=60 * 24 * 366, strict=True)]
"""A non-negative duration in whole minutes."""

SignedMinutes = Annotated[int, Field(ge=-60 * 24 * 366, le=60 * 24 * 366, strict=True)]
"""A duration delta in whole minutes; negative for reversals."""


class CanonicalModel(BaseModel):
    """Base of every canonical entity and payload: immutable, closed to unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)
