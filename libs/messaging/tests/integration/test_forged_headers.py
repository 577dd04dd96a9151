"""Forged headers against real RabbitMQ and PostgreSQL: every message ends handled or parked,
none cycles through the retry and dead-letter queues, and the consumer keeps running."""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika

from tandem_contracts import Envelope, encode
from tandem_contracts.events import OpportunityLost
from tandem_messaging import (
    Consumer,
    HandlerContext,
    Router,
    TransientError,
    get_parked,
    list_parked,
)

ATTEMPT = "x-tandem-attempt"
FIRST_FAILURE = "x-tandem-first-failure-at"
ROUTING_KEY = "x-tandem-routing-key"
LAST_ERROR = "x-tandem-last-error"

# Header sets a publisher could forge. 10**30 cannot be encoded in AMQP: 2**63 - 1 is the
# largest integer a header can carry (and overflows the parking lot's integer column).
FORGED: dict[str, dict[str, Any]] = {
    "attempt-text": {ATTEMPT: "abc"},
    "attempt-negative": {ATTEMPT: -5},
    "attempt-huge": {ATTEMPT: 2**63 - 1},
    "attempt-bool": {ATTEMPT: True},
    "attempt-bytes": {ATTEMPT: bytearray(b"bytes")},
    "attempt-table": {ATTEMPT: {"n": 2}},
    "first-failure-garbage": {FIRST_FAILURE: "garbage"},
    "first-failure-impossible": {FIRST_FAILURE: "9999-99-99"},
    "first-failure-naive": {FIRST_FAILURE: "2026-01-01T00:00:00"},
    "first-failure-overflow": {FIRST_FAILURE: "0001-01-01T00:00:00+01:00"},
    "routing-key-100kb": {ROUTING_KEY: "k" * 100_000},
    "last-error-nul": {LAST_ERROR: "boom\x00boom"},
    "nested-table": {"x-forged": {"a": {"b": [1, "two", bytearray(b"\x00\xff")]}}},
    "unstorable-text": {"x-note": "a\x00b", "x\x00key": 1, "x-bytes": bytearray(b"\xff\x00")},
}
WITHIN = 90.0  # the whole test; each message alone settles in about two seconds


async def test_forged_headers_end_handled_or_parked_and_never_stop_the_consumer(
    pool, amqp, publish, lost_event, fast_settings, eventually, count
) -> None:
    async with asyncio.timeout(WITHIN):
        await _forged_headers_story(pool, amqp, publish, lost_event, fast_settings, eventually)


async def _forged_headers_story(pool, amqp, publish, lost_event, settings, eventually) -> None:
    # Two consumers of the same events: one handler always fails (so the retry path reads
    # and rewrites the headers), the other succeeds.
    failing, succeeding = Router(service="test"), Router(service="test")

    @failing.handles(OpportunityLost)
    async def fail(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        raise TransientError("the ERP is down")

    @succeeding.handles(OpportunityLost)
    async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        await ctx.connection.execute(
            "INSERT INTO effects (event_id, subject, version) VALUES ($1, $2, $3)",
            envelope.event_id,
            envelope.subject.id,
            envelope.subject_version,
        )

    fails = Consumer(failing, queue="t.forged.fails", pool=pool, connection=amqp, settings=settings)
    handles = Consumer(
        succeeding, queue="t.forged.ok", pool=pool, connection=amqp, settings=settings
    )
    async with fails, handles:
        # Every forged header set, on a valid event and on an undecodable body.
        events = {name: lost_event(f"opp-{name}") for name in FORGED}
        for name, headers in FORGED.items():
            for body in (encode(events[name]), b"\x00\xffgarbage"):
                await _publish_raw(amqp, events[name].routing_key, body, headers)

        # The succeeding consumer handles each valid event once and parks each bad body.
        await eventually(
            lambda: _effects(pool, len(FORGED)), within=WITHIN, what="an effect per event"
        )
        await eventually(
            lambda: _parked(pool, "t.forged.ok", len(FORGED)), within=WITHIN, what="bad bodies"
        )
        # The failing consumer retries each a bounded number of times, then parks it.
        await eventually(
            lambda: _parked(pool, "t.forged.fails", 2 * len(FORGED)),
            within=WITHIN,
            what="every message of the failing consumer parked",
        )

        # Nothing is left cycling through the retry or dead-letter queues.
        for queue in _side_queues(fails, settings):
            await eventually(lambda q=queue: _empty(amqp, q), within=WITHIN, what=f"{queue} empty")
        assert fails.running
        assert handles.running

        # A body escaping a NUL is parked as unsafe text; a valid message after it is handled.
        unsafe = encode(lost_event("opp-nul")).replace(b'"budget"', b'"bud\\u0000get"')
        await _publish_raw(amqp, events["nested-table"].routing_key, unsafe, {})
        await publish(amqp, lost_event("opp-after"))
        await eventually(
            lambda: _effects(pool, len(FORGED) + 1), within=WITHIN, what="the later event"
        )
        await eventually(
            lambda: _parked(pool, "t.forged.fails", 2 * len(FORGED) + 2),
            within=WITHIN,
            what="the later messages parked by the failing consumer",
        )

    parked_ok = await list_parked(pool, consumer="t.forged.ok")
    assert sorted(p.reason for p in parked_ok) == ["bad_encoding"] * len(FORGED) + ["unsafe_text"]
    parked = await list_parked(pool, consumer="t.forged.fails", limit=1000)
    by_event = {p.event_id: p for p in parked if p.event_id is not None}
    for name, event in events.items():
        assert by_event[event.event_id].reason == "retries_exhausted", name
        assert 1 <= by_event[event.event_id].attempts <= settings.max_attempts, name
    assert sum(p.reason == "bad_encoding" for p in parked) == len(FORGED)
    # Only the handler's own failures, each parked once: no forged message parked twice.
    assert len(parked) == 2 * len(FORGED) + 2  # + the unsafe body and the later event
    for p in parked:
        assert p.first_failure_at <= p.last_failure_at
        assert len(p.routing_key) <= 255

    # What the parking lot kept of unstorable headers is cleaned, not lost or fatal.
    unstorable = by_event[events["unstorable-text"].event_id]
    detail = await get_parked(pool, unstorable.id)
    assert detail is not None
    assert detail.headers["x-note"] == "a\ufffdb"
    assert detail.headers["x-bytes"] == "\ufffd\ufffd"
    assert "x\x00key" not in detail.headers
    assert detail.headers[LAST_ERROR] == "TransientError: the ERP is down"
    assert detail.routing_key == events["unstorable-text"].routing_key


async def _publish_raw(amqp, routing_key: str, body: bytes, headers: dict[str, Any]) -> None:
    channel = await amqp.channel(publisher_confirms=True)
    try:
        exchange = await channel.get_exchange("tandem.events")
        await exchange.publish(aio_pika.Message(body, headers=headers), routing_key=routing_key)
    finally:
        await channel.close()


def _side_queues(consumer: Consumer, settings: Any) -> list[str]:
    levels = range(len(settings.retry_delays))
    return [consumer.topology.retry_queue(level) for level in levels] + [
        consumer.topology.dead_letter_queue,
        consumer.topology.partition_queue(0),
    ]


async def _effects(pool, n: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM effects")) == n


async def _parked(pool, consumer: str, n: int) -> bool:
    found = await pool.fetchval(
        "SELECT count(*) FROM messaging.parked WHERE consumer = $1", consumer
    )
    return int(found) == n


async def _empty(amqp, queue: str) -> bool:
    channel = await amqp.channel()
    try:
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0) == 0
    finally:
        await channel.close()
