"""``tandem partitions status`` against a live consumer group on PostgreSQL and RabbitMQ."""

import asyncio
import json
from typing import Any

import aio_pika
import asyncpg
import pytest

from tandem_contracts import Envelope
from tandem_contracts.events import OpportunityLost
from tandem_messaging import MIGRATIONS, Consumer, ConsumerSettings, HandlerContext, Router
from tandem_service_kit import apply_migrations
from tandem_service_kit.cli import EXIT_NOTHING, EXIT_OK, CliSettings, main

QUEUE = "kit.partitions"


async def test_partitions_status_shows_members_owners_epochs_and_depths(
    database_url: str, amqp_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await apply_migrations(database_url, [MIGRATIONS])
    settings = CliSettings(database_url=database_url, amqp_url=amqp_url)
    router = Router(service="kit")

    @router.handles(OpportunityLost)
    async def ignore(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        return None

    # An unknown group: exit 1.
    unknown = ["partitions", "status", "--queue", QUEUE]
    missing = await asyncio.to_thread(main, unknown, settings=settings)
    assert missing == EXIT_NOTHING
    capsys.readouterr()

    # One member holding the group's three partitions.
    async with (
        asyncpg.create_pool(database_url, min_size=1, max_size=4) as pool,
        await aio_pika.connect_robust(amqp_url) as amqp,
        Consumer(
            router, queue=QUEUE, pool=pool, connection=amqp,
            settings=ConsumerSettings(partitions=3), member="member-a",
        ),
    ):  # fmt: skip
        argv = ["partitions", "status", "--queue", QUEUE, "--json"]
        shown = await asyncio.to_thread(main, argv, settings=settings)
        assert shown == EXIT_OK
        status = json.loads(capsys.readouterr().out)
        assert [m["member"] for m in status["members"]] == ["member-a"]
        assert [
            (p["partition"], p["owner"], p["epoch"], p["depth"], p["consumers"])
            for p in status["partitions"]
        ] == [(0, "member-a", 1, 0, 1), (1, "member-a", 1, 0, 1), (2, "member-a", 1, 0, 1)]
        assert all(0 < p["expires_in_s"] <= 5 for p in status["partitions"])
        held = {(t["partition"], t["owner"], t["epoch"], t["how"]) for t in status["recent"]}
        assert held == {
            (0, "member-a", 1, None),
            (1, "member-a", 1, None),
            (2, "member-a", 1, None),
        }

        text = await asyncio.to_thread(main, argv[:-1], settings=settings)
        assert text == EXIT_OK
        printed = capsys.readouterr().out
        assert "member-a" in printed
        assert "recent tenures (rebalances)" in printed

    # After a graceful stop the leases are free and the member has left.
    await asyncio.to_thread(main, argv, settings=settings)
    status = json.loads(capsys.readouterr().out)
    assert status["members"] == []
    assert {(p["owner"], p["consumers"]) for p in status["partitions"]} == {(None, 0)}
    # The rebalances: each tenure ended, handed back after its drain.
    assert {(t["partition"], t["how"]) for t in status["recent"]} == {
        (0, "released"),
        (1, "released"),
        (2, "released"),
    }
