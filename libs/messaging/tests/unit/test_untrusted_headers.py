"""The runtime's headers are untrusted input: each reader returns a bounded, sane value."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tandem_contracts import unsafe_json
from tandem_messaging._headers import (
    ATTEMPT_HEADER,
    FIRST_FAILURE_HEADER,
    ROUTING_KEY_HEADER,
    attempt_in,
    clean_text,
    first_failure_at,
    routing_key_in,
    storable_headers,
)

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "attempt"),
    [
        (3, 3),
        (1, 1),
        ("abc", 1),
        ("3", 1),
        (-5, 1),
        (0, 1),
        (2**63 - 1, 5),
        (6, 5),
        (True, 1),
        (False, 1),
        (b"bytes", 1),
        (bytearray(b"2"), 1),
        (2.0, 1),
        ({"n": 2}, 1),
        (None, 1),
    ],
)
def test_the_attempt_is_an_int_from_1_to_max_attempts(value: Any, attempt: int) -> None:
    assert attempt_in({ATTEMPT_HEADER: value}, max_attempts=5) == attempt


def test_a_missing_attempt_is_the_first() -> None:
    assert attempt_in({}, max_attempts=5) == 1


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "9999-99-99",
        "2026-01-01T00:00:00",  # naive
        "0001-01-01T00:00:00+01:00",  # overflows when shifted to UTC
        "9999-12-31T23:59:59-05:00",
        "2999-01-01T00:00:00+00:00",  # in the future
        "1800-01-01T00:00:00+00:00",
        "2026-01-01T00:00:00+00:00" + "0" * 100_000,
        b"\xff\xfe",
        datetime(2026, 1, 1),  # naive AMQP timestamp
        12345,
        {"at": "2026-01-01T00:00:00Z"},
    ],
)
def test_an_unusable_first_failure_time_reads_as_now(value: Any) -> None:
    assert first_failure_at({FIRST_FAILURE_HEADER: value}, NOW) == NOW


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-01T09:30:00+00:00",
        "2026-11-01T10:30:00+01:00",
        b"2026-11-01T09:30:00Z",
        datetime(2026, 11, 1, 4, 30, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_a_sound_first_failure_time_is_kept_in_utc(value: Any) -> None:
    found = first_failure_at({FIRST_FAILURE_HEADER: value}, NOW)
    assert found == datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    assert found.tzinfo is UTC


@pytest.mark.parametrize("value", ["x" * 100_000, "", "a\x00b", 7, b"crm.OpportunityLost"])
def test_a_bad_routing_key_header_gives_way_to_the_delivery_routing_key(value: Any) -> None:
    assert routing_key_in({ROUTING_KEY_HEADER: value}, "crm.key") == "crm.key"
    assert routing_key_in({ROUTING_KEY_HEADER: "crm.original"}, "q") == "crm.original"


def test_clean_text_is_bounded_and_storable() -> None:
    assert clean_text("boom\x00boom\ud800", 500) == "boom\ufffdboom\ufffd"
    assert clean_text("x" * 1000, 500) == "x" * 500
    assert clean_text("tab\tand\nnewline", 50) == "tab\tand\nnewline"


def test_stored_headers_are_json_that_jsonb_accepts() -> None:
    stored = storable_headers(
        {
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "x-tandem-attempt": 3,
            "nul": "a\x00b",
            "surrogate": "\udc80",
            "bytes": bytearray(b"\xff\x00ok"),
            "huge": "y" * 100_000,
            "nested": {"a": {"b": bytearray(b"\x00")}},
            "array": [1, "x"],
            "flag": True,
            "nan": float("nan"),
            "decimal": Decimal("1.50"),
            "at": datetime(2026, 1, 1, tzinfo=UTC),
            "k\x00ey": "dropped",
            "k" * 200: "dropped",
        }
    )
    text = json.dumps(stored, allow_nan=False)
    assert unsafe_json(text.encode()) is None
    assert stored["traceparent"].startswith("00-0af7")
    assert stored["x-tandem-attempt"] == 3
    assert stored["nul"] == "a\ufffdb"
    assert stored["surrogate"] == "\ufffd"
    assert stored["bytes"] == "\ufffd\ufffdok"
    assert len(stored["huge"]) == 1024
    assert stored["flag"] is True
    assert stored["nan"] == "nan"
    assert stored["decimal"] == "1.50"
    assert stored["at"] == "2026-01-01T00:00:00+00:00"
    assert not {"nested", "array", "k\x00ey", "k" * 200} & stored.keys()


def test_at_most_64_headers_are_stored() -> None:
    assert len(storable_headers({f"h{i}": i for i in range(1000)})) == 64
