"""The ``tandem`` CLI against the real messaging runtime, PostgreSQL and RabbitMQ."""

import asyncio
import json

import pytest

from tandem_service_kit import apply_migrations
from tandem_service_kit.cli import EXIT_NOTHING, CliSettings, main

messaging = pytest.importorskip("tandem_messaging")


async def test_an_empty_parking_lot_lists_and_replays_nothing(
    database_url: str, amqp_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The runtime's schema is in place, as `python -m <service> migrate` leaves it.
    await apply_migrations(database_url, [messaging.MIGRATIONS])
    settings = CliSettings(database_url=database_url, amqp_url=amqp_url)

    # Listing finds nothing parked: exit 1, and an empty JSON array for scripts.
    listed = await asyncio.to_thread(main, ["parked", "list", "--json"], settings=settings)
    assert listed == EXIT_NOTHING
    assert json.loads(capsys.readouterr().out) == []

    # Replaying everything matches nothing: exit 1, with the (empty) replay reported.
    argv = ["replay", "--actor", "sre.bob", "--why", "smoke test", "--all", "--json"]
    replayed = await asyncio.to_thread(main, argv, settings=settings)
    assert replayed == EXIT_NOTHING
    assert json.loads(capsys.readouterr().out)["replayed"] == 0
