"""A corpus of hostile and careless input for every ingress of a service, with the answer each
case must get: an HTTP status for the process API and the webhooks, a parked reason for AMQP.

The corpus is data: each service adds its routes and the events it consumes, and the kit's
routes (parking lot, inbound, company links) come with every service. A case names what it
tries, so a failure reads as the defect it found.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AmqpCase",
    "HttpCase",
    "amqp_cases",
    "body_cases",
    "id_path_values",
    "key_values",
    "limit_values",
    "period_values",
    "query_cases",
]


@dataclass(frozen=True)
class HttpCase:
    """One request and the status it must be answered with."""

    name: str
    method: str
    url: str
    expect: int
    body: bytes | None = None
    headers: Mapping[str, str | bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class AmqpCase:
    """One message and the reason it must be parked with."""

    name: str
    body: bytes
    reason: str
    headers: Mapping[str, Any] = field(default_factory=dict)
    content_type: str | None = "application/json"


# (name, value as it goes into the URL, status) for an id filter or page cursor (1..255 chars).
def key_values(found: int = 200) -> list[tuple[str, str, int]]:
    """Hostile values of an id-like parameter; ``found`` is the answer to a well-formed one."""
    return [
        ("nul", "%00abc", 400),
        ("nul-at-end", "abc%00", 400),
        ("over-255", "a" * 256, 422),
        ("over-the-query-limit", "a" * 9000, 414),
        ("empty", "", 422),
        ("sql-injection", "%27%20OR%201%3D1%20--", found),
        ("sql-comment", "x%27%3B%20DROP%20TABLE%20entries%3B--", found),
        ("unicode", "caf%C3%A9%F0%9F%98%80", found),
        ("rtl-override", "%E2%80%AEabc", found),
        ("escape-sequence", "%1B%5B31m", found),
        ("invalid-utf8", "%FF%FE", found),
        ("utf8-encoded-surrogate", "%ED%A0%80", found),
        ("percent", "%25", found),
        ("json-escape-text", "%5Cu0000", found),
        ("whitespace", "%20%09%0A", found),
    ]


def id_path_values(found: int = 404) -> list[tuple[str, str, int]]:
    """Hostile values of a path id held to ``[A-Za-z0-9_-:]{1,64}``; ``found`` is the answer
    to a well-formed one (unknown ids: 404). The last two are the well-formed ones."""
    return [
        ("nul", "%00abc", 400),
        ("nul-at-end", "abc%00", 400),
        ("over-64", "a" * 65, 422),
        ("sql-injection", "%27%20OR%201%3D1%20--", 422),
        ("sql-comment", "x%27%3B%20DROP%20TABLE%20sagas%3B--", 422),
        ("unicode", "caf%C3%A9%F0%9F%98%80", 422),
        ("rtl-override", "%E2%80%AEabc", 422),
        ("escape-sequence", "%1B%5B31m", 422),
        ("invalid-utf8", "%FF%FE", 422),
        ("percent", "%25", 422),
        ("whitespace", "%20%09%0A", 422),
        ("dot-segments", "..%2F..%2Fetc", 404),  # decoded: no route has that path
        ("longest", "a" * 64, found),
        ("well-formed", "crm-0061x000:opp_1", found),
    ]


def period_values() -> list[tuple[str, str, int]]:
    """Hostile accounting periods (YYYY-MM, years 1900-2999)."""
    return [
        ("year-zero", "0000-10", 422),
        ("month-13", "2026-13", 422),
        ("month-zero", "2026-00", 422),
        ("year-9999", "9999-12", 422),
        ("year-1899", "1899-12", 422),
        ("one-digit-month", "2026-1", 422),
        ("a-date", "2026-10-01", 422),
        ("nul", "%002026-10", 400),
        ("signed", "%2B2026-10", 422),
        ("fullwidth-digits", "%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-10", 422),
        ("empty", "", 422),
        ("trailing-newline", "2026-10%0A", 422),
        ("valid", "2026-10", 200),
    ]


def limit_values() -> list[tuple[str, str, int]]:
    """Hostile page sizes (1..500)."""
    return [
        ("zero", "0", 422),
        ("negative", "-1", 422),
        ("over-500", "501", 422),
        ("exponent", "1e3", 422),
        ("fraction", "1.5", 422),
        ("word", "abc", 422),
        ("beyond-64-bits", "9" * 30, 422),
        ("empty", "", 422),
        ("nul", "5%00", 400),
        ("largest", "500", 200),
        ("smallest", "1", 200),
    ]


def query_cases(
    route: str,
    parameter: str,
    values: list[tuple[str, str, int]],
    *,
    fixed: str = "",
) -> Iterator[HttpCase]:
    """A GET of ``route`` with ``parameter`` set to each value (``fixed``: other parameters)."""
    for name, value, status in values:
        query = f"{fixed}&{parameter}={value}" if fixed else f"{parameter}={value}"
        yield HttpCase(f"GET {route} {parameter}={name}", "GET", f"{route}?{query}", status)


def body_cases(
    method: str,
    route: str,
    valid: dict[str, Any],
    variants: list[tuple[str, dict[str, Any] | bytes, int]],
) -> Iterator[HttpCase]:
    """A JSON request of ``route`` per variant: a dict is merged into ``valid`` (a value of
    ``...`` removes the field), bytes are sent as they are."""
    for name, change, status in variants:
        if isinstance(change, bytes):
            body = change
        else:
            merged = {k: v for k, v in (valid | change).items() if v is not ...}
            body = json.dumps(merged).encode()
        yield HttpCase(
            f"{method} {route} {name}",
            method,
            route,
            status,
            body=body,
            headers={"content-type": "application/json"},
        )


def nested(depth: int) -> bytes:
    """A JSON text nested ``depth`` arrays deep."""
    return b"[" * depth + b"]" * depth


def amqp_cases(valid: bytes) -> Iterator[AmqpCase]:
    """Undecodable bodies and forged runtime headers on a queue's messages; ``valid`` is a
    valid envelope of an event the queue consumes, the base of the malformed ones."""
    envelope = json.loads(valid)

    def altered(**changes: Any) -> bytes:
        return json.dumps(envelope | changes).encode()

    def payload(**changes: Any) -> bytes:
        return altered(payload=envelope["payload"] | changes)

    yield AmqpCase("not-json", b"{not json", "bad_encoding")
    yield AmqpCase("not-utf8", b"\xff\xfe{}", "bad_encoding")
    yield AmqpCase("a-json-array", b"[1, 2, 3]", "bad_encoding")
    yield AmqpCase("empty-body", b"", "bad_encoding")
    yield AmqpCase("nested-100k", nested(100_000), "bad_encoding")
    yield AmqpCase("unknown-type", altered(event_type="NoSuchEvent"), "unknown_event_type")
    yield AmqpCase("unknown-version", altered(schema_version=99), "unknown_schema_version")
    yield AmqpCase("naive-datetime", altered(occurred_at="2026-10-01T09:00:00"), "naive_datetime")
    yield AmqpCase("missing-payload", altered(payload=None), "schema_invalid")
    yield AmqpCase("version-beyond-64-bits", altered(subject_version=2**70), "schema_invalid")
    yield AmqpCase("negative-version", altered(subject_version=-1), "schema_invalid")
    yield AmqpCase("tenant-too-long", altered(tenant_id="t" * 10_000), "schema_invalid")
    yield AmqpCase("date-as-datetime", payload(start_date="2024-01-01T00:00:00"), "schema_invalid")
    yield AmqpCase("year-zero-date", payload(start_date="0000-01-01"), "schema_invalid")
    nul = altered(correlation_id="c\u0000")
    yield AmqpCase("nul-in-a-string", nul, "unsafe_text")
    lone = valid.replace(b'"tenant_id":"', b'"tenant_id":"\\ud800', 1)
    assert lone != valid
    yield AmqpCase("lone-surrogate", lone, "unsafe_text")
    yield AmqpCase("lone-low-surrogate", altered(tenant_id="\udc00"), "unsafe_text")
    yield AmqpCase("oversized", altered(padding="x" * 2_000_000), "oversized")
    forged: list[tuple[str, dict[str, Any]]] = [
        ("attempt-word", {"x-tandem-attempt": "abc"}),
        ("attempt-negative", {"x-tandem-attempt": -5}),
        ("attempt-huge", {"x-tandem-attempt": 2**63 - 1}),
        ("attempt-bool", {"x-tandem-attempt": True}),
        ("attempt-bytes", {"x-tandem-attempt": bytearray(b"\x00\x01")}),
        ("first-failure-garbage", {"x-tandem-first-failure-at": "garbage"}),
        ("first-failure-impossible", {"x-tandem-first-failure-at": "9999-99-99"}),
        ("first-failure-naive", {"x-tandem-first-failure-at": "2026-10-01T09:00:00"}),
        ("routing-key-100k", {"x-tandem-routing-key": "k" * 100_000}),
        ("last-error-nul", {"x-tandem-last-error": "boom\x00"}),
        ("header-table", {"x-tandem-attempt": {"nested": {"deeper": [1, 2]}}}),
        ("correlation-nul", {"x-correlation-id": "c\x00"}),
    ]
    for name, headers in forged:
        # Undecodable, so the park path reads the forged headers at once.
        yield AmqpCase(f"forged-{name}", b"{not json", "bad_encoding", headers=headers)
