"""A batch's inbox claims in one statement say exactly what claims one at a time say."""

from __future__ import annotations

from tandem_messaging._inbox import Claim, claim, claim_many


async def test_claiming_many_at_once_answers_as_claiming_each_in_turn(pool, lost_event) -> None:
    seen, older, keyed = lost_event("opp-seen", 2), lost_event("opp-old", 5), lost_event("opp-k")
    async with pool.acquire() as db:
        for earlier in (seen, older, keyed):
            assert await claim(db, "q", earlier) is Claim.NEW
    batch = [
        lost_event("opp-new", 1),
        seen,  # the same event again
        lost_event("opp-old", 4),  # older than the version applied
        lost_event("opp-k2", 1, idempotency_key=keyed.idempotency_key),  # a key handled before
        lost_event("opp-later", 7),
    ]
    async with pool.acquire() as db, db.transaction():
        claims = await claim_many(db, "q", batch)
    assert claims == [Claim.NEW, Claim.DUPLICATE, Claim.STALE, Claim.DUPLICATE, Claim.NEW]
    versions = dict(await pool.fetch("SELECT subject_id, version FROM messaging.subject_versions"))
    assert versions == {"opp-seen": 2, "opp-old": 5, "opp-k": 1, "opp-new": 1, "opp-later": 7}
    recorded = await pool.fetchval("SELECT count(*) FROM messaging.inbox WHERE consumer = 'q'")
    assert recorded == 3 + 3  # the stale one is recorded as handled, as a single claim does


async def test_a_batch_repeating_a_subject_an_id_or_a_key_answers_as_one_at_a_time(
    pool, lost_event
) -> None:
    twice = lost_event("opp-2", 1)
    batch = [
        lost_event("opp-1", 1),
        twice,
        lost_event("opp-1", 3),  # the same subject, newer: the next run sees version 1
        lost_event("opp-1", 2),  # older than 3, claimed just before it: stale
        twice,  # the same event again
        lost_event("opp-3", 1, idempotency_key=twice.idempotency_key),  # a key just handled
        lost_event("opp-4", 1),
    ]
    async with pool.acquire() as db, db.transaction():
        claims = await claim_many(db, "q", batch)
    assert claims == [Claim.NEW, Claim.NEW, Claim.NEW, Claim.STALE, Claim.DUPLICATE,
                      Claim.DUPLICATE, Claim.NEW]  # fmt: skip
    versions = dict(await pool.fetch("SELECT subject_id, version FROM messaging.subject_versions"))
    assert versions == {"opp-1": 3, "opp-2": 1, "opp-4": 1}
    # The same batch claimed one at a time, by another consumer, answers the same.
    async with pool.acquire() as db, db.transaction():
        singly = [await claim(db, "r", event) for event in batch]
    assert singly == claims
