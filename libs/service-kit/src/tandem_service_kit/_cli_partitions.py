"""``tandem partitions status --queue Q [--json]``: a consumer group's members and leases.

Reads ``messaging.consumer_members`` and ``messaging.partition_leases`` of
``TANDEM_DATABASE_URL`` and asks the broker of ``TANDEM_AMQP_URL`` each partition queue's depth
and consumer count (a passive declare). Read-only; times are the database's.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

import aio_pika
import asyncpg

from tandem_messaging import GroupStatus, partition_status

__all__ = ["add_partition_commands", "run_partition_command"]


def _queue(text: str) -> str:
    text = text.strip()
    if not text or len(text) > 200 or not text.isprintable():
        raise argparse.ArgumentTypeError("must be 1 to 200 printable characters")
    return text


def add_partition_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``partitions status``."""
    partitions = commands.add_parser("partitions", help="partitioned consumer groups")
    actions = partitions.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="members, each partition's owner, epoch, depth")
    status.add_argument("--queue", type=_queue, required=True, help="the consumer group (queue)")
    status.add_argument("--json", action="store_true", help="print JSON instead of tables")


async def run_partition_command(
    args: argparse.Namespace, database_url: str, amqp_url: str
) -> tuple[int, str]:
    """Run ``partitions status``; answer how many partitions the group has, and the text."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        connection = await aio_pika.connect(
            amqp_url, client_properties={"connection_name": "tandem-cli"}
        )
        try:
            status = await partition_status(pool, connection, args.queue)
        finally:
            await connection.close()
    finally:
        await pool.close()
    return len(status.partitions), status_json(status) if args.json else status_text(status)


def status_json(status: GroupStatus) -> str:
    """The group's status as JSON."""
    return json.dumps(asdict(status), default=_plain, indent=2)


def status_text(status: GroupStatus) -> str:
    """The group's status as two tables: members, then partitions."""
    lines = [f"consumer group {status.group}", "", "member  heartbeat_age_s  started_at"]
    lines += [
        f"{m.member}  {m.heartbeat_age_s:.1f}  {m.started_at.isoformat()}" for m in status.members
    ] or ["(no members)"]
    lines += ["", "partition  owner  epoch  expires_in_s  depth  consumers"]
    for p in status.partitions:
        expires = "-" if p.expires_in_s is None else f"{p.expires_in_s:.1f}"
        lines.append(
            f"{p.partition}  {p.owner or '(free)'}  {p.epoch}  {expires}  "
            f"{_or_dash(p.depth)}  {_or_dash(p.consumers)}"
        )
    return "\n".join(lines)


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")
