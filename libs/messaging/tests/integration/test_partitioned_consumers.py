"""Partitioned consumption on the real broker and database: members share a group's partitions
by lease, and each key's events are handled exactly once, in order, through a member killed,
one joining and one leaving; without partitions, two competing consumers break that order."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest

from tandem_contracts import Envelope, decode, encode
from tandem_contracts.events import OpportunityLost
from tandem_messaging import (
    Consumer,
    HandlerContext,
    Router,
    binding_for,
    declare_events_exchange,
    partition_header,
)

PROCS = Path(__file__).parent / "procs"
GROUP = "t.parts"
PARTITIONS = 6
KEYS = [f"k-{i:02d}" for i in range(60)]
ROUNDS = 50  # one event per key per round: 3,000 events
TABLES = """
CREATE TABLE key_state (key text PRIMARY KEY, last_seq int NOT NULL DEFAULT 0);
CREATE TABLE handled (
    key text NOT NULL, seq int NOT NULL, prev_seq int NOT NULL, member text NOT NULL,
    event_id uuid NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (key, seq)
);
"""
# The ordering check: each row holds the sequence number its key had when the row's transaction
# locked the key, so a row whose predecessor is not its own sequence minus one was committed out
# of order (or after a gap).
OUT_OF_ORDER = "SELECT count(*) FROM handled WHERE prev_seq >= seq"
GAPS = "SELECT count(*) FROM handled WHERE prev_seq <> seq - 1"


@pytest.fixture
async def keyed(pool: asyncpg.Pool) -> asyncpg.Pool:
    await pool.execute(TABLES)
    await pool.executemany("INSERT INTO key_state (key) VALUES ($1)", [(k,) for k in KEYS])
    return pool


@dataclass
class Members:
    """Member processes of the group ``GROUP``, by name (their member ids)."""

    database_url: str
    amqp_url: str
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)

    async def start(self, name: str) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(PROCS / "partitioned_member.py"),
            self.database_url,
            self.amqp_url,
            GROUP,
            name,
            str(PARTITIONS),
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        async with asyncio.timeout(30):
            assert (await process.stdout.readline()).strip() == b"ready"
        self.processes[name] = process

    async def kill(self, name: str) -> None:
        """SIGKILL: no drain, no lease released, no goodbye."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        async with asyncio.timeout(10):
            await process.wait()

    async def stop(self, name: str) -> int:
        """SIGTERM: drain, release the leases, leave the group."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            return await process.wait()

    async def close(self) -> None:
        for name in list(self.processes):
            await self.kill(name)


@pytest.fixture
async def members(database_url: str, amqp_url: str) -> AsyncIterator[Members]:
    started = Members(database_url, amqp_url)
    try:
        yield started
    finally:
        await started.close()


async def test_members_keep_each_key_in_order_through_a_kill_a_join_and_a_leave(
    keyed, amqp, members, lost_event, eventually
) -> None:
    pool = keyed
    # Three members share six partitions: two each.
    for name in ("m1", "m2", "m3"):
        await members.start(name)
    await eventually(
        lambda: _owners_are(pool, {"m1": 2, "m2": 2, "m3": 2}), what="two partitions each"
    )

    # 3,000 events over 60 keys in per-key sequence, paced over about ten seconds; meanwhile
    # m2 is killed, m4 joins and m3 leaves gracefully.
    channel = await amqp.channel(publisher_confirms=True)
    exchange = await declare_events_exchange(channel)
    killed: tuple[Any, list[tuple[int, int]]] | None = None
    leaving: asyncio.Task[int] | None = None
    for seq in range(1, ROUNDS + 1):
        for key in KEYS:
            await _publish(exchange, lost_event(key, seq), partition_header(key))
        if seq == 10:
            held = await _held_by(pool, "m2")
            killed = (await pool.fetchval("SELECT clock_timestamp()"), held)
            await members.kill("m2")
        elif seq == 25:
            await members.start("m4")
        elif seq == 35:
            leaving = asyncio.create_task(members.stop("m3"))
        await asyncio.sleep(0.2)  # paces the publisher; nothing waits on a condition here
    await channel.close()
    assert leaving is not None
    assert await leaving == 0

    # Every event is handled exactly once, and the survivors share the partitions.
    await eventually(lambda: _count(pool, "SELECT count(*) FROM handled", 3000), within=90)
    await eventually(lambda: _owners_are(pool, {"m1": 3, "m4": 3}), what="m1 and m4, 3 each")
    assert await pool.fetchval("SELECT count(*) FROM messaging.inbox") == 3000

    # Per key, each commit saw exactly its predecessor: strictly increasing, no gap.
    assert await pool.fetchval(OUT_OF_ORDER) == 0
    assert await pool.fetchval(GAPS) == 0
    # Each key was handled on one partition only.
    assert await pool.fetchval(KEYS_ON_SEVERAL_PARTITIONS) == 0

    # The lease history: one owner at a time per partition; the tenures the killed member held
    # expired (those it handed over before, at start-up, were released), the leaving one's
    # were all released.
    log = await pool.fetch(LOG, GROUP)
    for partition in range(PARTITIONS):
        tenures = [row for row in log if row["partition"] == partition]
        for before, after in pairwise(tenures):
            assert before["released_at"] is not None
            assert before["released_at"] <= after["acquired_at"], (partition, before, after)
    assert killed is not None
    killed_at, dead_leases = killed
    ended = {(row["partition"], row["epoch"]): row["how"] for row in log if row["owner"] == "m2"}
    assert ended == {**dict.fromkeys(ended, "released"), **dict.fromkeys(dead_leases, "expired")}
    assert {row["how"] for row in log if row["owner"] == "m3"} == {"released"}

    # Each partition's effects were committed under one tenure at a time, in epoch order,
    # within the tenure's interval.
    tenure = {(row["partition"], row["epoch"]): row for row in log}
    handled = await pool.fetch(INBOX_ORDER)
    for partition in range(PARTITIONS):
        epochs = [row["epoch"] for row in handled if row["partition"] == partition]
        assert epochs == sorted(epochs), partition
    for row in handled:
        held = tenure[(row["partition"], row["epoch"])]
        assert held["acquired_at"] <= row["handled_at"]
        assert held["released_at"] is None or row["handled_at"] <= held["released_at"]

    # The rebalance pause: from the kill until each of the dead member's partitions handled
    # again under a new owner.
    resumed = [
        await pool.fetchval(FIRST_AFTER, partition, epoch) for partition, epoch in dead_leases
    ]
    pause = (max(resumed) - killed_at).total_seconds()
    print(f"rebalance pause after a SIGKILL: {pause:.2f} s")  # noqa: T201 - the measurement
    assert pause < 15


async def test_two_competing_consumers_without_partitions_break_per_key_order(
    keyed, amqp_url, lost_event, eventually
) -> None:
    pool = keyed
    keys = KEYS[:10]
    # One plain queue; two consumers, each handling up to 16 deliveries at once, with the same
    # handler and jitter as the partitioned members.
    connections = [await aio_pika.connect_robust(amqp_url) for _ in range(2)]
    tasks: set[asyncio.Task[None]] = set()
    try:
        first = await connections[0].channel()
        exchange = await declare_events_exchange(first)
        queue = await first.declare_queue("t.plain", durable=True)
        await queue.bind(exchange, routing_key=binding_for(OpportunityLost))
        # 600 events over 10 keys, in per-key sequence, queued before either consumes.
        for seq in range(1, 61):
            for key in keys:
                await _publish(exchange, lost_event(key, seq), {})
        for connection in connections:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=16)
            plain = await channel.declare_queue("t.plain", durable=True)
            await plain.consume(_competing(pool, tasks))
        await eventually(lambda: _count(pool, "SELECT count(*) FROM handled", 600), within=60)

        # The same check that holds for partitioned members fails here.
        assert await pool.fetchval(OUT_OF_ORDER) > 0
    finally:
        for connection in connections:
            await connection.close()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_messages_without_a_partition_key_land_on_one_partition_and_are_handled(
    pool, amqp, lost_event, fast_settings, eventually
) -> None:
    router = Router(service="test")

    @router.handles(OpportunityLost)
    async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        await ctx.connection.execute(
            "INSERT INTO effects (event_id, subject) VALUES ($1, $2)",
            envelope.event_id,
            envelope.subject.id,
        )

    settings = dataclasses.replace(fast_settings, partitions=4)
    async with Consumer(
        router, queue="t.unkeyed", pool=pool, connection=amqp, settings=settings
    ) as consumer:
        assert consumer.partitions == {0, 1, 2, 3}
        channel = await amqp.channel(publisher_confirms=True)
        exchange = await declare_events_exchange(channel)
        # 20 events of distinct subjects with no partition key, then 40 with one.
        for i in range(20):
            await _publish(exchange, lost_event(f"bare-{i}"), {})
        for i in range(40):
            await _publish(exchange, lost_event(f"keyed-{i}"), partition_header(f"keyed-{i}"))
        await channel.close()
        await eventually(lambda: _count(pool, "SELECT count(*) FROM effects", 60))

    # None is dropped, and all the unkeyed ones share one partition; keyed ones spread.
    bare = await pool.fetch(PARTITIONS_OF, "t.unkeyed", "bare-%")
    keyed = await pool.fetch(PARTITIONS_OF, "t.unkeyed", "keyed-%")
    assert len(bare) == 1
    assert len(keyed) > 1


async def test_a_member_whose_lease_was_taken_over_commits_nothing(
    pool, amqp, publish, lost_event, fast_settings, eventually
) -> None:
    router = Router(service="test")

    @router.handles(OpportunityLost)
    async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        await ctx.connection.execute(
            "INSERT INTO effects (event_id) VALUES ($1)", envelope.event_id
        )

    # Heartbeats far apart: the takeover happens before the victim's next one could notice.
    settings = dataclasses.replace(fast_settings, heartbeat_s=30, lease_ttl_s=60)
    async with Consumer(
        router, queue="t.fenced", pool=pool, connection=amqp, settings=settings, member="victim"
    ) as consumer:
        assert consumer.partitions == {0}
        # Another member takes the lease over, as after an expiry the victim did not see.
        await pool.execute(STEAL, "t.fenced", "thief")
        await publish(amqp, lost_event("opp-fenced"))

        # The victim's transaction finds the lease gone: it commits nothing, stops consuming
        # the partition and gives the message back to it.
        await eventually(lambda: not consumer.partitions, what="the partition stopped")
        await eventually(
            lambda: _queue_is(amqp, "t.fenced.p0", ready=1, consumers=0),
            what="the message back in its queue",
        )
        assert consumer.running  # a member with no partition is a healthy standby
    assert await pool.fetchval("SELECT count(*) FROM effects") == 0
    assert await pool.fetchval("SELECT count(*) FROM messaging.inbox") == 0
    log = await pool.fetch(LOG, "t.fenced")
    assert [(row["owner"], row["how"]) for row in log] == [("victim", "lost")]


LOG = """
SELECT partition, epoch, owner, acquired_at, released_at, how FROM messaging.partition_log
WHERE grp = $1 ORDER BY partition, epoch
"""
INBOX_ORDER = f"""
SELECT partition, epoch, handled_at FROM messaging.inbox WHERE consumer = '{GROUP}'
ORDER BY partition, handled_at
"""  # noqa: S608 - a constant
FIRST_AFTER = f"""
SELECT min(handled_at) FROM messaging.inbox
WHERE consumer = '{GROUP}' AND partition = $1 AND epoch > $2
"""  # noqa: S608 - a constant
KEYS_ON_SEVERAL_PARTITIONS = """
SELECT count(*) FROM (
    SELECT h.key FROM handled h JOIN messaging.inbox i ON i.event_id = h.event_id
    GROUP BY h.key HAVING count(DISTINCT i.partition) > 1
) AS spread
"""
PARTITIONS_OF = """
SELECT DISTINCT i.partition FROM messaging.inbox i JOIN effects e ON e.event_id = i.event_id
WHERE i.consumer = $1 AND e.subject LIKE $2
"""
STEAL = """
UPDATE messaging.partition_leases SET owner = $2, epoch = epoch + 1
WHERE grp = $1 AND partition = 0
"""
OWNERS = """
SELECT owner, count(*) AS held FROM messaging.partition_leases
WHERE grp = $1 AND owner IS NOT NULL AND expires_at > clock_timestamp() GROUP BY owner
"""


async def _owners_are(pool: asyncpg.Pool, expected: dict[str, int]) -> bool:
    rows = await pool.fetch(OWNERS, GROUP)
    return {row["owner"]: row["held"] for row in rows} == expected


async def _held_by(pool: asyncpg.Pool, member: str) -> list[tuple[int, int]]:
    rows = await pool.fetch(
        "SELECT partition, epoch FROM messaging.partition_leases WHERE grp = $1 AND owner = $2",
        GROUP,
        member,
    )
    return [(row["partition"], row["epoch"]) for row in rows]


async def _count(pool: asyncpg.Pool, sql: str, expected: int) -> bool:
    return int(await pool.fetchval(sql)) == expected


async def _queue_is(amqp: Any, name: str, *, ready: int, consumers: int) -> bool:
    channel = await amqp.channel()
    try:
        declared = await channel.declare_queue(name, passive=True)
    finally:
        await channel.close()
    result = declared.declaration_result
    return (result.message_count, result.consumer_count) == (ready, consumers)


async def _publish(exchange: Any, envelope: Envelope[Any], headers: dict[str, str]) -> None:
    await exchange.publish(
        aio_pika.Message(
            encode(envelope),
            message_id=str(envelope.event_id),
            headers=dict(headers),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key=envelope.routing_key,
    )


def _competing(pool: asyncpg.Pool, tasks: set[asyncio.Task[None]]) -> Callable[..., Any]:
    """A plain consumer callback: each delivery handled in a task of its own, then acked."""

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        envelope = decode(message.body)
        key, seq = envelope.subject.id, envelope.subject_version
        async with pool.acquire() as connection, connection.transaction():
            await asyncio.sleep(random.uniform(0, 0.002))  # the members' jitter
            before = await connection.fetchval(
                "SELECT last_seq FROM key_state WHERE key = $1 FOR UPDATE", key
            )
            await connection.execute("UPDATE key_state SET last_seq = $2 WHERE key = $1", key, seq)
            await connection.execute(
                "INSERT INTO handled (key, seq, prev_seq, member, event_id) "
                "VALUES ($1, $2, $3, 'plain', $4)",
                key, seq, before, envelope.event_id,
            )  # fmt: skip
        await message.ack()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        task = asyncio.create_task(handle(message))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return on_message
