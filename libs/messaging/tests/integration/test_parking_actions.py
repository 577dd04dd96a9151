"""Operators' parking-lot actions against real RabbitMQ and PostgreSQL: list, inspect, discard."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aio_pika

from tandem_contracts import Envelope, uuid7
from tandem_contracts.events import (
    ExpenseApproved,
    OpportunityLost,
    ProjectClosedForTime,
    TimeApproved,
    TimeSubmitted,
)
from tandem_contracts.samples import sample_envelopes
from tandem_messaging import (
    Consumer,
    DependencyMissing,
    HandlerContext,
    ParkedMessage,
    PermanentError,
    ReplaySelection,
    Router,
    discard,
    get_parked,
    list_parked,
    replay,
)

EFFECT = "INSERT INTO effects (event_id, subject, version) VALUES ($1, $2, $3)"
AUDIT = "SELECT actor, reason, action, message_ids, selection FROM messaging.replay_audit"


def sample(event_type: str) -> Envelope[Any]:
    return next(e for e in sample_envelopes() if e.event_type == event_type)


async def refuse(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
    raise PermanentError(f"{envelope.event_type.lower()}_refused", "refused for the test")


async def parked_count(pool, n: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM messaging.parked")) >= n


async def effects(pool) -> list[str]:
    return [row["subject"] for row in await pool.fetch("SELECT subject FROM effects")]


async def test_listing_filters_and_pages_by_keyset(
    pool, amqp, publish, lost_event, fast_settings, eventually
) -> None:
    router = Router(service="test")
    router.handles(TimeApproved)(refuse)

    @router.handles(OpportunityLost)
    async def lost(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        if envelope.subject.id == "opp-waits":
            raise DependencyMissing("customer:cus-9", "customer cus-9 is not synced yet")
        raise PermanentError("customer_unknown", "no ERP customer")

    async with Consumer(router, queue="t.list", pool=pool, connection=amqp, settings=fast_settings):
        # Five refused opportunities, one waiting for its customer, one refused time entry.
        await publish(amqp, *(lost_event(f"opp-{i}") for i in range(5)))
        await publish(amqp, lost_event("opp-waits"), sample("TimeApproved"))
        await eventually(lambda: parked_count(pool, 7), what="seven parked messages")

    everything = await list_parked(pool)
    assert len(everything) == 7
    assert [(m.parked_at, m.id) for m in everything] == sorted(
        (m.parked_at, m.id) for m in everything
    )

    # Filters: by event type, by reason (the old keywords still work), by what it waits for.
    [time_entry] = await list_parked(pool, event_type="TimeApproved")
    assert time_entry.reason == "timeapproved_refused"
    refused = await list_parked(pool, consumer="t.list", reason="customer_unknown", limit=100)
    assert len(refused) == 5
    assert {m.event_type for m in refused} == {"OpportunityLost"}
    [waiting] = await list_parked(pool, waiting_for="customer:cus-9")
    assert waiting.reason == "dependency_missing"
    assert await list_parked(pool, consumer="t.other") == []

    # A time window is half-open: parked_after <= parked_at < parked_before.
    middle = everything[3]
    before = await list_parked(pool, parked_before=middle.parked_at)
    since = await list_parked(pool, parked_after=middle.parked_at)
    assert [m.id for m in before + since] == [m.id for m in everything]
    later = middle.parked_at + timedelta(days=1)
    assert await list_parked(pool, parked_after=later) == []

    # Keyset pages of three: the last id of a page is the next cursor; nothing lost or repeated.
    pages: list[list[ParkedMessage]] = []
    cursor = None
    while not pages or len(pages[-1]) == 3:
        pages.append(await list_parked(pool, after=cursor, limit=3))
        cursor = pages[-1][-1].id if pages[-1] else None
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [m.id for page in pages for m in page] == [m.id for m in everything]
    # Paging combines with a filter.
    first = await list_parked(pool, reason="customer_unknown", limit=2)
    rest = await list_parked(pool, reason="customer_unknown", after=first[-1].id)
    assert [m.id for m in first + rest] == [m.id for m in refused]


async def test_inspecting_shows_headers_and_the_envelope_with_confidential_fields_redacted(
    pool, amqp, publish, fast_settings, eventually
) -> None:
    router = Router(service="test")
    for event in (TimeApproved, TimeSubmitted, ExpenseApproved):
        router.handles(event)(refuse)
    approved, submitted, expense = (
        sample(t) for t in ("TimeApproved", "TimeSubmitted", "ExpenseApproved")
    )
    garbage = b"\x00\xffnot json at all"

    async with Consumer(router, queue="t.show", pool=pool, connection=amqp, settings=fast_settings):
        await publish(amqp, approved, submitted, expense)
        channel = await amqp.channel()
        exchange = await channel.get_exchange("tandem.events")
        message = aio_pika.Message(garbage, headers={"x-origin": "psa-webhook"})
        await exchange.publish(message, routing_key=approved.routing_key)
        await eventually(lambda: parked_count(pool, 4), what="four parked messages")

    by_type = {m.event_type: m for m in await list_parked(pool)}

    # A time entry's notes are redacted; the rest of the envelope is there as it was sent.
    shown = await get_parked(pool, by_type["TimeApproved"].id)
    assert shown is not None
    assert isinstance(shown, ParkedMessage)
    assert (shown.reason, shown.consumer, shown.queue) == (
        "timeapproved_refused",
        "t.show",
        "t.show",
    )
    assert shown.envelope is not None
    assert shown.envelope["event_id"] == str(approved.event_id)
    entry = shown.envelope["payload"]["entry"]
    assert entry["notes"] == "[redacted]"
    assert entry["duration_minutes"] == approved.payload.entry.duration_minutes
    assert entry["bill_rate"] == {"amount": "185.00", "currency": "USD"}
    assert shown.decode_error is None
    assert shown.body_size == len(approved.model_dump_json().encode())

    # Notes nested in a list of entries are redacted too, and never leave in any field.
    timesheet = await get_parked(pool, by_type["TimeSubmitted"].id)
    assert timesheet is not None
    assert timesheet.envelope is not None
    assert {e["notes"] for e in timesheet.envelope["payload"]["entries"]} == {"[redacted]"}
    assert all(e.notes not in repr(timesheet) for e in submitted.payload.entries if e.notes)

    # An expense's receipt reference is confidential as well.
    receipt = await get_parked(pool, by_type["ExpenseApproved"].id)
    assert receipt is not None
    assert receipt.envelope is not None
    assert receipt.envelope["payload"]["expense"]["receipt_ref"] == "[redacted]"
    assert "receipts/2026" not in json.dumps(receipt.envelope)

    # A body that does not decode: its size and the decode error, its headers, not its bytes.
    undecodable = await get_parked(pool, by_type[None].id)
    assert undecodable is not None
    assert undecodable.envelope is None
    assert undecodable.body_size == len(garbage)
    assert undecodable.decode_error is not None
    assert undecodable.decode_error.startswith("EncodingError: ")
    assert undecodable.headers["x-origin"] == "psa-webhook"
    assert "not json" not in repr(undecodable)

    assert await get_parked(pool, uuid7()) is None


async def test_a_discarded_message_is_audited_and_never_replayed_or_released(
    pool, amqp, publish, lost_event, fast_settings, eventually
) -> None:
    router = Router(service="test")
    closed: set[str] = set()

    @router.handles(OpportunityLost)
    async def needs_project(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        key = f"project-closed:{envelope.subject.id}"
        if key not in closed:
            raise DependencyMissing(key, "its project is not closed for time yet")
        await ctx.connection.execute(
            EFFECT, envelope.event_id, envelope.subject.id, envelope.subject_version
        )

    @router.handles(ProjectClosedForTime)
    async def close(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        for project in ("prj-1", "prj-2"):  # one event meets both dependencies at once
            closed.add(f"project-closed:{project}")
            ctx.satisfy(f"project-closed:{project}")

    async with Consumer(router, queue="t.drop", pool=pool, connection=amqp, settings=fast_settings):
        # Two messages wait for their projects.
        await publish(amqp, lost_event("prj-1"), lost_event("prj-2"))
        await eventually(lambda: parked_count(pool, 2), what="two waiting messages")
        waiting = {m.waiting_for: m for m in await list_parked(pool)}
        dropped = waiting["project-closed:prj-1"]

        # An operator discards one: marked discarded, audited with who, why and which.
        selection = ReplaySelection(ids=(dropped.id,))
        result = await discard(pool, selection, actor="ops@acme", why="duplicate from the PSA")
        assert (result.discarded, result.message_ids) == (1, (dropped.id,))
        [audit] = await pool.fetch(AUDIT)
        assert (audit["actor"], audit["reason"], audit["action"]) == (
            "ops@acme",
            "duplicate from the PSA",
            "discard",
        )
        assert list(audit["message_ids"]) == [dropped.id]
        assert json.loads(audit["selection"])["ids"] == [str(dropped.id)]
        [gone] = await list_parked(pool, status="discarded")
        assert gone.id == dropped.id

        # Neither a replay nor a second discard selects it again.
        again = await replay(pool, amqp, selection, actor="ops", why="by mistake")
        assert again.replayed == 0
        assert (await discard(pool, selection, actor="ops", why="twice")).discarded == 0

        # Both dependencies are met: only the message still parked is released and handled.
        envelope = lost_event("prj-1")
        closing = ProjectClosedForTime(
            project_id="prj-1", closed_from=envelope.occurred_at.date(),
            closed_at=envelope.occurred_at,
        )  # fmt: skip
        await publish(amqp, envelope.caused(closing, producer=envelope.producer, subject_version=1))
        await eventually(lambda: _has_effect(pool, "prj-2"), what="prj-2 released and handled")

    assert await effects(pool) == ["prj-2"]
    assert (await get_parked(pool, dropped.id)).status == "discarded"  # type: ignore[union-attr]
    assert [a["action"] for a in await pool.fetch(AUDIT + " ORDER BY replayed_at")] == [
        "discard",
        "replay",
        "discard",
    ]


async def _has_effect(pool, subject: str) -> bool:
    return subject in await effects(pool)


async def test_a_discard_by_filter_takes_only_what_matches_and_a_replay_is_audited_as_one(
    pool, amqp, publish, lost_event, fast_settings, eventually
) -> None:
    router = Router(service="test")
    fixed = {"customer": False}

    @router.handles(OpportunityLost)
    async def strict(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        if envelope.subject.id.startswith("opp-spam"):
            raise PermanentError("spam", "not a real opportunity")
        if not fixed["customer"]:
            raise PermanentError("customer_unknown", "no ERP customer")
        await ctx.connection.execute(
            EFFECT, envelope.event_id, envelope.subject.id, envelope.subject_version
        )

    async with Consumer(router, queue="t.mix", pool=pool, connection=amqp, settings=fast_settings):
        await publish(amqp, lost_event("opp-spam-1"), lost_event("opp-spam-2"), lost_event("opp-1"))
        await eventually(lambda: parked_count(pool, 3), what="three parked messages")

        # Discard by consumer and reason: the two spam messages only.
        spam = ReplaySelection(consumer="t.mix", reason="spam")
        result = await discard(pool, spam, actor="ops@acme", why="spam from a test tenant")
        assert result.discarded == 2
        assert [m.id for m in await list_parked(pool, status="discarded")] == list(
            result.message_ids
        )

        # The customer is fixed; replaying everything sends back the one still parked.
        fixed["customer"] = True
        replayed = await replay(
            pool, amqp, ReplaySelection(everything=True), actor="ops@acme", why="customer synced"
        )
        assert replayed.replayed == 1
        await eventually(lambda: _has_effect(pool, "opp-1"), what="the replayed effect")

    assert await effects(pool) == ["opp-1"]
    audits = await pool.fetch(AUDIT + " ORDER BY replayed_at")
    assert [(a["action"], a["reason"]) for a in audits] == [
        ("discard", "spam from a test tenant"),
        ("replay", "customer synced"),
    ]
    assert list(audits[1]["message_ids"]) == list(replayed.message_ids)
