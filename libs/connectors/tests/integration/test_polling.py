"""Polling with a watermark: no loss, no duplicates, through crashes, restarts and late commits."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from tandem_connectors.polling import Change, Poller, Position

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RECORD = "INSERT INTO read_back (record_key) VALUES ($1)"  # unique: a duplicate would fail


class Feed:
    """A source whose records share timestamps, read in keyset order."""

    def __init__(self, changes: list[Change]) -> None:
        self.records = changes

    async def changes(
        self, after: Position | None, until: datetime, limit: int
    ) -> Sequence[Change]:
        ordered = sorted(self.records, key=lambda c: c.position)
        fresh = [c for c in ordered if (after is None or c.position > after)]
        return [c for c in fresh if c.changed_at <= until][:limit]


class Crash(Exception):
    pass


@pytest.fixture
async def read_back(pool):
    await pool.execute("CREATE TABLE read_back (record_key text PRIMARY KEY)")
    return pool


def poller(pool, feed: Feed, now: datetime) -> Poller:
    return Poller(
        pool,
        feed,
        "psa",
        "kantata-acme",
        "time_entries",
        page_size=37,
        lag=timedelta(seconds=30),
        clock=lambda: now,
    )


async def test_a_feed_is_read_once_through_a_crash_and_a_restart(read_back) -> None:
    # 500 changes, five at each instant: page boundaries fall inside a shared timestamp.
    feed = Feed([Change(T0 + timedelta(seconds=i // 5), f"te-{i:04d}") for i in range(500)])
    now = T0 + timedelta(hours=1)
    pages = 0

    async def crash_on_the_fifth_page(db, page) -> None:
        nonlocal pages
        pages += 1
        for change in page:
            await db.execute(RECORD, change.record_key)
        if pages == 5:
            raise Crash  # mid-page: the page's effects and its watermark roll back together

    first = poller(read_back, feed, now)
    with pytest.raises(Crash):
        await first.catch_up(crash_on_the_fifth_page)
    assert await read_back.fetchval("SELECT count(*) FROM read_back") == 4 * 37

    # A new poller (a restarted process) resumes from the saved watermark.
    async def record(db, page) -> None:
        for change in page:
            await db.execute(RECORD, change.record_key)

    assert await poller(read_back, feed, now).catch_up(record) == 500 - 4 * 37
    keys = [r["record_key"] for r in await read_back.fetch("SELECT record_key FROM read_back")]
    assert sorted(keys) == [f"te-{i:04d}" for i in range(500)]


async def test_a_late_commit_within_the_lag_is_still_read(read_back) -> None:
    feed = Feed([Change(T0, "te-1"), Change(T0 + timedelta(seconds=50), "te-3")])
    seen: list[str] = []

    async def record(db, page) -> None:
        seen.extend(change.record_key for change in page)

    # At T0+60 s the lag (30 s) holds back te-3, changed 10 s ago.
    assert await poller(read_back, feed, T0 + timedelta(seconds=60)).catch_up(record) == 1
    # A transaction commits late, stamped before te-3: the watermark has not passed it.
    feed.records.append(Change(T0 + timedelta(seconds=45), "te-2"))
    await poller(read_back, feed, T0 + timedelta(seconds=120)).catch_up(record)
    assert seen == ["te-1", "te-2", "te-3"]


async def test_a_record_key_postgresql_cannot_hold_neither_sticks_nor_skips_the_feed(
    read_back,
) -> None:
    # Three changes at one instant, the middle one's key holding a NUL and a lone surrogate.
    hostile = "te-2\x00\ud800"
    feed = Feed([Change(T0, "te-1"), Change(T0, hostile), Change(T0, "te-3")])
    seen: list[str] = []

    async def record(db, page) -> None:
        seen.extend(change.record_key for change in page)

    reader = poller(read_back, feed, T0 + timedelta(hours=1))
    reader.page_size = 2  # the page ends on the hostile key: its position is the watermark
    assert await reader.catch_up(record) == 3
    assert seen == ["te-1", hostile, "te-3"]
    stored = await read_back.fetchrow("SELECT record_key, key_is_json FROM connectors.watermarks")
    assert (stored["record_key"], stored["key_is_json"]) == ("te-3", False)
    # A restart at the hostile position reads on from exactly there.
    await read_back.execute("UPDATE connectors.watermarks SET record_key = $1, key_is_json = true",
                            '"te-2\\u0000\\ud800"')  # fmt: skip
    feed.records.append(Change(T0, "te-4"))
    again: list[str] = []

    async def record_again(db, page) -> None:
        again.extend(change.record_key for change in page)

    assert await reader.catch_up(record_again) == 2
    assert again == ["te-3", "te-4"]
