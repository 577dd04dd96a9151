"""The landing table and the ingestion pass against a real PostgreSQL (outbox included).

The service here is a fake: ``EntryIngestion`` orders time entries by worker, waits while an
entry's project is not active, and rejects entries it cannot map.
"""

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

import tandem_connectors
import tandem_messaging
from tandem_connectors import SystemUnavailable
from tandem_connectors.inbound import (
    Feed,
    RecordRejected,
    RecordWaits,
    poll_feeds,
    publish_landed,
)
from tandem_connectors.landing import MAX_RECORD_BYTES, Landed, Landing, Via
from tandem_connectors.polling import Change, Position
from tandem_connectors.set_aside import list_set_aside, replay_set_aside
from tandem_contracts import Envelope
from tandem_contracts.samples import sample_envelopes
from tandem_messaging import DbConnection, Outbox
from tandem_service_kit import apply_migrations

PSA, SOURCE, ENTRY = "psa", "kantata-acme", "time_entry"
OUTBOX = Outbox()
TEMPLATE = next(e for e in sample_envelopes() if e.event_type == "TimeApproved")
ZERO = timedelta(0)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The messaging runtime's schema (the outbox) and the connectors' on one database."""
    await apply_migrations(
        database_url, [tandem_messaging.MIGRATIONS, tandem_connectors.MIGRATIONS]
    )
    async with asyncpg.create_pool(database_url, min_size=1, max_size=4) as created:
        yield created


def entry(record_id: str, version: int = 1, **fields: Any) -> dict[str, Any]:
    """A PSA time entry record: worker w-1 on the active project p-1 unless told otherwise."""
    return {"id": record_id, "version": version, "worker": "w-1", "project": "p-1",
            "minutes": 60, **fields}  # fmt: skip


def compact_size(record: dict[str, Any]) -> int:
    return len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode())


def named(record_id: str, version: int) -> str:
    return f"{record_id}-v{version}"


@dataclass
class World:
    """What the fake service knows, and what its ingestion translated (in order)."""

    active: set[str] = field(default_factory=lambda: {"p-1"})
    unknown_roles: set[str] = field(default_factory=set)
    psa_down: bool = False
    translated: list[str] = field(default_factory=list)


class EntryIngestion:
    """One pass of the fake service (``Ingestion``)."""

    def __init__(self, world: World) -> None:
        self.world = world

    def order_key(self, landed: Landed) -> str:
        return str(landed.record["worker"])

    def acts_on(self, landed: Landed) -> bool:
        return landed.record.get("status") != "draft"

    async def translate(self, landed: Landed) -> Sequence[Envelope[Any]]:
        record, world = landed.record, self.world
        world.translated.append(named(landed.record_id, landed.version))
        if record.get("asks_psa") and world.psa_down:
            raise SystemUnavailable("psa:kantata-acme", "the PSA is down")
        if not self.acts_on(landed):
            return []
        if record.get("role") in world.unknown_roles:
            raise RecordRejected(f"role {record['role']} is unknown")
        if record["project"] not in world.active:
            raise RecordWaits(f"project {record['project']} is not active")
        minutes = int(record["minutes"])  # a KeyError when the PSA sent none: set aside
        return [announce(landed)] if minutes else []


def announce(landed: Landed) -> Envelope[Any]:
    """An event for the record version, its correlation id naming the version."""
    return Envelope.new(
        TEMPLATE.payload,
        producer=TEMPLATE.producer,
        tenant_id="acme",
        legal_entity_id="le-us",
        data_residency_region="us",
        correlation_id=named(landed.record_id, landed.version),
        subject_version=landed.version,
        idempotency_key=f"{landed.instance}:{landed.record_id}:{landed.version}",
    )


async def ingest(pool: asyncpg.Pool, world: World, instance: str = SOURCE) -> int:
    """One ingestion pass over a source, with the fake service."""

    def make(db: DbConnection) -> EntryIngestion:
        return EntryIngestion(world)

    return await publish_landed(pool, PSA, instance, make, OUTBOX)


async def land(
    pool: asyncpg.Pool, *records: dict[str, Any], via: Via = "webhook", instance: str = SOURCE
) -> None:
    async with pool.acquire() as db:
        for record in records:
            await Landing(db).land(PSA, instance, ENTRY, record, via)


async def published(pool: asyncpg.Pool) -> list[str]:
    """The record versions announced in the outbox, in outbox order."""
    rows = await pool.fetch("SELECT correlation_id FROM messaging.outbox ORDER BY id")
    return [row[0] for row in rows]


async def statuses(pool: asyncpg.Pool) -> dict[str, tuple[str, str | None]]:
    """Each landed version's status and detail."""
    rows = await pool.fetch(
        "SELECT record_id, version, status, detail FROM connectors.inbound ORDER BY sequence"
    )
    return {named(r["record_id"], r["version"]): (r["status"], r["detail"]) for r in rows}


