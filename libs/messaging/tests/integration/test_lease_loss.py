"""A live member that loses a partition's lease, on the real broker and database: the deliveries
it still holds go back to the partition before the next owner gets any, so a key's later events
never overtake its earlier ones; and a busy member keeps its leases while another keeps trying
to take them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry

from tandem_contracts import Envelope, encode
from tandem_contracts.events import OpportunityLost
from tandem_messaging import Consumer, ConsumerSettings, HandlerContext, Metrics, Router
from tandem_messaging._leases import Lease, LeaseStore

TABLES = """
CREATE TABLE key_state (key text PRIMARY KEY, last_seq int NOT NULL DEFAULT 0);
CREATE TABLE handled (
    key text NOT NULL, seq int NOT NULL, prev_seq int NOT NULL, member text NOT NULL,
    serial bigserial PRIMARY KEY, UNIQUE (key, seq)
);
"""
LOCK_KEY = "SELECT last_seq FROM key_state WHERE key = $1 FOR UPDATE"
MOVE_KEY = "UPDATE key_state SET last_seq = $2 WHERE key = $1"
RECORD = "INSERT INTO handled (key, seq, prev_seq, member) VALUES ($1, $2, $3, $4)"
# Each commit of a key saw exactly its predecessor.
GAPS = "SELECT count(*) FROM handled WHERE prev_seq <> seq - 1"
EXPIRE = """
UPDATE messaging.partition_leases SET expires_at = clock_timestamp()
WHERE grp = $1 AND partition = $2
"""
FORGET = "DELETE FROM messaging.consumer_members WHERE grp = $1 AND member = $2"
LOCK_LEASE = "SELECT 1 FROM messaging.partition_leases WHERE grp = $1 AND partition = 0 FOR UPDATE"
STILL_OWNED = """
SELECT owner = $2 AND expires_at > clock_timestamp() FROM messaging.partition_leases
WHERE grp = $1 AND partition = 0
"""
LOG = """
SELECT partition, epoch, owner, how FROM messaging.partition_log WHERE grp = $1
ORDER BY partition, epoch
"""


@pytest.fixture
async def keyed(pool: asyncpg.Pool) -> asyncpg.Pool:
    await pool.execute(TABLES)
    await pool.execute("INSERT INTO key_state (key) VALUES ('opp-j'), ('opp-k')")
    return pool


async def test_a_member_that_cannot_renew_gives_its_partition_up_before_the_lease_expires(
    keyed, amqp, amqp_url, lost_event, eventually
) -> None:
    pool, queue = keyed, "t.stalled"
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    settings = {"heartbeat_s": 0.3, "lease_ttl_s": 3}
    async with _member(
        _recording("m", {}), pool, amqp_url, queue, "m", metrics, **settings
    ) as member:
        assert member.partitions == {0}
        # The lease row is locked: the member's renewals wait, and it cannot tell whether its
        # lease still runs.
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute(LOCK_LEASE, queue)
            await eventually(lambda: not member.partitions, within=3, what="partition given up")
            # It gave the partition up while the lease was still its own, before anyone else
            # could take it, and closed its channel.
            assert await connection.fetchval(STILL_OWNED, queue, "m")
            assert await _counted(amqp, f"{queue}.p0", ready=0, consumers=0)
        fenced = {"consumer": queue, "reason": "fenced"}
        assert registry.get_sample_value("tandem_partition_rebalances_total", fenced) == 1
        # Once the lease has expired, the member, alone in the group, takes the partition again
        # and handles its events in order.
        await eventually(lambda: member.partitions == {0}, within=10, what="partition again")
        await _to_partition(amqp, queue, 0, [lost_event("opp-k", seq) for seq in range(1, 4)])
        await eventually(lambda: _handled(pool, 3), what="events handled")
    assert await pool.fetchval(GAPS) == 0
    log = [(r["epoch"], r["how"]) for r in await pool.fetch(LOG, queue)]
    assert log == [(1, "lost"), (2, "released")]


def _recording(member: str, blocked: dict[str, asyncio.Event], delay: float = 0.0) -> Router:
    """A router whose handler records each event's per-key sequence number with the one found
    before it, under a row lock on the key; an event whose key is in ``blocked`` waits, in its
    transaction, until that event is set. Stale versions are handled too, so that an event
    overtaken by a later one shows as a gap rather than being skipped."""
    router = Router(service="test", accept_stale=True)

    @router.handles(OpportunityLost)
    async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        key, seq = envelope.subject.id, envelope.subject_version
        if (gate := blocked.get(key)) is not None:
            await gate.wait()
        await asyncio.sleep(delay)
        before = await ctx.connection.fetchval(LOCK_KEY, key)
        await ctx.connection.execute(MOVE_KEY, key, seq)
        await ctx.connection.execute(RECORD, key, seq, before, member)

    return router


async def _to_partition(
    amqp: Any, queue: str, partition: int, envelopes: list[Envelope[Any]]
) -> None:
    """Publish straight into partition ``partition``'s queue, in order, with confirms."""
    channel = await amqp.channel(publisher_confirms=True)
    try:
        for envelope in envelopes:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    encode(envelope),
                    message_id=str(envelope.event_id),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=f"{queue}.p{partition}",
            )
    finally:
        await channel.close()


