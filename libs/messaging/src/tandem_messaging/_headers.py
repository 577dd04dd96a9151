"""The message headers the runtime reads, read as the untrusted input they are.

Whoever can publish to a queue can set any header to any AMQP value: text with NUL bytes,
byte arrays, nested tables, huge or negative counters, timestamps that do not parse. Each
reader here returns a bounded, sane value whatever it is given, so a forged header can neither
crash a consumer, nor make parking fail, nor keep a message cycling between the retry and
dead-letter queues: it ends handled, retried a bounded number of times, or parked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tandem_contracts import unsafe_text

__all__ = [
    "ATTEMPT_HEADER",
    "FIRST_FAILURE_HEADER",
    "LAST_ERROR_HEADER",
    "REPLAY_HEADER",
    "ROUTING_KEY_HEADER",
    "attempt_in",
    "clean_text",
    "first_failure_at",
    "routing_key_in",
    "storable_headers",
]

ATTEMPT_HEADER = "x-tandem-attempt"
FIRST_FAILURE_HEADER = "x-tandem-first-failure-at"
ROUTING_KEY_HEADER = "x-tandem-routing-key"
LAST_ERROR_HEADER = "x-tandem-last-error"
REPLAY_HEADER = "x-tandem-replay-id"

_MAX_ROUTING_KEY = 255  # AMQP's own limit on a routing key
_MAX_TIMESTAMP = 64
_MAX_KEY = 128
_MAX_VALUE = 1024
_MAX_STORED = 64
_FIRST_YEAR = 1900
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def attempt_in(headers: Mapping[str, Any], max_attempts: int) -> int:
    """Return the delivery's attempt number, from 1 to ``max_attempts``.

    Anything but a plain integer (text, bytes, a bool) and any count below 1 read as a first
    attempt; a count above ``max_attempts`` reads as the last one, so a failure parks it at
    once. Either way the ordinary retry-then-park path runs and ends.
    """
    value = headers.get(ATTEMPT_HEADER, 1)
    if type(value) is not int:
        return 1
    return min(max(value, 1), max_attempts)


def first_failure_at(headers: Mapping[str, Any], now: datetime) -> datetime:
    """Return when the message first failed, in UTC; ``now`` unless the header holds a
    timezone-aware instant between 1900 and ``now``."""
    value = headers.get(FIRST_FAILURE_HEADER)
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and len(value) <= _MAX_TIMESTAMP:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return now
    if not isinstance(value, datetime) or value.utcoffset() is None:
        return now
    # The year check comes first: shifting an instant near year 1 or 9999 to UTC overflows.
    if not _FIRST_YEAR <= value.year <= now.year:
        return now
    value = value.astimezone(UTC)
    return value if value <= now else now


def routing_key_in(headers: Mapping[str, Any], fallback: str) -> str:
    """Return the original routing key a retried message carries, else ``fallback``."""
    value = headers.get(ROUTING_KEY_HEADER)
    if isinstance(value, str) and 0 < len(value) <= _MAX_ROUTING_KEY and not unsafe_text(value):
        return value
    return clean_text(fallback, _MAX_ROUTING_KEY)


def clean_text(value: str, limit: int) -> str:
    """Return ``value`` cut to ``limit`` characters, with every character PostgreSQL or UTF-8
    cannot hold (NUL, other control characters, lone surrogates) replaced by U+FFFD."""
    value = value[:limit]
    return value if unsafe_text(value) is None else _UNSAFE.sub("\ufffd", value)


def storable_headers(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the headers as JSON that PostgreSQL's ``jsonb`` accepts, for the parking lot.

    Text is cleaned and bounded, byte arrays become text, timestamps and decimals ISO/decimal
    text; keys that are not clean short text, nested tables and arrays are left out (the
    runtime reads none of them), and at most 64 headers are kept.
    """
    stored: dict[str, Any] = {}
    for key, value in (headers or {}).items():
        if len(stored) == _MAX_STORED:
            break
        if not isinstance(key, str) or len(key) > _MAX_KEY or unsafe_text(key) is not None:
            continue
        plain = _plain(value)
        if plain is not _LEFT_OUT:
            stored[key] = plain
    return stored


_LEFT_OUT = object()


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        value = value[:_MAX_VALUE].decode("utf-8", "replace")
    if isinstance(value, str):
        return clean_text(value, _MAX_VALUE)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return _LEFT_OUT
