"""Inbox retention on real PostgreSQL: what is purged, in which batches, and what a duplicate of
a purged event then meets."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tandem_messaging import purge_inbox
from tandem_messaging._inbox import Claim, claim

WEEK = timedelta(days=7)

# Each statement that deletes inbox rows logs how many it deleted, and in which transaction.
DELETIONS_LOGGED = """
CREATE TABLE deletions (n bigint, tx bigint, serial bigserial PRIMARY KEY);
CREATE FUNCTION log_deletions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deletions (n, tx) SELECT count(*), txid_current() FROM gone;
    RETURN NULL;
END $$;
CREATE TRIGGER log_deletions AFTER DELETE ON messaging.inbox
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION log_deletions();
"""


async def handled(pool, consumer: str, age: str) -> uuid.UUID:
    """An inbox row of ``consumer`` handled ``age`` (an interval) before now; its event id."""
    event_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO messaging.inbox (consumer, event_id, idempotency_key, event_type, handled_at)"
        " VALUES ($1, $2, $3, 'OpportunityLost', clock_timestamp() - $4::text::interval)",
        consumer,
        event_id,
        f"key-{event_id}",
        age,
    )
    return event_id


async def kept(pool) -> set[uuid.UUID]:
    return {row["event_id"] for row in await pool.fetch("SELECT event_id FROM messaging.inbox")}


async def test_rows_older_than_the_cutoff_go_in_batches_and_younger_ones_stay(pool) -> None:
    await pool.execute(DELETIONS_LOGGED)
    # Ten rows past a week, over two consumers, one only a minute past it.
    old = [await handled(pool, "q", f"{8 + day} days") for day in range(6)]
    old += [await handled(pool, "other", f"{30 + day} days") for day in range(3)]
    old.append(await handled(pool, "q", "7 days 1 minute"))
    # Rows younger than a week, one a minute short of it.
    young = {
        await handled(pool, "q", "7 days -1 minute"),
        await handled(pool, "q", "1 day"),
        await handled(pool, "other", "0 seconds"),
    }

    async with pool.acquire() as db:
        purged = await purge_inbox(db, older_than=WEEK, batch=3)

    assert purged == 10
    assert await kept(pool) == young
    # Four statements of at most three rows, the last one short, each its own transaction.
    logged = await pool.fetch("SELECT n, tx FROM deletions ORDER BY serial")
    assert [row["n"] for row in logged] == [3, 3, 3, 1]
    assert len({row["tx"] for row in logged}) == 4


async def test_a_purge_with_nothing_due_deletes_nothing(pool) -> None:
    recent = {await handled(pool, "q", "6 days"), await handled(pool, "q", "1 hour")}

    async with pool.acquire() as db:
        assert await purge_inbox(db, older_than=WEEK) == 0
        # An exact multiple of the batch: the last, empty batch ends it.
        old = [await handled(pool, "q", "9 days") for _ in range(4)]
        assert await purge_inbox(db, older_than=WEEK, batch=2) == len(old)

    assert await kept(pool) == recent


async def test_a_duplicate_of_a_purged_event_is_claimed_again_as_stale(pool, lost_event) -> None:
    purged, remembered = lost_event("opp-purged", 3), lost_event("opp-kept", 3)
    async with pool.acquire() as db:
        assert await claim(db, "q", purged) is Claim.NEW
        assert await claim(db, "q", remembered) is Claim.NEW
        # The first was handled eight days ago.
        await db.execute(
            "UPDATE messaging.inbox SET handled_at = handled_at - interval '8 days'"
            " WHERE event_id = $1",
            purged.event_id,
        )
        assert await purge_inbox(db, older_than=WEEK) == 1

        # The inbox forgot it: the same event is recorded again, not refused as a duplicate.
        # Only its subject's version, applied when it was handled, keeps it from being handled
        # (a router with accept_stale would handle it again).
        assert await claim(db, "q", purged) is Claim.STALE
        # A duplicate of a kept event is still refused as such.
        assert await claim(db, "q", remembered) is Claim.DUPLICATE

    rows = await pool.fetchval(
        "SELECT count(*) FROM messaging.inbox WHERE event_id = $1", purged.event_id
    )
    assert rows == 1


async def test_a_purge_refuses_to_run_inside_a_transaction(pool) -> None:
    old = await handled(pool, "q", "30 days")

    async with pool.acquire() as db, db.transaction():
        with pytest.raises(ValueError, match="outside a transaction"):
            await purge_inbox(db, older_than=WEEK)

    assert await kept(pool) == {old}


@pytest.mark.parametrize(
    ("older_than", "batch", "message"),
    [(timedelta(0), 10, "older_than"), (-WEEK, 10, "older_than"), (WEEK, 0, "batch")],
)
async def test_a_purge_needs_a_positive_age_and_batch(pool, older_than, batch, message) -> None:
    old = await handled(pool, "q", "30 days")

    async with pool.acquire() as db:
        with pytest.raises(ValueError, match=message):
            await purge_inbox(db, older_than=older_than, batch=batch)

    assert await kept(pool) == {old}


async def test_the_purge_has_an_index_on_the_handling_time(pool) -> None:
    definition = await pool.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'messaging' AND indexname = $1",
        "inbox_handled_at",
    )
    assert definition == (
        "CREATE INDEX inbox_handled_at ON messaging.inbox USING btree (handled_at)"
    )
