"""Partition leases in PostgreSQL: which member of a consumer group consumes which partition.

Members heartbeat into ``messaging.consumer_members``; a member is live while its heartbeat is
younger than the lease TTL. The live members, sorted, share the partitions round-robin
(``assign``). A member takes a partition it is assigned only when its lease is free or expired
(the epoch grows by one), renews what it holds, and hands a partition back only once every
delivery taken from it is settled. Every decision uses the database's ``clock_timestamp()``,
never a member's own clock. Each tenure is logged in ``messaging.partition_log``.

Fencing: a handling transaction locks the rows of the leases it relies on ``FOR KEY SHARE``
and checks they are still its own and unexpired; a takeover locks the row ``FOR UPDATE NOWAIT``
and so gives up (until the next heartbeat) while such a transaction has not committed.
Renewals are plain updates of ``expires_at``, which a key-share lock does not block, and run on
the member's own connection (``keep``), so that neither handler traffic nor a takeover waiting
for a lock delays them (ADR 0008).

The group's partition count and the phase of a change to it live in
``messaging.partition_groups``; members follow that count, not their configured one, and the
holder of the catch-up lease (partition ``CATCH_UP``) consumes ``Q.resize`` (ADR 0009).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import asyncpg

from tandem_messaging._db import DbConnection
from tandem_messaging._errors import LeaseLostError

__all__ = ["CATCH_UP", "GroupState", "Lease", "LeaseStore", "assign", "member_id"]

logger = logging.getLogger(__name__)

_REGISTER = """
INSERT INTO messaging.partition_leases (grp, partition)
SELECT $1, generate_series(0, $2 - 1) ON CONFLICT DO NOTHING
"""
_ADOPT = """
INSERT INTO messaging.partition_groups (grp, partitions) VALUES ($1, $2) ON CONFLICT DO NOTHING
"""
_GROUP = "SELECT partitions, phase, sealed FROM messaging.partition_groups WHERE grp = $1"
_GROUP_SHARED = f"{_GROUP} FOR SHARE"
_CAUGHT_UP = """
UPDATE messaging.partition_groups
SET phase = 'running', target = NULL, sealed = false, updated_at = clock_timestamp()
WHERE grp = $1 AND phase = 'catching_up' AND sealed
"""
_HEARTBEAT = """
INSERT INTO messaging.consumer_members AS m (grp, member) VALUES ($1, $2)
ON CONFLICT (grp, member) DO UPDATE SET heartbeat_at = clock_timestamp()
"""
_LIVE = """
SELECT member FROM messaging.consumer_members
WHERE grp = $1 AND heartbeat_at > clock_timestamp() - make_interval(secs => $2)
ORDER BY member
"""
_FORGET_DEAD = """
DELETE FROM messaging.consumer_members
WHERE grp = $1 AND heartbeat_at < clock_timestamp() - make_interval(secs => $2 * 100)
"""
_RENEW = """
UPDATE messaging.partition_leases l
SET expires_at = clock_timestamp() + make_interval(secs => $3)
FROM unnest($4::int[], $5::bigint[]) AS held(partition, epoch)
WHERE l.grp = $1 AND l.owner = $2 AND l.partition = held.partition AND l.epoch = held.epoch
RETURNING l.partition
"""
_LOCK = """
SELECT owner, epoch, expires_at FROM messaging.partition_leases
WHERE grp = $1 AND partition = $2 FOR UPDATE NOWAIT
"""
_TAKE = """
UPDATE messaging.partition_leases
SET owner = $3, epoch = epoch + 1, expires_at = clock_timestamp() + make_interval(secs => $4)
WHERE grp = $1 AND partition = $2 AND (owner IS NULL OR expires_at < clock_timestamp())
RETURNING epoch
"""
_CLOSE_EXPIRED = """
UPDATE messaging.partition_log SET released_at = $4, how = 'expired'
WHERE grp = $1 AND partition = $2 AND epoch = $3 AND released_at IS NULL
"""
_OPEN = "INSERT INTO messaging.partition_log (grp, partition, owner, epoch) VALUES ($1, $2, $3, $4)"
_RELEASE = """
UPDATE messaging.partition_leases SET owner = NULL, expires_at = NULL
WHERE grp = $1 AND partition = $2 AND owner = $3 AND epoch = $4
RETURNING 1
"""
_CLOSE_RELEASED = """
UPDATE messaging.partition_log SET released_at = clock_timestamp(), how = 'released'
WHERE grp = $1 AND partition = $2 AND epoch = $3 AND released_at IS NULL
"""
_MARK_LOST = """
UPDATE messaging.partition_log
SET how = 'lost', released_at = coalesce(released_at, clock_timestamp())
WHERE grp = $1 AND partition = $2 AND epoch = $3 AND owner = $4
"""
_LEAVE = "DELETE FROM messaging.consumer_members WHERE grp = $1 AND member = $2"
_FENCE = """
SELECT l.partition FROM messaging.partition_leases l
JOIN unnest($3::int[], $4::bigint[]) AS held(partition, epoch)
  ON l.partition = held.partition AND l.epoch = held.epoch