async def test_a_record_landed_by_webhook_then_by_poll_is_kept_once(pool) -> None:
    async with pool.acquire() as db:
        landing = Landing(db)
        assert await landing.land(PSA, SOURCE, ENTRY, entry("te-1"), "webhook")
        assert not await landing.land(PSA, SOURCE, ENTRY, entry("te-1"), "poll")
        await landing.land_many(PSA, SOURCE, ENTRY, [entry("te-1"), entry("te-1", 2)], "poll")
        # The same id and version from another instance is another record.
        assert await landing.land(PSA, "kantata-emea", ENTRY, entry("te-1"), "poll")
        rows = await db.fetch(
            "SELECT instance, record_id, version, via, status, payload->>'worker' AS worker"
            " FROM connectors.inbound ORDER BY sequence"
        )
    assert [tuple(row) for row in rows] == [
        (SOURCE, "te-1", 1, "webhook", "pending", "w-1"),
        (SOURCE, "te-1", 2, "poll", "pending", "w-1"),
        ("kantata-emea", "te-1", 1, "poll", "pending", "w-1"),
    ]


async def test_landed_records_become_events_in_landing_order(pool) -> None:
    world = World()
    await land(
        pool,
        entry("te-1"),
        entry("te-2", worker="w-2"),
        entry("te-1", 2, minutes=90),
        entry("te-3", worker="w-2", status="draft"),
        entry("te-4", worker="w-3"),
    )
    assert await ingest(pool, world) == 5
    assert await published(pool) == ["te-1-v1", "te-2-v1", "te-1-v2", "te-4-v1"]
    assert world.translated == ["te-1-v1", "te-2-v1", "te-1-v2", "te-3-v1", "te-4-v1"]
    assert (await statuses(pool))["te-3-v1"] == ("ignored", "not a version this service acts on")
    # Settled rows are not read again.
    assert await ingest(pool, world) == 0
    assert len(await published(pool)) == 4


async def test_a_waiting_key_holds_its_later_records_while_other_keys_flow(pool) -> None:
    world = World()
    await land(
        pool,
        entry("te-1", project="p-9"),  # p-9 is not active yet: w-1 waits
        entry("te-2", worker="w-2"),
        entry("te-3"),  # behind te-1: waits with it
        entry("te-4", status="draft"),  # behind te-1, but nothing to wait for
        entry("te-5", worker="w-2"),
    )
    assert await ingest(pool, world) == 2
    assert await published(pool) == ["te-2-v1", "te-5-v1"]
    assert world.translated == ["te-1-v1", "te-2-v1", "te-5-v1"]  # te-3 kept behind te-1
    why = "project p-9 is not active"
    assert await statuses(pool) == {
        "te-1-v1": ("pending", why),
        "te-2-v1": ("published", None),
        "te-3-v1": ("pending", why),
        "te-4-v1": ("pending", None),
        "te-5-v1": ("published", None),
    }
    async with pool.acquire() as db:
        assert await Landing(db).waiting(PSA, ENTRY) == {"te-1", "te-3"}
    # The project is activated: w-1's records flow, in their order.
    world.active.add("p-9")
    assert await ingest(pool, world) == 3
    assert await published(pool) == ["te-2-v1", "te-5-v1", "te-1-v1", "te-3-v1"]
    assert (await statuses(pool))["te-4-v1"][0] == "ignored"
    async with pool.acquire() as db:
        assert await Landing(db).waiting(PSA, ENTRY) == set()


