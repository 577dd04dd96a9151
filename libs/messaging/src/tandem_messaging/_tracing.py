"""W3C trace context in message headers, and spans with ``messaging.*`` attributes.

Context is injected when an event enters the outbox and re-injected by the relay's publish
span, so one trace runs publish → relay → consume → publish → consume across services. The
headers travel unchanged through retry queues, the parking lot and replay.

Every span also names its service in ``tandem.service`` (the tracer provider's
``service.name``): trace stores that do not show resource attributes per span (Phoenix) still
tell which service a hop ran in, and a trace reads whole in one place.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import (
    INVALID_SPAN,
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    SpanKind,
)

from tandem_contracts import Envelope

__all__ = ["consume_span", "enabled", "inject", "publish_span", "tracer"]

tracer = trace.get_tracer("tandem.messaging")


class _Checked:
    at = -1.0
    enabled = False
    service = ""


def enabled() -> bool:
    """True once a tracing SDK is installed; without one, spans would be no-ops anyway.

    Looked up at most once a second: the lookup reads the environment, which costs more
    than a message's whole span work.
    """
    now = time.monotonic()
    if now - _Checked.at > 1.0:
        provider = trace.get_tracer_provider()
        _Checked.enabled = not isinstance(provider, ProxyTracerProvider | NoOpTracerProvider)
        _Checked.service = _service_name(provider)
        _Checked.at = now
    return _Checked.enabled


def _service_name(provider: trace.TracerProvider) -> str:
    # The SDK's provider carries its resource; the API's interface does not promise one.
    resource = getattr(provider, "resource", None)
    name = getattr(resource, "attributes", {}).get("service.name")
    return name if isinstance(name, str) else ""


def inject(headers: dict[str, Any]) -> dict[str, Any]:
    """Write the current trace context into ``headers`` (and return them)."""
    if enabled():
        propagate.inject(headers)
    return headers


def _extract(headers: Mapping[str, Any]) -> otel_context.Context:
    # Headers are untrusted: byte arrays that are not UTF-8 must not fail the consumer.
    carrier = {
        k: v.decode("utf-8", "replace") if isinstance(v, bytes | bytearray) else str(v)
        for k, v in headers.items()
    }
    return propagate.extract(carrier)


def _attributes(
    *, routing_key: str, event_type: str, message_id: str, correlation_id: str, destination: str
) -> dict[str, str]:
    return {
        "tandem.service": _Checked.service,
        "messaging.system": "rabbitmq",
        "messaging.destination.name": destination,
        "messaging.rabbitmq.destination.routing_key": routing_key,
        "messaging.message.id": message_id,
        "messaging.message.conversation_id": correlation_id,
        "tandem.event_type": event_type,
        "tandem.correlation_id": correlation_id,
    }


@contextmanager
def publish_span(
    *,
    routing_key: str,
    event_type: str,
    message_id: str,
    correlation_id: str,
    destination: str,
    parent: Mapping[str, Any] | None = None,
) -> Iterator[Span]:
    """A PRODUCER span for a publish; ``parent`` headers continue a stored trace."""
    if not enabled():
        yield INVALID_SPAN
        return
    attributes = _attributes(
        routing_key=routing_key,
        event_type=event_type,
        message_id=message_id,
        correlation_id=correlation_id,
        destination=destination,
    )
    with tracer.start_as_current_span(
        f"{destination} publish",
        context=_extract(parent) if parent is not None else None,
        kind=SpanKind.PRODUCER,
        attributes={**attributes, "messaging.operation.type": "publish"},
    ) as span:
        yield span


@contextmanager
def consume_span(
    envelope: Envelope[Any], headers: Mapping[str, Any], consumer: str
) -> Iterator[Span]:
    """A CONSUMER span for handling ``envelope``, child of the context in ``headers``."""
    if not enabled():
        yield INVALID_SPAN
        return
    with tracer.start_as_current_span(
        f"{consumer} process",
        context=_extract(headers),
        kind=SpanKind.CONSUMER,
        attributes={
            **_attributes(
                routing_key=envelope.routing_key,
                event_type=envelope.event_type,
                message_id=str(envelope.event_id),
                correlation_id=envelope.correlation_id,
                destination=consumer,
            ),
            "tandem.subject": f"{envelope.subject.type}:{envelope.subject.id}",
            "messaging.operation.type": "process",
            "messaging.consumer.group.name": consumer,
        },
    ) as span:
        yield span
