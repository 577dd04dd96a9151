"""Dependencies met outside a handler: an operator's link, a scheduled lookup.

A handler declares a dependency met with ``ctx.satisfy(key)``; the consumer records it in the
handler's transaction and, after the commit, releases the messages parked waiting for it. Code
outside a consumer (a process API route, a scheduled job) does the same with ``satisfy``:
record in the caller's transaction, then ``release`` once it committed. ``release_satisfied``
is the sweep that makes the pair safe: it releases what waits for a key already recorded as met
(a crash between commit and release would otherwise leave those parked).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from aio_pika.abc import AbstractConnection

from tandem_messaging import _parking as parking
from tandem_messaging._db import DbConnection

__all__ = ["record_satisfied", "release", "release_satisfied", "waiting_keys"]

_WAITING = """
SELECT DISTINCT waiting_for FROM messaging.parked
WHERE consumer = $1 AND status = 'parked' AND waiting_for LIKE $2 || '%'
ORDER BY 1
"""
_MET = """
SELECT DISTINCT p.waiting_for FROM messaging.parked p
JOIN messaging.satisfied_dependencies s ON s.consumer = p.consumer AND s.key = p.waiting_for
WHERE p.consumer = $1 AND p.status = 'parked'
"""


async def record_satisfied(connection: DbConnection, consumer: str, keys: Sequence[str]) -> None:
    """Record ``keys`` as met for ``consumer``'s messages, in the caller's transaction."""
    if keys:
        await parking.record_satisfied(connection, consumer, keys)


async def release(
    pool: asyncpg.Pool, connection: AbstractConnection, consumer: str, keys: Sequence[str]
) -> int:
    """Send the messages parked waiting for ``keys`` back to ``consumer``; answer how many."""
    if not keys:
        return 0
    channel = await connection.channel(publisher_confirms=True)
    try:
        return await parking.release(pool, channel, consumer, keys)
    finally:
        await channel.close()


async def waiting_keys(pool: asyncpg.Pool, consumer: str, prefix: str = "") -> list[str]:
    """The dependency keys (starting with ``prefix``) ``consumer``'s parked messages wait for."""
    async with pool.acquire() as db:
        return [str(row[0]) for row in await db.fetch(_WAITING, consumer, prefix)]


async def release_satisfied(
    pool: asyncpg.Pool, connection: AbstractConnection, consumer: str
) -> int:
    """Release what still waits for a key already met; answer how many were released."""
    async with pool.acquire() as db:
        met = [str(row[0]) for row in await db.fetch(_MET, consumer)]
    return await release(pool, connection, consumer, met)