async def test_unmappable_records_are_set_aside_and_replayed_after_a_fix(pool) -> None:
    world = World(unknown_roles={"role-architect"})
    no_minutes = {k: v for k, v in entry("te-1").items() if k != "minutes"}
    await land(pool, no_minutes, entry("te-2", role="role-architect"), entry("te-3"))
    await land(pool, entry("te-9", role="role-architect"), instance="kantata-emea")
    assert await ingest(pool, world) == 3
    assert await ingest(pool, world, "kantata-emea") == 1
    # Set aside with why; the records behind them (same worker) flowed.
    assert await published(pool) == ["te-3-v1"]
    assert await statuses(pool) == {
        "te-1-v1": ("rejected", "KeyError: 'minutes'"),
        "te-2-v1": ("rejected", "RecordRejected: role role-architect is unknown"),
        "te-3-v1": ("published", None),
        "te-9-v1": ("rejected", "RecordRejected: role role-architect is unknown"),
    }
    sequences = {
        row["record_id"]: row["sequence"]
        for row in await pool.fetch("SELECT record_id, sequence FROM connectors.inbound")
    }
    # The role is set up: te-2 alone is replayed and becomes its event.
    world.unknown_roles.clear()
    async with pool.acquire() as db:
        assert await Landing(db).replay_rejected(PSA, SOURCE, [sequences["te-2"]]) == [
            sequences["te-2"]
        ]
    assert (await statuses(pool))["te-2-v1"] == ("pending", None)
    assert await ingest(pool, world) == 1
    assert await published(pool) == ["te-3-v1", "te-2-v1"]
    # Replaying a whole source takes only its own rejected rows; te-1 is still broken.
    async with pool.acquire() as db:
        assert await Landing(db).replay_rejected(PSA, SOURCE) == [sequences["te-1"]]
    assert await ingest(pool, world) == 1
    after = await statuses(pool)
    assert after["te-1-v1"] == ("rejected", "KeyError: 'minutes'")
    assert after["te-9-v1"][0] == "rejected"


async def test_a_record_without_its_order_key_is_set_aside_not_a_stuck_source(pool) -> None:
    world = World()
    broken = {"id": "te-2", "version": 1, "project": "p-1", "minutes": 30}  # no worker
    await land(pool, entry("te-1"), broken, entry("te-3"))
    assert await ingest(pool, world) == 3
    assert await published(pool) == ["te-1-v1", "te-3-v1"]
    assert (await statuses(pool))["te-2-v1"] == ("rejected", "KeyError: 'worker'")


async def test_an_unavailable_system_rolls_the_whole_pass_back(pool) -> None:
    world = World(unknown_roles={"role-architect"}, psa_down=True)
    await land(
        pool,
        entry("te-1"),
        entry("te-2", worker="w-2", project="p-9"),
        entry("te-3", worker="w-3", role="role-architect"),
        entry("te-4", worker="w-4", asks_psa=True),
    )
    with pytest.raises(SystemUnavailable):
        await ingest(pool, world)
    assert world.translated == ["te-1-v1", "te-2-v1", "te-3-v1", "te-4-v1"]
    # Nothing of the pass committed: no event, no row settled, set aside or noted.
    assert await published(pool) == []
    assert set((await statuses(pool)).values()) == {("pending", None)}
    # The PSA is back: the next pass starts over and settles what it can.
    world.psa_down = False
    assert await ingest(pool, world) == 3
    assert await published(pool) == ["te-1-v1", "te-4-v1"]
    assert {k: v[0] for k, v in (await statuses(pool)).items()} == {
        "te-1-v1": "published",
        "te-2-v1": "pending",
        "te-3-v1": "rejected",
        "te-4-v1": "published",
    }


