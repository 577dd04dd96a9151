"""Inbox retention: forget handled events once no duplicate of them can still arrive.

The inbox makes a duplicate harmless only while its row is kept: a duplicate of a purged event
is claimed again, and is then dropped only as stale (its subject's version was applied when
the original was handled), unless its router has ``accept_stale``, whose handlers get it again.
Keep rows for longer than any duplicate can come: broker redelivery, a replayed parked message,
a producer's retried publish.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from tandem_messaging._db import DbConnection

__all__ = ["purge_inbox"]

logger = logging.getLogger(__name__)

# The cutoff is fixed once, on the database's clock (the one handled_at is written with), so
# no batch deletes a row handled after the purge began counting back from it.
_CUTOFF = "SELECT clock_timestamp() - $1::interval"

# One batch: the oldest rows before the cutoff (found through inbox_handled_at), deleted by
# their key. SKIP LOCKED: a row another purge is deleting is left to it, never waited for.
_PURGE_BATCH = """
WITH doomed AS (
    SELECT consumer, event_id FROM messaging.inbox
    WHERE handled_at < $1
    ORDER BY handled_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
DELETE FROM messaging.inbox i
USING doomed d
WHERE i.consumer = d.consumer AND i.event_id = d.event_id
"""


async def purge_inbox(connection: DbConnection, *, older_than: timedelta, batch: int = 5000) -> int:
    """Delete the inbox rows of every consumer handled more than ``older_than`` ago; answer
    how many.

    Rows go in batches of at most ``batch``, each its own statement committed on its own, so
    no lock is held for long; it stops after a batch that deletes fewer than ``batch`` rows.
    A row handled after ``now() - older_than`` (taken once, when the purge starts) is never
    deleted. Call it outside a transaction: inside one, every batch would keep its locks
    until that transaction ends, so it refuses with ``ValueError``.
    """
    if older_than <= timedelta(0):
        raise ValueError(f"older_than must be positive, not {older_than}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    if connection.is_in_transaction():
        raise ValueError("purge_inbox must run outside a transaction: each batch commits alone")
    cutoff = await connection.fetchval(_CUTOFF, older_than)
    total = 0
    while True:
        status = await connection.execute(_PURGE_BATCH, cutoff, batch)
        deleted = int(status.rsplit(" ", 1)[-1])  # "DELETE n"
        total += deleted
        if deleted < batch:
            break
    if total:
        logger.info("purged %d inbox rows handled before %s", total, cutoff.isoformat())
    return total
