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
import time
from collections.abc import Mapping

from tandem_messaging import DbConnection

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "WebhookRejected",
    "accept_webhook",
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

    Raises ``WebhookRejected`` (``unsigned``, ``malformed_signature``, ``stale``,
    ``bad_signature`` or ``replayed``); returns the delivery id when accepted.
    """
    delivery = verify(secret, body, headers, tolerance=tolerance)
    status = await connection.execute(_RECORD, system, instance, delivery)
    if status.endswith(" 0"):
        raise WebhookRejected("replayed", f"delivery {delivery} was accepted before")
    return delivery
