"""What an operator sees of a consumer group: its members, each partition's lease and depth."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

import aio_pika
import asyncpg
from aio_pika.abc import AbstractConnection

from tandem_messaging._topology import ConsumerTopology

__all__ = ["GroupStatus", "MemberStatus", "PartitionStatus", "TenureStatus", "partition_status"]

_MEMBERS = """
SELECT member, started_at, heartbeat_at,
       extract(epoch FROM clock_timestamp() - heartbeat_at)::float8 AS heartbeat_age_s
FROM messaging.consumer_members WHERE grp = $1 ORDER BY member
"""
_LEASES = """
SELECT partition, owner, epoch, expires_at,
       extract(epoch FROM expires_at - clock_timestamp())::float8 AS expires_in_s
FROM messaging.partition_leases
WHERE grp = $1 AND partition >= 0
  AND partition < coalesce((SELECT partitions FROM messaging.partition_groups WHERE grp = $1), 0)
ORDER BY partition
"""
_GROUP = "SELECT phase, target FROM messaging.partition_groups WHERE grp = $1"
_TENURES = """
SELECT partition, owner, epoch, acquired_at, released_at, how FROM messaging.partition_log
WHERE grp = $1 ORDER BY acquired_at DESC LIMIT $2
"""
RECENT_TENURES = 20


@dataclass(frozen=True)
class MemberStatus:
    """A member of the group and how long ago it last heartbeat (database time)."""

    member: str
    started_at: datetime
    heartbeat_at: datetime
    heartbeat_age_s: float


@dataclass(frozen=True)
class PartitionStatus:
    """A partition's lease (owner None: free) and its queue as the broker reports it (None:
    not asked, or the queue does not exist)."""

    partition: int
    owner: str | None
    epoch: int
    expires_at: datetime | None
    expires_in_s: float | None
    depth: int | None
    consumers: int | None


@dataclass(frozen=True)
class TenureStatus:
    """One tenure of a partition, newest first: the rebalances (``how``: released, expired,
    lost; None while it lasts)."""

    partition: int
    owner: str
    epoch: int
    acquired_at: datetime
    released_at: datetime | None
    how: str | None


@dataclass(frozen=True)
class GroupStatus:
    """A consumer group: its members and its partitions; ``phase`` is ``running`` unless
    ``tandem partitions resize`` is moving it to ``target`` partitions (ADR 0009)."""

    group: str
    members: tuple[MemberStatus, ...]
    partitions: tuple[PartitionStatus, ...]
    phase: str = "running"
    target: int | None = None
    recent: tuple[TenureStatus, ...] = ()


async def partition_status(
    pool: asyncpg.Pool, connection: AbstractConnection | None, group: str
) -> GroupStatus:
    """Read ``group``'s members and leases, and (with a broker ``connection``) each partition
    queue's depth and consumer count by a passive declare."""
    async with pool.acquire() as db:
        members = [MemberStatus(**dict(row)) for row in await db.fetch(_MEMBERS, group)]
        leases = await db.fetch(_LEASES, group)
        resize = await db.fetchrow(_GROUP, group)
        recent = tuple(
            TenureStatus(**dict(row)) for row in await db.fetch(_TENURES, group, RECENT_TENURES)
        )
    topology = ConsumerTopology(queue=group, bindings=(), partitions=max(len(leases), 1))
    partitions = []
    for row in leases:
        name = topology.partition_queue(row["partition"])
        depth, consumers = await _queue_counts(connection, name) if connection else (None, None)
        partitions.append(PartitionStatus(**dict(row), depth=depth, consumers=consumers))
    phase, target = (resize["phase"], resize["target"]) if resize else ("running", None)
    return GroupStatus(group, tuple(members), tuple(partitions), phase, target, recent)


async def _queue_counts(connection: AbstractConnection, name: str) -> tuple[int | None, int | None]:
    channel = await connection.channel()
    try:
        declared = await channel.declare_queue(name, passive=True)
    except aio_pika.exceptions.ChannelClosed:
        return None, None
    finally:
        if not channel.is_closed:
            with contextlib.suppress(aio_pika.exceptions.AMQPError, RuntimeError):
                await channel.close()
    result = declared.declaration_result
    return result.message_count, result.consumer_count
