"""``tandem inbound set-aside list|replay`` against a real PostgreSQL."""

import asyncio
import getpass
import json
import socket
from collections.abc import AsyncIterator

import asyncpg
import pytest

import tandem_connectors
from tandem_connectors.landing import Landing
from tandem_service_kit import apply_migrations
from tandem_service_kit.cli import EXIT_NOTHING, EXIT_OK, EXIT_USAGE, CliSettings, main

SOURCE = ["--system", "psa", "--instance", "psa-main"]
AUDIT = (
    "SELECT actor, claimed_actor, reason, requested, replayed FROM connectors.inbound_replay_audit"
)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The connectors' schema, with three records of psa/psa-main set aside."""
    await apply_migrations(database_url, [tandem_connectors.MIGRATIONS])
    async with asyncpg.create_pool(database_url, min_size=1, max_size=2) as created:
        async with created.acquire() as db:
            landing = Landing(db)
            for n in (1, 2, 3):
                record = {"id": f"te-{n}", "version": 1}
                await landing.land("psa", "psa-main", "time_entry", record, "poll")
            pending = await landing.pending("psa", "psa-main", 10)
            await landing.set_aside({row.sequence: f"no project for {row.record_id}"
                                     for row in pending})  # fmt: skip
        yield created


async def tandem(
    database_url: str, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str]:
    settings = CliSettings(database_url=database_url)
    code = await asyncio.to_thread(main, list(argv), settings=settings)
    return code, capsys.readouterr().out


async def test_list_shows_the_set_aside_records_with_why(
    pool: asyncpg.Pool, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = await tandem(database_url, capsys, "inbound", "set-aside", "list", *SOURCE,
                             "--json")  # fmt: skip
    text_code, text = await tandem(database_url, capsys, "inbound", "set-aside", "list", *SOURCE)

    assert code == text_code == EXIT_OK
    rows = json.loads(out)
    assert [(r["record_id"], r["reason"], r["replayable"]) for r in rows] == [
        ("te-1", "no project for te-1", True),
        ("te-2", "no project for te-2", True),
        ("te-3", "no project for te-3", True),
    ]
    assert text.splitlines()[0].split() == [
        "SEQUENCE", "RECORD_TYPE", "RECORD_ID", "VERSION", "VIA", "LANDED_AT", "REPLAYABLE",
    ]  # fmt: skip
    assert "    no project for te-2" in text.splitlines()


async def test_replay_is_audited_as_unauthenticated_with_the_claimed_actor_apart(
    pool: asyncpg.Pool, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, listed = await tandem(database_url, capsys, "inbound", "set-aside", "list", *SOURCE,
                             "--json")  # fmt: skip
    chosen = json.loads(listed)[1]["sequence"]

    code, out = await tandem(
        database_url, capsys, "inbound", "set-aside", "replay", *SOURCE, "--id", str(chosen),
        "--actor", "sre.bob", "--why", "project p-9 activated", "--json",
    )  # fmt: skip

    assert code == EXIT_OK
    answer = json.loads(out)
    os_actor = f"cli:unauthenticated:{getpass.getuser()}@{socket.gethostname()}"
    assert (answer["replayed"], answer["ids"]) == (1, [chosen])
    assert (answer["actor"], answer["claimed_actor"]) == (os_actor, "sre.bob")
    [audit] = await pool.fetch(AUDIT)
    assert tuple(audit) == (os_actor, "sre.bob", "project p-9 activated", [chosen], [chosen])
    _, left = await tandem(database_url, capsys, "inbound", "set-aside", "list", *SOURCE,
                           "--json")  # fmt: skip
    assert [r["record_id"] for r in json.loads(left)] == ["te-1", "te-3"]


async def test_replay_all_then_again_finds_nothing(
    pool: asyncpg.Pool, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "inbound",
        "set-aside",
        "replay",
        *SOURCE,
        "--all",
        "--actor",
        "sre.bob",
        "--why",
        "fixed",
    ]

    first, out = await tandem(database_url, capsys, *argv)
    second, _ = await tandem(database_url, capsys, *argv)
    listed, _ = await tandem(database_url, capsys, "inbound", "set-aside", "list", *SOURCE)

    assert (first, second, listed) == (EXIT_OK, EXIT_NOTHING, EXIT_NOTHING)
    assert out.splitlines()[0].endswith(": 3 record(s) made pending")
    audits = await pool.fetch(AUDIT)
    assert [(row["requested"], len(row["replayed"])) for row in audits] == [(None, 3), (None, 0)]


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", *SOURCE, "--all", "--id", "1", "--actor", "a", "--why", "w"],
        ["replay", *SOURCE, "--all", "--why", "w"],
        ["replay", *SOURCE, "--all", "--actor", "a", "--why", "  "],
        ["replay", *SOURCE, "--id", "0", "--actor", "a", "--why", "w"],
        ["replay", "--system", "psa", "--all", "--actor", "a", "--why", "w"],
        ["list", *SOURCE, "--limit", "501"],
    ],
    ids=["id-and-all", "no-actor", "blank-why", "sequence-0", "no-instance", "limit-too-high"],
)
async def test_usage_errors_change_nothing(
    pool: asyncpg.Pool, database_url: str, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _ = await tandem(database_url, capsys, "inbound", "set-aside", *argv)

    assert code == EXIT_USAGE
    assert await pool.fetch(AUDIT) == []
    assert (
        await pool.fetchval("SELECT count(*) FROM connectors.inbound WHERE status = 'rejected'")
        == 3
    )
