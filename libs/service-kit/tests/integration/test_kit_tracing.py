"""One trace across processes: origin → relay → consume → publish → relay → consume.

Each process sets tracing up as production does (``configure_telemetry`` from ``OTEL_*``), so
the test also proves there is one tracing mechanism: every hop has exactly one span, and each
consume span's parent is the runtime's own publish span (nothing rewrote ``traceparent``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from oteltap import OtelTapHttpProtobufReceiver, OtelTapHttpProtobufReceiverSettings

import tandem_messaging
from tandem_service_kit import apply_migrations
from tandem_testing import eventually, free_port

PROCS = Path(__file__).parent / "procs"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await apply_migrations(database_url, [tandem_messaging.MIGRATIONS])
    async with asyncpg.create_pool(database_url, min_size=1, max_size=4) as created:
        await created.execute("CREATE TABLE effects (event_id uuid, subject text, version int)")
        yield created


async def test_one_trace_spans_three_processes(
    pool: asyncpg.Pool, database_url: str, amqp_url: str
) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    telemetry = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within 0.1 s: the consumers are killed
        "OTEL_SDK_DISABLED": "false",
    }
    settings = OtelTapHttpProtobufReceiverSettings(http_port=port)
    processes = []
    async with OtelTapHttpProtobufReceiver(settings) as tap:

        async def start(role: str) -> asyncio.subprocess.Process:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(PROCS / "traced_service.py"),
                role,
                database_url,
                amqp_url,
                stdout=asyncio.subprocess.PIPE,
                env={**os.environ, **telemetry},
            )
            processes.append(process)
            return process

        spans: list[Any] = []

        async def collect() -> None:
            async for span in tap.stream_traces():
                spans.append(span)

        collector = asyncio.create_task(collect())
        try:
            # Two consuming services start; then a third process starts the workflow.
            for role in ("first", "second"):
                process = await start(role)
                assert process.stdout is not None
                async with asyncio.timeout(30):
                    assert (await process.stdout.readline()).strip() == b"ready"
            origin = await start("origin")
            async with asyncio.timeout(30):
                assert await origin.wait() == 0

            # The workflow's last step has its effect, and every process exported its spans.
            await eventually(lambda: _effect(pool), within=30, what="the second consumer's effect")
            await eventually(lambda: _all_seen(spans), within=15, what="every expected span")
        finally:
            collector.cancel()
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()

    # Every hop — across three processes and two relays — carries the root's trace id.
    [root] = [s for s in spans if s.name == "origin request"]
    hops = [s for s in spans if s.name in EXPECTED]
    assert {s.name for s in hops} == set(EXPECTED)
    # One mechanism: one span per hop (two relayed publishes, one process each consumer) and
    # no messaging span of any other instrumentation.
    assert sorted(s.name for s in hops) == sorted([*EXPECTED, "tandem.events publish"])
    messaging = [
        s for s in spans if s.kind in (ProtoSpan.SPAN_KIND_PRODUCER, ProtoSpan.SPAN_KIND_CONSUMER)
    ]
    assert sorted(s.name for s in messaging) == sorted(s.name for s in hops)
    assert {s.trace_id for s in hops} == {root.trace_id}
    # Each consume span's parent is a publish span of the previous process.
    ids = {s.span_id: s for s in spans}
    for consumer in ("t.trace.first process", "t.trace.second process"):
        [span] = [s for s in hops if s.name == consumer]
        assert ids[span.parent_span_id].name == "tandem.events publish"


EXPECTED = ("tandem.events publish", "t.trace.first process", "t.trace.second process")


def _all_seen_sync(spans: list[Any]) -> bool:
    names = {s.name for s in spans}
    return (
        "origin request" in names
        and set(EXPECTED) <= names
        and (sum(s.name == "tandem.events publish" for s in spans) >= 2)
    )


async def _all_seen(spans: list[Any]) -> bool:
    return _all_seen_sync(spans)


async def _effect(pool: asyncpg.Pool) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM effects")) == 1
