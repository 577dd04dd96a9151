"""OpenTelemetry tracing configured once per process, only through the standard ``OTEL_*`` vars."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

__all__ = ["build_tracer_provider", "configure_telemetry", "shutdown_telemetry", "span_exporter"]

logger = logging.getLogger(__name__)

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


class _State:
    configured = False
    provider: TracerProvider | None = None


def span_exporter(environ: Mapping[str, str]) -> SpanExporter | None:
    """Return an OTLP/HTTP exporter when an endpoint is configured, else None."""
    if not any(environ.get(name) for name in _ENDPOINT_VARS):
        return None
    # The exporter reads the endpoint, headers, timeout and compression from OTEL_* itself.
    return OTLPSpanExporter()


def build_tracer_provider(service_name: str, environ: Mapping[str, str]) -> TracerProvider | None:
    """Return a tracer provider for ``service_name`` as ``environ`` asks, or None if disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    name = environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    exporter = span_exporter(environ)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def configure_telemetry(service_name: str) -> TracerProvider | None:
    """Install the global tracer provider and instrument asyncpg, once.

    Messaging is traced by the runtime itself (``tandem_messaging``): the trace context is
    stored with the outbox row and re-injected by the relay, which no broker-client
    instrumentation can do. aio-pika's instrumentation is therefore not installed: a second
    mechanism would double every publish and consume span and rewrite ``traceparent``.
    """
    if _State.configured:
        return _State.provider
    _State.configured = True
    provider = build_tracer_provider(service_name, os.environ)
    if provider is None:
        logger.info("OpenTelemetry disabled by OTEL_SDK_DISABLED")
        return None
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    _State.provider = provider
    return provider


def shutdown_telemetry() -> None:
    """Flush and stop the tracer provider installed by ``configure_telemetry``."""
    provider, _State.provider = _State.provider, None
    if provider is not None:
        provider.force_flush()
        provider.shutdown()