class HeldIngestion(EntryIngestion):
    """An ingestion that stops at its first record until ``go`` is set."""

    def __init__(self, world: World, entered: asyncio.Event, go: asyncio.Event) -> None:
        super().__init__(world)
        self.entered, self.go = entered, go

    async def translate(self, landed: Landed) -> Sequence[Envelope[Any]]:
        self.entered.set()
        await self.go.wait()
        return await super().translate(landed)


async def test_of_two_concurrent_passes_over_one_source_one_does_the_work(pool) -> None:
    world = World()
    await land(pool, entry("te-1"), entry("te-2", worker="w-2"))
    await land(pool, entry("te-9"), instance="kantata-emea")
    entered, go = asyncio.Event(), asyncio.Event()

    def held(db: DbConnection) -> EntryIngestion:
        return HeldIngestion(world, entered, go)

    first = asyncio.create_task(publish_landed(pool, PSA, SOURCE, held, OUTBOX))
    await asyncio.wait_for(entered.wait(), timeout=10)
    # A second replica's pass finds the source taken: it reads and settles nothing.
    assert await ingest(pool, world) == 0
    # Another source is not held up by it.
    assert await ingest(pool, world, "kantata-emea") == 1
    go.set()
    assert await asyncio.wait_for(first, timeout=10) == 2
    assert await published(pool) == ["te-9-v1", "te-1-v1", "te-2-v1"]
    assert world.translated == ["te-9-v1", "te-1-v1", "te-2-v1"]


async def test_a_turn_is_held_until_its_transaction_ends(pool) -> None:
    async with pool.acquire() as first, pool.acquire() as second:
        async with first.transaction():
            assert await Landing(first).take_turn(PSA, SOURCE)
            async with second.transaction():
                assert not await Landing(second).take_turn(PSA, SOURCE)
                assert await Landing(second).take_turn(PSA, "kantata-emea")
                assert await Landing(second).take_turn("erp", SOURCE)
        async with second.transaction():
            assert await Landing(second).take_turn(PSA, SOURCE)


async def test_earlier_published_versions_and_waiting_records(pool) -> None:
    world = World()
    await land(pool, entry("te-1"), entry("te-1", 2, status="draft"), entry("te-1", 3))
    assert await ingest(pool, world) == 3
    await land(pool, entry("te-1", 4, project="p-9"), entry("te-1", 5))
    await land(pool, entry("te-1", 2, minutes=30), instance="kantata-emea")
    assert await ingest(pool, world) == 0
    async with pool.acquire() as db:
        landing = Landing(db)
        # Published versions only (v2 was ignored), oldest first, before the version asked.
        assert await landing.earlier_published(PSA, SOURCE, ENTRY, "te-1", 5) == [
            entry("te-1"),
            entry("te-1", 3),
        ]
        assert await landing.earlier_published(PSA, SOURCE, ENTRY, "te-1", 3) == [entry("te-1")]
        assert await landing.earlier_published(PSA, SOURCE, ENTRY, "te-1", 1) == []
        assert await landing.earlier_published(PSA, "kantata-emea", ENTRY, "te-1", 5) == []
        assert await landing.earlier_published(PSA, SOURCE, "expense", "te-1", 5) == []
        assert await landing.waiting(PSA, ENTRY) == {"te-1"}
        assert await landing.waiting(PSA, "expense") == set()
        assert await landing.waiting("erp", ENTRY) == set()


class Source:
    """A change feed in memory, read in keyset order (``ChangeSource``)."""

    def __init__(self, changes: list[Change]) -> None:
        self.records = changes

    async def changes(
        self, after: Position | None, until: datetime, limit: int
    ) -> Sequence[Change]:
        ordered = sorted(self.records, key=lambda c: c.position)
        fresh = [c for c in ordered if after is None or c.position > after]
        return [c for c in fresh if c.changed_at <= until][:limit]


def change(at: datetime, record: dict[str, Any]) -> Change:
    return Change(at, str(record["id"]), record)


