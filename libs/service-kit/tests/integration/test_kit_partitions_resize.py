"""``tandem partitions resize`` on a live group: P 3 -> 5 -> 2 while a publisher keeps
publishing keyed events; every event is handled once and each key's commits stay in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import pytest

from tandem_contracts import Envelope, Producer, SystemKind, encode
from tandem_contracts.events import OpportunityLost
from tandem_messaging import (
    MIGRATIONS,
    Consumer,
    ConsumerSettings,
    HandlerContext,
    ResizeError,
    Router,
    declare_events_exchange,
    partition_header,
)
from tandem_service_kit import apply_migrations
from tandem_service_kit._cli_ops import CliSettings
from tandem_service_kit._cli_partitions import run_partition_command
from tandem_service_kit.cli import build_parser, main
from tandem_testing import eventually

GROUP = "kit.resize"
KEYS = [f"k-{i:02d}" for i in range(30)]
TABLES = """
CREATE TABLE key_state (key text PRIMARY KEY, last_seq int NOT NULL DEFAULT 0);
CREATE TABLE handled (
    key text NOT NULL, seq int NOT NULL, prev_seq int NOT NULL, member text NOT NULL,
    event_id uuid NOT NULL, UNIQUE (key, seq)
);
"""
# Each row holds the sequence number its key had when the row's transaction locked the key:
# a row whose predecessor is not its own sequence minus one was committed out of order.
OUT_OF_ORDER = "SELECT count(*) FROM handled WHERE prev_seq >= seq"
GAPS = "SELECT count(*) FROM handled WHERE prev_seq <> seq - 1"
SETTINGS = ConsumerSettings(
    partitions=3, concurrency=4, batch_size=8, heartbeat_s=0.2, lease_ttl_s=2, shutdown_grace=5
)


def _event(key: str, seq: int) -> Envelope[OpportunityLost]:
    return Envelope.new(
        OpportunityLost(
            opportunity_id=key,
            stage="Closed Lost",
            reason="budget",
            lost_at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
        ),
        producer=Producer(service="project-sync", system=SystemKind.CRM),
        tenant_id="acme",
        legal_entity_id="le-de",
        data_residency_region="eu",
        correlation_id=f"corr-{key}",
        subject_version=seq,
    )


def _router(member: str) -> Router:
    router = Router(service="kit")

    @router.handles(OpportunityLost)
    async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        key, seq = envelope.subject.id, envelope.subject_version
        before = await ctx.connection.fetchval(
            "SELECT last_seq FROM key_state WHERE key = $1 FOR UPDATE", key
        )
        await ctx.connection.execute("UPDATE key_state SET last_seq = $2 WHERE key = $1", key, seq)
        await ctx.connection.execute(
            "INSERT INTO handled (key, seq, prev_seq, member, event_id) VALUES ($1,$2,$3,$4,$5)",
            key, seq, before, member, envelope.event_id,
        )  # fmt: skip

    return router


@contextlib.asynccontextmanager
async def _member(name: str, database_url: str, amqp_url: str) -> AsyncIterator[Consumer]:
    async with (
        asyncpg.create_pool(database_url, min_size=1, max_size=6) as pool,
        await aio_pika.connect_robust(amqp_url) as amqp,
        Consumer(
            _router(name), queue=GROUP, pool=pool, connection=amqp, settings=SETTINGS, member=name
        ) as consumer,
    ):
        yield consumer


async def _publish_steadily(amqp_url: str, stop: asyncio.Event) -> int:
    """One event per key per round, in per-key sequence, until ``stop``; answer the rounds."""
    async with await aio_pika.connect_robust(amqp_url) as amqp:
        channel = await amqp.channel(publisher_confirms=True)
        exchange = await declare_events_exchange(channel)
        rounds = 0
        while not stop.is_set():
            rounds += 1
            for key in KEYS:
                envelope = _event(key, rounds)
                await exchange.publish(
                    aio_pika.Message(
                        encode(envelope),
                        message_id=str(envelope.event_id),
                        headers=partition_header(key),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=envelope.routing_key,
                )
            await asyncio.sleep(0.05)  # paces the publisher; nothing waits on a condition here
    return rounds


async def _resize(database_url: str, amqp_url: str, management_url: str, to: int) -> int:
    argv = ["partitions", "resize", "--queue", GROUP, "--to", str(to), "--timeout", "30"]
    args = build_parser().parse_args([*argv, "--management-url", management_url])
    partitions, _ = await run_partition_command(args, database_url, amqp_url)
    return partitions


async def _queue_exists(amqp_url: str, name: str) -> bool:
    async with await aio_pika.connect(amqp_url) as amqp:
        channel = await amqp.channel()
        try:
            await channel.declare_queue(name, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return False
        return True


async def test_resizing_a_live_group_keeps_each_key_in_order(
    database_url: str, amqp_url: str, amqp_server_info: Any
) -> None:
    await apply_migrations(database_url, [MIGRATIONS])
    async with asyncpg.create_pool(database_url, min_size=1, max_size=4) as pool:
        await pool.execute(TABLES)
        await pool.executemany("INSERT INTO key_state (key) VALUES ($1)", [(k,) for k in KEYS])
        management = amqp_server_info.management_url
        async with (
            _member("m1", database_url, amqp_url) as m1,
            _member("m2", database_url, amqp_url) as m2,
        ):
            # Two members share three partitions; a publisher keeps publishing keyed events.
            await eventually(lambda: len(m1.partitions | m2.partitions) == 3, what="3 held")
            stop = asyncio.Event()
            publisher = asyncio.create_task(_publish_steadily(amqp_url, stop))
            await eventually(lambda: _at_least(pool, 150), what="intake under way")

            # Grow to five partitions mid-stream, then shrink to two.
            assert await _resize(database_url, amqp_url, management, 5) == 5
            await eventually(lambda: len(m1.partitions | m2.partitions) == 5, what="5 held")
            # The shrink goes through the command line an operator types.
            argv = ["partitions", "resize", "--queue", GROUP, "--to", "2", "--timeout", "30"]
            cli = CliSettings(database_url=database_url, amqp_url=amqp_url)
            exit_code = await asyncio.to_thread(
                main, [*argv, "--management-url", management], settings=cli
            )
            assert exit_code == 0
            await eventually(lambda: len(m1.partitions | m2.partitions) == 2, what="2 held")
            await eventually(lambda: _at_least(pool, 600), what="intake after the resizes")
            stop.set()
            rounds = await publisher

            # Every event is handled exactly once.
            published = rounds * len(KEYS)
            await eventually(lambda: _at_least(pool, published), within=30, what="all handled")
            assert await pool.fetchval("SELECT count(*) FROM handled") == published

        # Per key, each commit saw exactly its predecessor: strictly increasing, no gap.
        assert await pool.fetchval(OUT_OF_ORDER) == 0
        assert await pool.fetchval(GAPS) == 0
        inbox = "SELECT count(*) FROM messaging.inbox WHERE consumer = $1"
        assert await pool.fetchval(inbox, GROUP) == published
        # What arrived during each resize was held and handled through the catch-up lease.
        caught_up = "SELECT count(DISTINCT epoch) FROM messaging.inbox WHERE partition = -1"
        assert await pool.fetchval(caught_up) == 2
        # The group runs on two partitions; the holding queue and partitions 2..4 are gone.
        group = await pool.fetchrow(
            "SELECT partitions, phase FROM messaging.partition_groups WHERE grp = $1", GROUP
        )
        assert group is not None
        assert (group["partitions"], group["phase"]) == (2, "running")
    for name in (f"{GROUP}.resize", f"{GROUP}.p2", f"{GROUP}.p4"):
        assert not await _queue_exists(amqp_url, name), name
    assert await _queue_exists(amqp_url, f"{GROUP}.p1")


async def test_resize_refuses_an_unknown_group_and_a_second_target(
    database_url: str, amqp_url: str, amqp_server_info: Any
) -> None:
    await apply_migrations(database_url, [MIGRATIONS])
    management = amqp_server_info.management_url
    with pytest.raises(ResizeError, match="no consumer group"):
        await _resize(database_url, amqp_url, management, 4)
    async with asyncpg.create_pool(database_url, min_size=1, max_size=2) as pool:
        await pool.execute(
            "INSERT INTO messaging.partition_groups (grp, partitions, phase, target) "
            "VALUES ($1, 3, 'draining', 5)",
            GROUP,
        )
    with pytest.raises(ResizeError, match="--to 5"):
        await _resize(database_url, amqp_url, management, 4)


async def _at_least(pool: asyncpg.Pool, expected: int) -> bool:
    return int(await pool.fetchval("SELECT count(*) FROM handled")) >= expected
