"""Telemetry follows only the standard OTEL_* variables."""

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased

from tandem_service_kit._telemetry import NoOrphanQueries, build_tracer_provider, span_exporter


def test_the_sdk_can_be_disabled() -> None:
    assert build_tracer_provider("time-expense", {"OTEL_SDK_DISABLED": "true"}) is None


def test_the_service_name_is_the_resource_name_unless_otel_overrides_it() -> None:
    default = build_tracer_provider("time-expense", {})
    overridden = build_tracer_provider("time-expense", {"OTEL_SERVICE_NAME": "te-canary"})

    assert default is not None
    assert overridden is not None
    assert default.resource.attributes[SERVICE_NAME] == "time-expense"
    assert overridden.resource.attributes[SERVICE_NAME] == "te-canary"


def test_spans_are_exported_only_when_an_endpoint_is_configured() -> None:
    assert span_exporter({}) is None
    generic = span_exporter({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    traces = span_exporter({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})

    assert isinstance(generic, OTLPSpanExporter)
    assert isinstance(traces, OTLPSpanExporter)


def test_the_chart_s_resource_attributes_and_sampler_reach_the_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As the Helm chart sets them: the downward API's pod, namespace and node, and a sampler.
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES",
        "k8s.pod.name=time-expense-worker-7d9f,k8s.namespace.name=tandem,k8s.node.name=n1",
    )
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")

    provider = build_tracer_provider("time-expense", {"OTEL_SERVICE_NAME": "time-expense"})

    assert provider is not None
    attributes = provider.resource.attributes
    assert attributes["k8s.pod.name"] == "time-expense-worker-7d9f"
    assert attributes["k8s.namespace.name"] == "tandem"
    assert attributes["k8s.node.name"] == "n1"
    assert attributes[SERVICE_NAME] == "time-expense"
    sampler = provider.sampler
    assert isinstance(sampler, NoOrphanQueries)
    assert isinstance(sampler.inner, ParentBased)
    description = sampler.get_description()
    assert "TraceIdRatioBased{0.25}" in description


def test_a_query_outside_any_trace_is_not_a_trace_of_its_own() -> None:
    provider = build_tracer_provider("time-expense", {})
    assert provider is not None
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    query = {"db.system": "postgresql", "db.statement": "SELECT 1"}
    with tracer.start_as_current_span("SELECT", attributes=query):
        pass  # a pool's reset: no parent
    with tracer.start_as_current_span("consume TimeApproved"):
        with tracer.start_as_current_span("INSERT", attributes=query):
            pass  # a handler's query: part of its trace
    with tracer.start_as_current_span("poll", attributes={"messaging.system": "rabbitmq"}):
        pass  # a root span that is no query
    names = sorted(span.name for span in exporter.get_finished_spans())
    assert names == ["INSERT", "consume TimeApproved", "poll"]
