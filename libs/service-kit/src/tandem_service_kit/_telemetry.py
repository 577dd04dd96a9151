"""OpenTelemetry tracing configured once per process, only through the standard ``OTEL_*`` vars."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

__all__ = [
    "NoOrphanQueries",
    "build_tracer_provider",
    "configure_telemetry",
    "shutdown_telemetry",
    "span_exporter",
]

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


class NoOrphanQueries(Sampler):
    """Drop a database query's span that has no parent; sample the rest as ``inner`` does.

    A query inside a handler or a request is part of its trace. One outside any (a pool's
    reset, a poll, a lease heartbeat) would be a trace of one span, many a second per process:
    they buried the traces worth reading and filled the trace store (9,000 of 9,300 spans of a
    small local month).
    """

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """DROP a parentless span with a ``db.system`` attribute; else ask ``inner``."""
        orphan = not get_current_span(parent_context).get_span_context().is_valid
        if orphan and attributes and ("db.system" in attributes or "db.system.name" in attributes):
            return SamplingResult(Decision.DROP)
        return self.inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        """``NoOrphanQueries{<inner>}``."""
        return f"NoOrphanQueries{{{self.inner.get_description()}}}"


def build_tracer_provider(service_name: str, environ: Mapping[str, str]) -> TracerProvider | None:
    """Return a tracer provider for ``service_name`` as ``environ`` asks, or None if disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    name = environ.get("OTEL_SERVICE_NAME") or service_name
    resource = Resource.create({SERVICE_NAME: name})
    # The sampler OTEL_TRACES_SAMPLER names (the SDK reads it), orphan queries left out.
    configured = TracerProvider(resource=resource, shutdown_on_exit=False).sampler
    provider = TracerProvider(resource=resource, sampler=NoOrphanQueries(configured))
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
