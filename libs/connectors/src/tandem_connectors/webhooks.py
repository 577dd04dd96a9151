"""Signed webhooks: HMAC-SHA256 over timestamp, delivery id and body, with replay protection.

A sender signs ``f"{timestamp}.{delivery_id}.".encode() + body`` with the shared secret and
sends (ADR 0006)

    X-Tandem-Signature: t=<unix seconds>,v2=<hex digest>
    X-Tandem-Delivery:  <unique delivery id: 1-128 printable ASCII characters, no '.'>

A request is refused when unsigned, signed the v1 way (timestamp and body only: a captured
request re-sent under a new delivery id verified), signed with another secret, older or newer
than the tolerance, or when its delivery id was accepted before
(``connectors.webhook_deliveries``). Only then is the body read, and refused unless it is an
event whose record can be landed (``landing.check_record``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from tandem_connectors.landing import RecordRefused, check_record
from tandem_contracts import unsafe_json, unsafe_text
from tandem_messaging import DbConnection

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "WebhookEvent",
    "WebhookRejected",
    "accept_webhook",
    "check_delivery_id",
    "read_webhook_event",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "x-tandem-signature"
DELIVERY_HEADER = "x-tandem-delivery"
MAX_DELIVERY_ID = 128
MAX_SUBJECT_TYPE = 64
_MAX_SIGNATURE_HEADER = 256
# '.' separates the signed parts: an id holding one could move bytes between id and body.
_DELIVERY = re.compile(r"[\x21-\x2d\x2f-\x7e]+")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_RECORD = """
INSERT INTO connectors.webhook_deliveries (system, instance, delivery_id) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
"""


class WebhookRejected(Exception):
    """The webhook request is refused; ``reason`` is a stable code for the 4xx answer."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class WebhookEvent:
    """A webhook's event: its subject type and the record it carries (with ``id`` and
    ``version``), in the system's own shape."""

    subject_type: str
    record: Mapping[str, Any]


def check_delivery_id(delivery: str) -> None:
    """Refuse a delivery id that is empty, longer than 128, or not printable ASCII without '.'."""
    if (unsafe := unsafe_text(delivery)) is not None:
        raise WebhookRejected("malformed_delivery", f"the delivery id holds a {unsafe}")
    if len(delivery) > MAX_DELIVERY_ID:
        raise WebhookRejected(
            "malformed_delivery", f"the delivery id is longer than {MAX_DELIVERY_ID} characters"
        )
    if not _DELIVERY.fullmatch(delivery):
        raise WebhookRejected(
            "malformed_delivery", "the delivery id must be printable ASCII without spaces or '.'"
        )


def _digest(secret: bytes, body: bytes, timestamp: int, delivery: str) -> str:
    signed = f"{timestamp}.{delivery}.".encode() + body
    return hmac.new(secret, signed, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int, *, delivery: str) -> str:
    """Return the signature header value for ``body`` sent at ``timestamp`` as ``delivery``."""
    check_delivery_id(delivery)
    return f"t={timestamp},v2={_digest(secret, body, timestamp, delivery)}"


def _signature_parts(header: str) -> tuple[int, str]:
    """The timestamp and v2 digest of a signature header."""
    if len(header) > _MAX_SIGNATURE_HEADER or not header.isascii():
        raise WebhookRejected("malformed_signature", "the signature header is malformed")
    parts: dict[str, str] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        parts.setdefault(key, value)
    if "v2" not in parts and "v1" in parts:
        raise WebhookRejected(
            "signature_version", "v1 signatures are refused: sign timestamp, delivery id and body"
        )
    stamp, digest = parts.get("t", ""), parts.get("v2", "")
    if not _TIMESTAMP.fullmatch(stamp) or not _DIGEST.fullmatch(digest):
        raise WebhookRejected("malformed_signature", "the signature header is malformed")
    return int(stamp), digest


def verify(
    secret: bytes,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> str:
    """Check the signature and freshness of a request; return its delivery id."""
    lowered = {k.lower(): v for k, v in headers.items()}
    signature, delivery = lowered.get(SIGNATURE_HEADER), lowered.get(DELIVERY_HEADER)
    if not signature or not delivery:
        raise WebhookRejected("unsigned", "the request carries no signature or delivery id")
    check_delivery_id(delivery)
    timestamp, given = _signature_parts(signature)
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        raise WebhookRejected(
            "stale", f"signed at {timestamp}, outside the {tolerance:.0f} s window"
        )
    if not hmac.compare_digest(_digest(secret, body, timestamp, delivery), given):
        raise WebhookRejected("bad_signature", "the signature does not match the request")
    return delivery


async def accept_webhook(
    connection: DbConnection,
    *,
    system: str,
    instance: str,
    secret: bytes,
    body: bytes,
    headers: Mapping[str, str],
    tolerance: float = 300.0,
) -> str:
    """Verify a webhook and record its delivery id in the caller's transaction.

    Raises ``WebhookRejected`` (``not_configured``, ``unsigned``, ``malformed_delivery``,
    ``malformed_signature``, ``signature_version``, ``stale``, ``bad_signature`` or
    ``replayed``); returns the delivery id when accepted.
    """
    if not secret:  # an unset secret must refuse, never verify against the empty key
        raise WebhookRejected("not_configured", "no webhook secret is configured for it")
    delivery = verify(secret, body, headers, tolerance=tolerance)
    status = await connection.execute(_RECORD, system, instance, delivery)
    if status.endswith(" 0"):
        raise WebhookRejected("replayed", f"delivery {delivery} was accepted before")
    return delivery


def _malformed(what: str) -> NoReturn:
    raise WebhookRejected("malformed", what)


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _decode(body: bytes) -> object:
    if (unsafe := unsafe_json(body)) is not None:
        _malformed(f"the body cannot be stored: {unsafe}")
    try:
        return json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        _malformed("the body is nested too deeply")
    except ValueError as exc:  # invalid UTF-8 and integers of over 4300 digits among them
        _malformed(f"the body is not JSON: {exc}")


def _subject_type(event: Mapping[str, Any]) -> str:
    if "subject" not in event:
        return ""
    subject = event["subject"]
    if not isinstance(subject, dict):
        _malformed("the event's 'subject' must be an object")
    if "type" not in subject:
        return ""
    kind = subject["type"]
    if not isinstance(kind, str) or not 0 < len(kind) <= MAX_SUBJECT_TYPE or unsafe_text(kind):
        _malformed(f"the subject's 'type' must be text of 1 to {MAX_SUBJECT_TYPE} characters")
    return kind


def read_webhook_event(body: bytes) -> WebhookEvent:
    """The event of a REST system's webhook body ``{"subject": {"type"}, "data": {"id",
    "version", ...}}``; ``WebhookRejected("malformed", ...)`` says what is wrong with it."""
    event = _decode(body)
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        _malformed("the body must be an event object with a 'data' record")
    kind, data = _subject_type(event), event["data"]
    if not isinstance(data.get("id"), str) or type(data.get("version")) is not int:
        _malformed("the event's record needs a string 'id' and an integer 'version'")
    try:
        check_record(data)
    except RecordRefused as refused:
        _malformed(f"the event's record cannot be landed: {refused}")
    return WebhookEvent(kind, data)
