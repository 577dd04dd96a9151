"""Signed webhooks: HMAC-SHA256 over timestamp and body, with replay protection.

A sender signs ``f"{timestamp}.".encode() + body`` with the shared secret and sends

    X-Tandem-Signature: t=<unix seconds>,v1=<hex digest>
    X-Tandem-Delivery:  <unique delivery id>

A request is refused when unsigned, signed with another secret, older or newer than the
tolerance, or when its delivery id was accepted before (``connectors.webhook_deliveries``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tandem_messaging import DbConnection

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "WebhookEvent",
    "WebhookRejected",
    "accept_webhook",
    "read_webhook_event",
    "sign",
]

SIGNATURE_HEADER = "x-tandem-signature"
DELIVERY_HEADER = "x-tandem-delivery"
_RECORD = """
INSERT INTO connectors.webhook_deliveries (system, instance, delivery_id) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
"""


class WebhookRejected(Exception):
    """The webhook request is refused; ``reason`` is a stable code for the 401/409 answer."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class WebhookEvent:
    """A webhook's event: its subject type and the record it carries (with ``id`` and
    ``version``), in the system's own shape."""

    subject_type: str
    record: Mapping[str, Any]


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """Return the signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


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
    parts = dict(p.split("=", 1) for p in signature.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise WebhookRejected("malformed_signature", "the signature header is malformed") from None
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        raise WebhookRejected(
            "stale", f"signed at {timestamp}, outside the {tolerance:.0f} s window"
        )
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise WebhookRejected("bad_signature", "the signature does not match the body")
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

    Raises ``WebhookRejected`` (``not_configured``, ``unsigned``, ``malformed_signature``,
    ``stale``, ``bad_signature`` or ``replayed``); returns the delivery id when accepted.
    """
    if not secret:  # an unset secret must refuse, never verify against the empty key
        raise WebhookRejected("not_configured", "no webhook secret is configured for it")
    delivery = verify(secret, body, headers, tolerance=tolerance)
    status = await connection.execute(_RECORD, system, instance, delivery)
    if status.endswith(" 0"):
        raise WebhookRejected("replayed", f"delivery {delivery} was accepted before")
    return delivery


def read_webhook_event(body: bytes) -> WebhookEvent:
    """The event of a REST system's webhook body ``{"subject": {"type"}, "data": {"id",
    "version", ...}}``; ``WebhookRejected("malformed", ...)`` says what is wrong with it."""
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise WebhookRejected("malformed", f"the body is not JSON: {exc}") from exc
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise WebhookRejected("malformed", "the body must be an event object with a 'data' record")
    data, subject = event["data"], event.get("subject")
    if not isinstance(data.get("id"), str) or type(data.get("version")) is not int:
        raise WebhookRejected(
            "malformed", "the event's record needs a string 'id' and an integer 'version'"
        )
    kind = subject.get("type") if isinstance(subject, dict) else None
    return WebhookEvent(kind if isinstance(kind, str) else "", data)