WHERE l.grp = $1 AND l.owner = $2 AND l.expires_at > clock_timestamp()
ORDER BY l.partition
FOR KEY SHARE OF l
"""


CATCH_UP = -1
"""The lease row whose holder consumes ``Q.resize`` while the group catches up (ADR 0009)."""


@dataclass(frozen=True)
class GroupState:
    """A group's partition count and the phase of ``tandem partitions resize`` (``running``
    when none is under way); ``sealed`` once ``Q.resize`` receives nothing more."""

    partitions: int
    phase: str
    sealed: bool


@dataclass(frozen=True, order=True)
class Lease:
    """One tenure of a partition: the partition and the epoch it was acquired at."""

    partition: int
    epoch: int


def assign(members: Sequence[str], member: str, partitions: int) -> frozenset[int]:
    """The partitions ``member`` should hold: partition p goes to the (p mod n)-th of the
    ``n`` live ``members`` in sorted order; none when ``member`` is not among them."""
    ordered = sorted(set(members))
    if member not in ordered:
        return frozenset()
    return frozenset(p for p in range(partitions) if ordered[p % len(ordered)] == member)


def member_id() -> str:
    """A member id unique to this process: ``hostname:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseStore:
    """The lease statements of one member of one consumer group."""

    def __init__(
        self, pool: asyncpg.Pool, group: str, member: str, partitions: int, ttl: float
    ) -> None:
        self.pool = pool
        self.group = group
        self.member = member
        self.partitions = partitions
        self.ttl = ttl
        self._own: asyncpg.pool.PoolConnectionProxy | None = None
        """Taken from the pool for ``keep`` alone, and held until ``close``."""

    async def register(self) -> None:
        """Create the group with this member's partition count if it is new, and its lease
        rows; a member configured with another count follows the group's (ADR 0009)."""
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute(_ADOPT, self.group, self.partitions)
            # FOR SHARE: a resize changing the count waits, and so does this.
            row = _group_row(await connection.fetchrow(_GROUP_SHARED, self.group))
            if int(row["partitions"]) != self.partitions:
                logger.warning(
                    "%s has %d partitions; this member was configured with %d and follows "
                    "the group (tandem partitions resize changes the count)",
                    self.group, row["partitions"], self.partitions,
                )  # fmt: skip
            self.partitions = int(row["partitions"])
            await connection.execute(_REGISTER, self.group, self.partitions)

    async def state(self) -> GroupState:
        """Read the group's partition count and resize phase, and follow the count."""
        async with self.pool.acquire() as connection:
            row = _group_row(await connection.fetchrow(_GROUP, self.group))
        self.partitions = int(row["partitions"])
        return GroupState(self.partitions, str(row["phase"]), bool(row["sealed"]))

    async def caught_up(self) -> None:
        """Q.resize is handled and deleted: the group runs on its partitions again."""
        async with self.pool.acquire() as connection:
            await connection.execute(_CAUGHT_UP, self.group)

    async def keep(self, held: Collection[Lease]) -> set[int]:
        """On this member's own connection (never queued behind handlers for the pool):
        extend the leases of ``held`` still ours, then record the member's heartbeat; return
        the partitions renewed (a missing one was lost). A failure drops the connection, and
        the next call takes another."""
        if self._own is None:
            self._own = await self.pool.acquire()
        try:
            rows = await self._own.fetch(
                _RENEW,
                self.group,
                self.member,
                self.ttl,
                [lease.partition for lease in held],
                [lease.epoch for lease in held],
            )
            await self._own.execute(_HEARTBEAT, self.group, self.member)
        except BaseException:  # a timeout too: the connection may be mid-statement
            await self._drop_own()
            raise
        return {int(row["partition"]) for row in rows}

    async def live(self) -> list[str]:
        """Forget long-dead members; return the live ones, sorted."""
        async with self.pool.acquire() as connection:
            await connection.execute(_FORGET_DEAD, self.group, self.ttl)
            rows = await connection.fetch(_LIVE, self.group, self.ttl)
        return [str(row["member"]) for row in rows]

    async def close(self) -> None:
        """Give ``keep``'s connection back to the pool."""
        if self._own is not None:
            own, self._own = self._own, None
            await self.pool.release(own)

    async def _drop_own(self) -> None:
        if self._own is not None:
            own, self._own = self._own, None
            own.terminate()
            await self.pool.release(own)

    async def acquire(self, partition: int) -> tuple[Lease, str] | None:
        """Take ``partition`` if its lease is free or expired, answering the lease and how
        (``acquired`` free, ``taken_over`` expired); None if someone holds it, or a
        transaction relying on it is still running (tried again at the next heartbeat)."""
        try:
            async with self.pool.acquire() as connection, connection.transaction():
                # A batch still committing under the old lease makes the takeover give up at
                # once (NOWAIT), rather than stall the heartbeat; so does a renewal under way.
                await connection.execute("SET LOCAL lock_timeout = '500ms'")
                before = await connection.fetchrow(_LOCK, self.group, partition)
                epoch = await connection.fetchval(
                    _TAKE, self.group, partition, self.member, self.ttl
                )
                if before is None or epoch is None:
                    return None
                if before["owner"] is not None:
                    await connection.execute(
                        _CLOSE_EXPIRED, self.group, partition, before["epoch"], before["expires_at"]
                    )
                await connection.execute(_OPEN, self.group, partition, self.member, epoch)
        except asyncpg.LockNotAvailableError:
            return None
        return Lease(partition, int(epoch)), "acquired" if before["owner"] is None else "taken_over"

    async def release(self, lease: Lease) -> None:
        """Hand ``lease`` back (its deliveries all settled)."""
        async with self.pool.acquire() as connection, connection.transaction():
            released = await connection.fetchval(
                _RELEASE, self.group, lease.partition, self.member, lease.epoch
            )
            if released:
                await connection.execute(_CLOSE_RELEASED, self.group, lease.partition, lease.epoch)

    async def mark_lost(self, lease: Lease) -> None:
        """Record that this member, alive, found ``lease`` taken over."""
        async with self.pool.acquire() as connection:
            await connection.execute(
                _MARK_LOST, self.group, lease.partition, lease.epoch, self.member
            )

    async def leave(self) -> None:
        """Leave the group: the others rebalance at their next heartbeat, not after the TTL."""
        async with self.pool.acquire() as connection:
            await connection.execute(_LEAVE, self.group, self.member)

    async def fence(self, connection: DbConnection, leases: Collection[Lease]) -> None:
        """In the caller's transaction: lock ``leases`` against takeover until it ends; raise
        ``LeaseLostError`` naming those no longer this member's or expired."""
        wanted = sorted(set(leases))
        rows = await connection.fetch(
            _FENCE,
            self.group,
            self.member,
            [lease.partition for lease in wanted],
            [lease.epoch for lease in wanted],
        )
        valid = {int(row["partition"]) for row in rows}
        if lost := [lease for lease in wanted if lease.partition not in valid]:
            raise LeaseLostError(lost)


def _group_row(row: asyncpg.Record | None) -> asyncpg.Record:
    if row is None:  # registered at start, never deleted by the runtime
        raise RuntimeError("the consumer group's row in messaging.partition_groups is gone")
    return row