async def test_poll_feeds_lands_every_page_and_resumes_from_the_watermark(pool) -> None:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    # 450 entries, three changed at each instant: pages end inside a shared instant.
    entries = Source([change(t0 + timedelta(seconds=i // 3), entry(f"te-{i:03d}"))
                      for i in range(450)])  # fmt: skip
    expenses = Source([change(t0, entry("exp-1"))])
    feeds = [(Feed("time-entries", ENTRY), entries), (Feed("expenses", "expense"), expenses)]
    assert await poll_feeds(pool, PSA, SOURCE, feeds, timedelta(0)) == 451
    # Later: a new version, a new record, and a record the feed shows again unchanged.
    later = t0 + timedelta(minutes=30)
    entries.records += [
        change(later, entry("te-000", 2)),
        change(later, entry("te-450")),
        change(later, entry("te-001")),
    ]
    assert await poll_feeds(pool, PSA, SOURCE, feeds, timedelta(0)) == 3
    assert await poll_feeds(pool, PSA, SOURCE, feeds, timedelta(0)) == 0
    rows = await pool.fetch(
        "SELECT record_type, count(*) AS n, count(DISTINCT (record_id, version)) AS versions,"
        " bool_and(via = 'poll') AS polled FROM connectors.inbound GROUP BY record_type"
        " ORDER BY record_type"
    )
    assert [tuple(row) for row in rows] == [("expense", 1, 1, True), (ENTRY, 452, 452, True)]
    marks = await pool.fetch(
        "SELECT feed, record_key FROM connectors.watermarks WHERE system = $1 AND instance = $2"
        " ORDER BY feed",
        PSA,
        SOURCE,
    )
    assert [tuple(row) for row in marks] == [("expenses", "exp-1"), ("time-entries", "te-450")]
    # The polled records are ingested like any other, in landing order.
    world = World()
    assert await ingest(pool, world) == 453
    assert world.translated[:2] == ["te-000-v1", "te-001-v1"]
    assert world.translated[-2:] == ["te-000-v2", "te-450-v1"]


async def test_a_polled_record_that_cannot_be_stored_is_set_aside_and_the_feed_moves_on(
    pool,
) -> None:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    records = [
        entry("te-1"),
        entry("te-2", note="nul \x00 inside"),
        entry("te-3", note="x" * MAX_RECORD_BYTES),
        entry("te-4", version=2**70),
        {**entry("te-5"), "id": "t" * 10_240},
        entry("te-6", minutes=2**64),
        entry("te-7"),
    ]
    feed = Source([change(t0 + timedelta(seconds=i), r) for i, r in enumerate(records)])

    # The poll reads every change and does not fail; the watermark passes the bad ones.
    assert await poll_feeds(pool, PSA, SOURCE, [(Feed("time-entries", ENTRY), feed)], ZERO) == 7
    assert await poll_feeds(pool, PSA, SOURCE, [(Feed("time-entries", ENTRY), feed)], ZERO) == 0
    mark = await pool.fetchval("SELECT record_key FROM connectors.watermarks")
    assert mark == "te-7"

    # The records that can be stored flow; the others are set aside with why, without payload.
    assert await ingest(pool, World()) == 2
    assert await published(pool) == ["te-1-v1", "te-7-v1"]
    async with pool.acquire() as db:
        kept = await list_set_aside(db, PSA, SOURCE)
    digest = "sha256:" + hashlib.sha256(b"t" * 10_240).hexdigest()[:32]
    assert [(s.record_id, s.version, s.via, s.replayable) for s in kept] == [
        ("te-2", 1, "poll", False),
        ("te-3", 1, "poll", False),
        ("te-4", 0, "poll", False),
        (digest, 1, "poll", False),
        ("te-6", 1, "poll", False),
    ]
    assert [s.reason for s in kept] == [
        "refused at landing: $.note holds a NUL character (U+0000) at offset 4",
        f"refused at landing: it takes {compact_size(records[2])} bytes as JSON, over 262144",
        "refused at landing: its 'version' must be an integer from 0 to 2**63 - 1",
        "refused at landing: its 'id' must be text of 1 to 128 characters, or an integer",
        "refused at landing: $.minutes is an integer beyond 64 bits",
    ]
    assert (
        await pool.fetchval("SELECT count(*) FROM connectors.inbound WHERE payload <> 'null'") == 2
    )
    # Nothing to replay: no payload was kept. The system must send a version that can be stored.
    async with pool.acquire() as db:
        replay = await replay_set_aside(db, PSA, SOURCE, None, actor="ops", why="try again")
    assert replay.sequences == ()


async def test_land_keeps_a_record_that_cannot_be_stored_once_and_answers_not_new(pool) -> None:
    big = entry("te-1", note="x" * MAX_RECORD_BYTES)
    async with pool.acquire() as db:
        landing = Landing(db)
        assert not await landing.land(PSA, SOURCE, ENTRY, big, "reconcile")
        assert not await landing.land(PSA, SOURCE, ENTRY, big, "reconcile")
        # A version that can be stored is another row, and lands.
        assert await landing.land(PSA, SOURCE, ENTRY, entry("te-1", 2), "reconcile")
    assert await statuses(pool) == {
        "te-1-v1": ("rejected", f"refused at landing: it takes {compact_size(big)} bytes as"
                                " JSON, over 262144"),
        "te-1-v2": ("pending", None),
    }  # fmt: skip


async def test_set_aside_records_are_listed_by_page_and_replayed_with_an_audit_row(pool) -> None:
    world = World(unknown_roles={"role-architect"})
    await land(pool, *(entry(f"te-{i}", worker=f"w-{i}", role="role-architect") for i in range(4)))
    await land(pool, entry("te-9", role="role-architect"), instance="kantata-emea")
    assert await ingest(pool, world) == 4
    assert await ingest(pool, world, "kantata-emea") == 1
    async with pool.acquire() as db:
        first = await list_set_aside(db, PSA, SOURCE, limit=3)
        rest = await list_set_aside(db, PSA, SOURCE, after=first[-1].sequence, limit=3)
    assert [s.record_id for s in first] == ["te-0", "te-1", "te-2"]
    assert [s.record_id for s in rest] == ["te-3"]
    assert first[0].reason == "RecordRejected: role role-architect is unknown"
    assert first[0].replayable
    assert first[0].set_aside_at is not None
    assert first[0].set_aside_at >= first[0].landed_at

    # The role is set up: two records are replayed by sequence (one unknown), then the rest.
    world.unknown_roles.clear()
    chosen = [first[1].sequence, first[2].sequence]
    async with pool.acquire() as db:
        some = await replay_set_aside(
            db, PSA, SOURCE, [*chosen, 999_999], actor="api-key:abc", why="role set up"
        )
    assert some.sequences == tuple(chosen)
    assert await ingest(pool, world) == 2
    async with pool.acquire() as db:
        rest_of_it = await replay_set_aside(
            db, PSA, SOURCE, None, actor="cli:unauthenticated:ops@host", why="all of it",
            claimed_actor="sre.bob",
        )  # fmt: skip
    assert rest_of_it.sequences == (first[0].sequence, rest[0].sequence)
    assert await ingest(pool, world) == 2
    assert await published(pool) == ["te-1-v1", "te-2-v1", "te-0-v1", "te-3-v1"]
    audit = await pool.fetch(
        "SELECT id, system, instance, actor, claimed_actor, reason, requested, replayed"
        " FROM connectors.inbound_replay_audit ORDER BY id"
    )
    assert [tuple(row)[1:] for row in audit] == [
        (PSA, SOURCE, "api-key:abc", None, "role set up", [*chosen, 999_999], chosen),
        (PSA, SOURCE, "cli:unauthenticated:ops@host", "sre.bob", "all of it", None,
         [first[0].sequence, rest[0].sequence]),
    ]  # fmt: skip
    assert [row["id"] for row in audit] == [some.audit_id, rest_of_it.audit_id]
    # Another instance's set-aside record was not touched.
    async with pool.acquire() as db:
        assert [s.record_id for s in await list_set_aside(db, PSA, "kantata-emea")] == ["te-9"]
