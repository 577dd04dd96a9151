"""Polling a change feed with a persisted watermark, for systems that push nothing or lose pushes.

The watermark is a keyset position ``(changed_at, record_key)``: records changed at the same
instant are neither skipped nor read twice. It is saved in the same transaction as the
effects of the page read, so a crash re-reads that page and a restart resumes exactly.
Changes younger than ``lag`` are left for a later poll: a transaction that commits late with
an earlier timestamp (a clock or commit race in the source) is still read.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg

from tandem_contracts import unsafe_text
from tandem_messaging import DbConnection

__all__ = ["Change", "ChangeSource", "Poller", "Position"]

_LOAD = """
SELECT changed_at, record_key, key_is_json FROM connectors.watermarks
WHERE system = $1 AND instance = $2 AND feed = $3
"""
_SAVE = """
INSERT INTO connectors.watermarks (system, instance, feed, changed_at, record_key, key_is_json)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (system, instance, feed) DO UPDATE
    SET changed_at = EXCLUDED.changed_at, record_key = EXCLUDED.record_key,
        key_is_json = EXCLUDED.key_is_json, updated_at = clock_timestamp()
"""


def _stored(key: str) -> tuple[str, bool]:
    # A key PostgreSQL cannot hold (a NUL, a lone surrogate) is stored as its JSON string, so
    # the position reads back exactly and the feed neither sticks on it nor skips past it.
    return (json.dumps(key), True) if unsafe_text(key) is not None else (key, False)


@dataclass(frozen=True, order=True)
class Position:
    """A place in a change feed: after every change at or before it."""

    changed_at: datetime
    record_key: str


@dataclass(frozen=True)
class Change:
    """One changed record of a feed; ``data`` is the source's own representation."""

    changed_at: datetime
    record_key: str
    data: Any = None

    @property
    def position(self) -> Position:
        """The feed position just after this change."""
        return Position(self.changed_at, self.record_key)


class ChangeSource(Protocol):
    """A system's change feed, read in (changed_at, record_key) order."""

    async def changes(
        self, after: Position | None, until: datetime, limit: int
    ) -> Sequence[Change]:
        """Return up to ``limit`` changes after ``after`` and not after ``until``, in order."""


Handle = Callable[[DbConnection, Sequence[Change]], Awaitable[None]]


@dataclass
class Poller:
    """Reads one feed of one system instance page by page."""

    pool: asyncpg.Pool
    source: ChangeSource
    system: str
    instance: str
    feed: str
    page_size: int = 200
    lag: timedelta = timedelta(seconds=30)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def poll_once(self, handle: Handle) -> int:
        """Read one page and hand it to ``handle`` in the transaction that saves the watermark.

        Returns how many changes were read; 0 means the feed is caught up to ``now - lag``.
        """
        async with self.pool.acquire() as connection, connection.transaction():
            key = (self.system, self.instance, self.feed)
            row = await connection.fetchrow(_LOAD, *key)
            after = None
            if row is not None:
                stored = row["record_key"]
                record_key = json.loads(stored) if row["key_is_json"] else stored
                after = Position(row["changed_at"], record_key)
            page = await self.source.changes(after, self.clock() - self.lag, self.page_size)
            if not page:
                return 0
            await handle(connection, page)
            last = max(change.position for change in page)
            await connection.execute(_SAVE, *key, last.changed_at, *_stored(last.record_key))
        return len(page)

    async def catch_up(self, handle: Handle) -> int:
        """Poll until the feed is caught up; return how many changes were read."""
        total = 0
        while read := await self.poll_once(handle):
            total += read
        return total
