"""The inbox: a handled event leaves a row, committed with the handler's effects."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

from tandem_contracts import Envelope
from tandem_messaging._db import DbConnection
from tandem_messaging._leases import Lease

__all__ = ["Claim", "claim", "claim_many"]

# One round trip: record the event, and advance its subject's version only if it is new.
_CLAIM = """
WITH recorded AS (
    INSERT INTO messaging.inbox (consumer, event_id, idempotency_key, event_type, partition, epoch)
    VALUES ($1, $2, $3, $4, $8, $9)
    ON CONFLICT DO NOTHING
    RETURNING 1
), advanced AS (
    INSERT INTO messaging.subject_versions AS s (consumer, subject_type, subject_id, version)
    SELECT $1, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM recorded)
    ON CONFLICT (consumer, subject_type, subject_id) DO UPDATE SET version = EXCLUDED.version
    WHERE s.version < EXCLUDED.version
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM recorded) AS recorded, EXISTS (SELECT 1 FROM advanced) AS advanced
"""

# The same for many events of distinct ids, keys and subjects, in one round trip.
_CLAIM_MANY = """
WITH input AS (
    SELECT * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                         $8::int[], $9::bigint[])
        WITH ORDINALITY AS i(event_id, idempotency_key, event_type, subject_type, subject_id,
                             version, partition, epoch, n)
), recorded AS (
    INSERT INTO messaging.inbox (consumer, event_id, idempotency_key, event_type, partition, epoch)
    SELECT $1, event_id, idempotency_key, event_type, partition, epoch FROM input ORDER BY n
    ON CONFLICT DO NOTHING
    RETURNING event_id
), advanced AS (
    INSERT INTO messaging.subject_versions AS s (consumer, subject_type, subject_id, version)
    SELECT $1, i.subject_type, i.subject_id, i.version
    FROM input i JOIN recorded r USING (event_id) ORDER BY i.n
    ON CONFLICT (consumer, subject_type, subject_id) DO UPDATE SET version = EXCLUDED.version
    WHERE s.version < EXCLUDED.version
    RETURNING subject_type, subject_id
)
SELECT r.event_id IS NOT NULL AS recorded, a.subject_id IS NOT NULL AS advanced
FROM input i
LEFT JOIN recorded r USING (event_id)
LEFT JOIN advanced a ON a.subject_type = i.subject_type AND a.subject_id = i.subject_id
ORDER BY i.n
"""


class Claim(Enum):
    """What the inbox says of an event: first time, seen before, or older than applied."""

    NEW = "new"
    DUPLICATE = "duplicate"
    STALE = "stale"


async def claim(
    connection: DbConnection, consumer: str, envelope: Envelope[Any], lease: Lease | None = None
) -> Claim:
    """Record ``envelope`` as handled by ``consumer`` inside the caller's transaction, under
    the partition ``lease`` it came by.

    A duplicate has the same event id or idempotency key as a handled one; a stale event's
    subject version is not newer than the last one applied for its subject.
    """
    row = await connection.fetchrow(
        _CLAIM,
        consumer,
        envelope.event_id,
        envelope.idempotency_key,
        envelope.event_type,
        envelope.subject.type,
        envelope.subject.id,
        envelope.subject_version,
        lease.partition if lease else None,
        lease.epoch if lease else None,
    )
    assert row is not None  # noqa: S101 - a SELECT of two EXISTS always returns a row
    return _outcome(row)


async def claim_many(
    connection: DbConnection,
    consumer: str,
    envelopes: Sequence[Envelope[Any]],
    leases: Sequence[Lease | None] | None = None,
) -> list[Claim]:
    """``claim`` each of ``envelopes`` (under the ``leases`` they came by), answering in their
    order, with one statement per run of envelopes that share no event id, idempotency key or
    subject: an envelope repeating one of those starts the next run, whose statement sees the
    earlier claims, so the answers are those of claiming one at a time."""
    given = list(leases) if leases is not None else [None] * len(envelopes)
    claims: list[Claim] = []
    start = 0
    while start < len(envelopes):
        end, seen = start, set[object]()
        while end < len(envelopes):
            e = envelopes[end]
            names = {("id", e.event_id), ("key", e.idempotency_key),
                     ("subject", e.subject.type, e.subject.id)}  # fmt: skip
            if seen & names:
                break
            seen |= names
            end += 1
        claims += await _claim_run(connection, consumer, envelopes[start:end], given[start:end])
        start = end
    return claims


async def _claim_run(
    connection: DbConnection,
    consumer: str,
    envelopes: Sequence[Envelope[Any]],
    leases: Sequence[Lease | None],
) -> list[Claim]:
    """Claim envelopes of distinct ids, keys and subjects with one statement."""
    if len(envelopes) == 1:
        return [await claim(connection, consumer, envelopes[0], leases[0])]
    rows = await connection.fetch(
        _CLAIM_MANY,
        consumer,
        [e.event_id for e in envelopes],
        [e.idempotency_key for e in envelopes],
        [e.event_type for e in envelopes],
        [e.subject.type for e in envelopes],
        [e.subject.id for e in envelopes],
        [e.subject_version for e in envelopes],
        [lease.partition if lease else None for lease in leases],
        [lease.epoch if lease else None for lease in leases],
    )
    return [_outcome(row) for row in rows]


def _outcome(row: Any) -> Claim:
    """A claim's outcome from whether it recorded the event and advanced its subject."""
    if not row["recorded"]:
        return Claim.DUPLICATE
    return Claim.NEW if row["advanced"] else Claim.STALE