async def _queue_counts(amqp: Any, name: str) -> tuple[int, int]:
    channel = await amqp.channel()
    try:
        declared = await channel.declare_queue(name, passive=True)
    finally:
        await channel.close()
    result = declared.declaration_result
    return result.message_count or 0, result.consumer_count or 0


async def _handled(pool: asyncpg.Pool, expected: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM handled")) == expected


@contextlib.asynccontextmanager
async def _member(
    router: Router,
    pool: asyncpg.Pool,
    amqp_url: str,
    queue: str,
    member: str,
    metrics: Metrics | None = None,
    **settings: Any,
) -> AsyncIterator[Consumer]:
    """A consumer on a broker connection of its own, as a member in another process has."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        async with Consumer(
            router,
            queue=queue,
            pool=pool,
            connection=connection,
            settings=ConsumerSettings(**settings),
            member=member,
            metrics=metrics,
        ) as consumer:
            yield consumer
    finally:
        await connection.close()


async def test_a_member_losing_its_lease_with_deliveries_in_hand_keeps_the_key_in_order(
    keyed, amqp, amqp_url, amqp_server_info, lost_event, eventually
) -> None:
    pool, queue = keyed, "t.lost"
    # "old" holds both partitions of the group: one lane, three deliveries at most per
    # partition, heartbeats far apart (the test decides when its lease ends).
    blocked = {"opp-j": asyncio.Event()}
    old_settings: dict[str, Any] = {
        "partitions": 2, "concurrency": 1, "prefetch": 3, "heartbeat_s": 30, "lease_ttl_s": 60,
    }  # fmt: skip
    async with _member(
        _recording("old", blocked), pool, amqp_url, queue, "old", **old_settings
    ) as old:
        assert old.partitions == {0, 1}
        # An event of key J on partition 1 is handled first and waits in its transaction;
        # behind it in the lane, events 1-3 of key K from partition 0; K's 4-8 wait in the queue.
        await _to_partition(amqp, queue, 1, [lost_event("opp-j", 1)])
        await _to_partition(amqp, queue, 0, [lost_event("opp-k", seq) for seq in range(1, 9)])
        await eventually(
            lambda: _counted(amqp, f"{queue}.p0", ready=5, consumers=1), what="K's 1-3 in hand"
        )

        # Partition 0's lease ends under "old" (its renewals stalled, say) and "new" takes it
        # over; "new"'s consumer waits behind "old"'s, which single-active-consumer keeps active.
        await pool.execute(EXPIRE, queue, 0)
        await pool.execute(FORGET, queue, "old")
        new_settings: dict[str, Any] = {"partitions": 2, "heartbeat_s": 0.2, "lease_ttl_s": 60}
        async with _member(
            _recording("new", {}), pool, amqp_url, queue, "new", **new_settings
        ) as new:
            await eventually(lambda: new.partitions == {0}, what="new holds partition 0")
            await eventually(
                lambda: _waiting_behind(amqp_server_info, amqp_url, f"{queue}.p0"),
                what="new's consumer waiting behind old's",
            )
            assert await _counted(amqp, f"{queue}.p0", ready=5, consumers=1)

            # J's transaction commits; "old" then finds partition 0 lost, with K's 1-3 in hand.
            blocked["opp-j"].set()
            await eventually(lambda: _handled(pool, 9), within=30, what="every event handled")

    # K's events were committed in order, each once, all by the new owner; J by the old one.
    rows = await pool.fetch("SELECT key, seq, prev_seq, member FROM handled ORDER BY serial")
    assert [(r["seq"], r["member"]) for r in rows if r["key"] == "opp-k"] == [
        (seq, "new") for seq in range(1, 9)
    ]
    assert await pool.fetchval(GAPS) == 0
    assert await pool.fetchval("SELECT count(*) FROM messaging.inbox") == 9
    log = [(r["partition"], r["epoch"], r["owner"], r["how"]) for r in await pool.fetch(LOG, queue)]
    assert (0, 1, "old", "lost") in log
    assert (0, 2, "new", "released") in log


async def test_a_busy_member_keeps_its_leases_while_another_keeps_trying_to_take_them(
    keyed, amqp, amqp_url, database_url, lost_event, eventually
) -> None:
    pool, queue = keyed, "t.busy"
    # "busy" holds partitions 0 and 1 of four; "rival", not a live member, holds 2 and 3 and
    # keeps them locked by fenced transactions, so that each of "busy"'s heartbeats finds them
    # wanted and locked. "busy"'s leases are short: three seconds.
    rival = LeaseStore(pool, queue, "rival", partitions=4, ttl=60)
    await rival.register()
    rival_leases = [taken[0] for p in (2, 3) if (taken := await rival.acquire(p)) is not None]
    assert len(rival_leases) == 2
    settings: dict[str, Any] = {
        "partitions": 4, "concurrency": 4, "batch_size": 1, "heartbeat_s": 0.3,
        "lease_ttl_s": 3,
    }  # fmt: skip
    # The handlers hold the pool: as many connections as lanes, less the keeper's own.
    async with asyncpg.create_pool(database_url, min_size=1, max_size=5) as small:
        router = _recording("busy", {}, delay=0.04)
        async with _member(router, small, amqp_url, queue, "busy", **settings) as busy:
            assert busy.partitions == {0, 1}
            stop = asyncio.Event()
            contenders = [asyncio.create_task(_keep_trying(rival, [0, 1], stop))]
            for lease in rival_leases:
                contenders.append(asyncio.create_task(_hold_locked(rival, [lease], stop)))
            try:
                # About ten seconds of transactions fenced by partitions 0 and 1.
                for partition in (0, 1):
                    keys = [f"opp-{partition}-{i}" for i in range(10)]
                    await pool.executemany(
                        "INSERT INTO key_state (key) VALUES ($1)", [(k,) for k in keys]
                    )
                    batch = [lost_event(k, seq) for seq in range(1, 41) for k in keys]
                    await _to_partition(amqp, queue, partition, batch)
                await eventually(lambda: _handled(pool, 800), within=25, what="all handled")
                assert busy.partitions == {0, 1}
            finally:
                stop.set()
                await asyncio.gather(*contenders)

    # No tenure of "busy" ended while it was busy; the rival took nothing of it.
    log = [(r["partition"], r["epoch"], r["owner"], r["how"]) for r in await pool.fetch(LOG, queue)]
    assert [row for row in log if row[2] == "busy"] == [
        (0, 1, "busy", "released"),
        (1, 1, "busy", "released"),
    ]
    assert await pool.fetchval(GAPS) == 0


async def _hold_locked(store: LeaseStore, leases: list[Lease], stop: asyncio.Event) -> None:
    """Keep ``leases`` locked ``FOR KEY SHARE`` by one fenced transaction after another, each
    longer than a takeover would wait, as a member with long batches does (the leases outlive
    the test: no renewal needed)."""
    while not stop.is_set():
        async with store.pool.acquire() as connection, connection.transaction():
            await store.fence(connection, leases)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 5.0)


async def _keep_trying(store: LeaseStore, partitions: list[int], stop: asyncio.Event) -> None:
    """Try to take ``partitions`` over again and again; fail if one is ever taken."""
    while not stop.is_set():
        for partition in partitions:
            assert await store.acquire(partition) is None, f"partition {partition} taken over"
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


async def _counted(amqp: Any, name: str, *, ready: int, consumers: int) -> bool:
    return await _queue_counts(amqp, name) == (ready, consumers)


async def _waiting_behind(server: Any, amqp_url: str, queue: str) -> bool:
    """True when ``queue`` has one active consumer and one waiting (the management API lists
    those single-active-consumer keeps waiting, which a passive declare does not count)."""
    vhost = httpx.URL(amqp_url).path.lstrip("/")
    async with httpx.AsyncClient(base_url=server.management_url, timeout=10) as api:
        listed = await api.get(f"/api/consumers/{vhost}")
    listed.raise_for_status()
    return sorted(c["active"] for c in listed.json() if c["queue"]["name"] == queue) == [
        False,
        True,
    ]
