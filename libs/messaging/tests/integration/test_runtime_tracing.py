"""One trace across processes: origin → relay → consume → publish → relay → consume."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from typing import Any

from oteltap import OtelTapHttpProtobufReceiver, OtelTapHttpProtobufReceiverSettings

PROCS = Path(__file__).parent / "procs"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_one_trace_spans_three_processes(pool, database_url, amqp_url, eventually) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/v1/traces"
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
                endpoint,
                stdout=asyncio.subprocess.PIPE,
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


async def _effect(pool) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM effects")) == 1
