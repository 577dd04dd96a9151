"""Scalar types shared by every entity and event: ids, timestamps, durations, regions."""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "CalendarDate",
    "CanonicalId",
    "CanonicalModel",
    "CountryCode",
    "Minutes",
    "Region",
    "SignedMinutes",
    "Slug",
    "SubjectKey",
    "UtcDatetime",
    "Version",
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


FIRST_YEAR, LAST_YEAR = 1900, 2999
"""The years a business date or instant may fall in; anything else is a typo or a forgery."""

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]")
# The year range as JSON Schema says it, so that a client (or schemathesis) knows it too.
_YEARS = "(?:19[0-9]{2}|2[0-9]{3})"


def _check_year(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise PydanticCustomError(
            "date_out_of_range",
            "{year} is outside the years {first}..{last}",
            {"year": value.year, "first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return value


def _calendar_date(value: Any) -> Any:
    # Lax pydantic takes '2026-10-01T00:00:00', a datetime or a Unix timestamp for a date;
    # a contract date is a calendar day and nothing else.
    if isinstance(value, datetime) or not isinstance(value, str | date):
        raise PydanticCustomError("date_type", "a date must be a 'YYYY-MM-DD' string")
    if isinstance(value, str) and _ISO_DATE.fullmatch(value) is None:
        raise PydanticCustomError("date_format", "a date must be a 'YYYY-MM-DD' string")
    return value


CalendarDate = Annotated[
    date,
    BeforeValidator(_calendar_date),
    AfterValidator(_check_year),
    Field(json_schema_extra={"pattern": f"^{_YEARS}-[0-9]{{2}}-[0-9]{{2}}$"}),
]
"""A calendar day, ``YYYY-MM-DD`` on the wire, in the years ``FIRST_YEAR``..``LAST_YEAR``."""


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _instant(value: Any) -> Any:
    # Lax pydantic reads a JSON number as a Unix timestamp; the wire carries ISO 8601 text.
    if not isinstance(value, str | datetime):
        raise PydanticCustomError("datetime_type", "a datetime must be an ISO 8601 string")
    if isinstance(value, str) and _ISO_INSTANT.match(value) is None:
        # Lax pydantic also reads '1700000000' or '0.5' as a Unix timestamp.
        raise PydanticCustomError(
            "datetime_format", "a datetime must be ISO 8601, such as '2026-10-01T09:00:00Z'"
        )
    return value


def _reject_naive(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise PydanticCustomError("timezone_aware", "Input should have timezone info")
    return value


UtcDatetime = Annotated[
    datetime,
    BeforeValidator(_instant),
    AfterValidator(_reject_naive),
    AfterValidator(_check_year),  # before the shift to UTC, which overflows near year 1 or 9999
    AfterValidator(_to_utc),
    Field(json_schema_extra={"format": "date-time", "pattern": f"^{_YEARS}-"}),
]
"""A timezone-aware instant, normalised to UTC, in the years ``FIRST_YEAR``..``LAST_YEAR``.
Naive datetimes are rejected."""

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

Version = Annotated[int, Field(ge=1, le=2**63 - 1)]
"""A version or sequence number from 1, within PostgreSQL's ``bigint``."""

SignedMinutes = Annotated[int, Field(ge=-60 * 24 * 366, le=60 * 24 * 366, strict=True)]
"""A duration delta in whole minutes; negative for reversals."""


class CanonicalModel(BaseModel):
    """Base of every canonical entity and payload: immutable, closed to unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)
