"""One correlation id, one trace, across the suite (issue H4), with observability's worker
SIGKILLed mid-flow.

The sandbox CRM, PSA and ERP, RabbitMQ, PostgreSQL and a real trace store (Phoenix); all five
services as real processes exporting their spans through the standard ``OTEL_*`` variables.
An opportunity won in the CRM becomes, through project-sync, a project announced by
``ProjectActivated``; staffing-sync, time-expense, billing-readiness and observability consume
it. Assertions read the trace store's REST API, observability's and project-sync's APIs and
a queue of the test's own bound to the events exchange; never a log.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

from tandem_testing import Phoenix, PhoenixSpan, eventually

from .project_sync_harness import BusRecorder, recording
from .suite_traces_harness import (
    KEY,
    SERVICES,
    activated,
    firm_set_up,
    ok,
    running_suite,
    won_opportunity,
)

ACTIVATED = "ProjectActivated"


async def test_one_correlation_id_is_one_trace_across_the_suite(
    database_url: str, amqp_url: str, phoenix: Phoenix, tmp_path: Path
) -> None:
    async with (
        recording(amqp_url) as bus,
        running_suite(database_url, amqp_url, tmp_path, phoenix) as suite,
        httpx.AsyncClient(base_url=suite.sandbox.urls["crm"], timeout=30) as crm,
        httpx.AsyncClient(base_url=suite["project-sync"].api_url, headers={"X-API-Key": KEY},
                          timeout=30) as q2c,
        httpx.AsyncClient(base_url=suite["observability"].api_url, headers={"X-API-Key": KEY},
                          timeout=30) as observability,
    ):  # fmt: skip
        # The ERP has the legal entity's company and its rate card is published; the CRM
        # tells project-sync of every change by webhook.
        await firm_set_up(suite, amqp_url)
        await suite.subscribe_crm()

        # A customer's opportunity is won in the CRM: its id correlates all that follows.
        correlation = await won_opportunity(crm)

        # observability records the flow's first steps; then its worker is SIGKILLed.
        async def recording_the_flow() -> bool:
            return bool(await _steps(observability, correlation))

        await eventually(recording_the_flow, within=20, what="observability's first step")
        suite.kill_worker("observability")

        # While it is down, finance approves the contract: project-sync makes the project in
        # the ERP and the PSA and announces it. Then observability's worker starts again.
        await activated(q2c, correlation)
        await suite.start_worker("observability")

        # The trace store: one trace in which project-sync publishes ProjectActivated and
        # every other service consumes that very message (each consume span its child).
        trace_id = await _one_trace_across_the_suite(phoenix, correlation)

        # observability's timeline holds every event of the flow exactly once (none lost to
        # the kill, none recorded twice on redelivery), ProjectActivated with the trace's id.
        await _timeline_exactly_once(observability, bus, correlation, trace_id)


async def _steps(client: httpx.AsyncClient, correlation: str) -> list[dict[str, Any]]:
    """observability's steps of the flow so far (none while it has recorded none)."""
    answer = await client.get(f"/v1/timelines/{correlation}")
    if answer.status_code == 404:
        return []
    steps: list[dict[str, Any]] = (await ok(answer))["steps"]
    return steps


async def _one_trace_across_the_suite(phoenix: Phoenix, correlation: str) -> str:
    """Wait until the trace store holds ProjectActivated's publish and every consumer's
    handling of it in one trace; answer that trace's id."""
    everyone = set(SERVICES)

    def across(spans: list[PhoenixSpan]) -> bool:
        return any(everyone <= _hop_services(hop) for hop in _activations(spans).values())

    spans = await phoenix.await_spans(
        across, within=60, what=f"{ACTIVATED} of {correlation} traced across {sorted(everyone)}",
        attributes={"tandem.correlation_id": correlation},
    )  # fmt: skip
    [(trace_id, hop)] = [(t, h) for t, h in _activations(spans).items()
                         if everyone <= _hop_services(h)]  # fmt: skip
    [publish] = [s for s in hop if _operation(s) == "publish"]
    consumers = [s for s in hop if _operation(s) == "process"]
    # project-sync published it; each other service handled that very message, once its
    # worker was done with it (observability's restarted one included).
    assert publish.service == "project-sync"
    assert f".{ACTIVATED}." in publish.attributes["messaging.rabbitmq.destination.routing_key"]
    assert Counter(s.service for s in consumers) >= Counter(everyone - {"project-sync"})
    assert {s.parent_id for s in consumers} == {publish.span_id}
    assert {s.attributes["messaging.message.id"] for s in hop} == {
        publish.attributes["messaging.message.id"]
    }
    return trace_id


def _activations(spans: list[PhoenixSpan]) -> dict[str, list[PhoenixSpan]]:
    """The flow's ProjectActivated spans (publish and consume), by trace."""
    by_trace: dict[str, list[PhoenixSpan]] = defaultdict(list)
    for span in spans:
        if span.attributes.get("tandem.event_type") == ACTIVATED:
            by_trace[span.trace_id].append(span)
    return by_trace


def _hop_services(hop: list[PhoenixSpan]) -> set[str]:
    return {span.service for span in hop if span.service is not None}


def _operation(span: PhoenixSpan) -> str | None:
    value = span.attributes.get("messaging.operation.type")
    return value if isinstance(value, str) else None


async def _timeline_exactly_once(
    client: httpx.AsyncClient, bus: BusRecorder, correlation: str, trace_id: str
) -> None:
    """Wait until observability's timeline holds every event of the flow the bus carried;
    then no event may be there twice, and ProjectActivated names the trace."""
    seen: list[dict[str, Any]] = []

    def published() -> set[str]:
        return {e for e, body in bus.distinct().items() if body["correlation_id"] == correlation}

    async def complete() -> bool:
        seen[:] = await _steps(client, correlation)
        recorded = {step["event_id"] for step in seen}
        return ACTIVATED in {s["event_type"] for s in seen} and recorded == published()

    try:
        await eventually(complete, within=30, what=f"the timeline of {correlation}", every=0.2)
    except AssertionError as exc:
        types = sorted(s["event_type"] for s in seen)
        raise AssertionError(f"{exc}; recorded {types}, published {len(published())}") from None
    duplicates = [e for e, n in Counter(s["event_id"] for s in seen).items() if n > 1]
    assert duplicates == [], f"recorded twice: {duplicates}"
    [step] = [s for s in seen if s["event_type"] == ACTIVATED]
    assert step["service"] == "project-sync"
    assert step["trace_id"] == trace_id
