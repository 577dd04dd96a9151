"""``tandem partitions status|resize``: a consumer group's members and leases; changing P.

``status --queue Q [--json]`` reads ``messaging.consumer_members`` and
``messaging.partition_leases`` of ``TANDEM_DATABASE_URL`` and asks the broker of
``TANDEM_AMQP_URL`` each partition queue's depth and consumer count (a passive declare).
Read-only; times are the database's.

``resize --queue Q --to P2 [--timeout S] [--management-url URL]`` changes the group's partition
count by hold, drain, re-bind, resume (ADR 0009); run again after a failure, it continues. It
reads bindings and queue arguments from the RabbitMQ management API (default: port 15672 of
the AMQP host, with the AMQP URL's credentials and vhost).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit

import aio_pika
import asyncpg
import httpx

from tandem_messaging import GroupStatus, partition_status, resize_partitions

_MANAGEMENT_PORT = 15672

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
    resize = actions.add_parser(
        "resize", help="change the partition count: hold, drain, re-bind, resume (ADR 0009)"
    )
    resize.add_argument("--queue", type=_queue, required=True, help="the consumer group (queue)")
    resize.add_argument("--to", type=_count, required=True, help="the new partition count")
    resize.add_argument(
        "--timeout", type=_seconds, default=300.0, help="seconds to wait (default 300)"
    )
    resize.add_argument(
        "--management-url", help="RabbitMQ management API (default: the AMQP host, port 15672)"
    )


def _bounded(kind: Callable[[str], Any], low: float, high: float) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}")
        return value

    return parse


_count = _bounded(int, 1, 256)
_seconds = _bounded(float, 1, 86_400)


async def run_partition_command(
    args: argparse.Namespace, database_url: str, amqp_url: str
) -> tuple[int, str]:
    """Run ``partitions status`` or ``resize``; answer how many partitions the group has, and
    the text."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        connection = await aio_pika.connect(
            amqp_url, client_properties={"connection_name": "tandem-cli"}
        )
        try:
            if args.action == "resize":
                return await _resize(args, pool, connection, amqp_url)
            status = await partition_status(pool, connection, args.queue)
        finally:
            await connection.close()
    finally:
        await pool.close()
    return len(status.partitions), status_json(status) if args.json else status_text(status)


async def _resize(
    args: argparse.Namespace,
    pool: asyncpg.Pool,
    connection: aio_pika.abc.AbstractConnection,
    amqp_url: str,
) -> tuple[int, str]:
    url, vhost = management_url(amqp_url, args.management_url)
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        broker = ManagementBindings(client, vhost)
        done = await resize_partitions(
            pool, connection, broker, args.queue, args.to, timeout_s=args.timeout
        )
    return done.after, f"consumer group {done.group}: {done.before} -> {done.after} partitions"


def management_url(amqp_url: str, given: str | None) -> tuple[str, str]:
    """The management API's base URL (``given``, else the AMQP host on port 15672 with the AMQP
    URL's credentials) and the vhost of ``amqp_url``."""
    parts = urlsplit(amqp_url.split(",")[0])
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    if given:
        return given, vhost
    user = f"{parts.username or 'guest'}:{parts.password or 'guest'}@"
    scheme = "https" if parts.scheme == "amqps" else "http"
    return f"{scheme}://{user}{parts.hostname}:{_MANAGEMENT_PORT}", vhost


class ManagementBindings:
    """``BrokerBindings`` through the RabbitMQ management HTTP API (bindings are read from the
    broker's metadata store, not from sampled statistics, so they are current)."""

    def __init__(self, client: httpx.AsyncClient, vhost: str) -> None:
        self._client = client
        self._vhost = quote(vhost, safe="")

    async def sources(
        self, kind: Literal["exchange", "queue"], name: str, source: str
    ) -> list[str]:
        """The patterns binding ``source`` to exchange or queue ``name``."""
        where = "exchanges" if kind == "exchange" else "queues"
        tail = "bindings/destination" if kind == "exchange" else "bindings"
        rows = await self._get(f"/api/{where}/{self._vhost}/{quote(name, safe='')}/{tail}")
        return sorted({str(row["routing_key"]) for row in rows if row["source"] == source})

    async def destinations(self, exchange: str) -> list[tuple[str, str]]:
        """The queues bound to ``exchange`` and their routing keys."""
        path = f"/api/exchanges/{self._vhost}/{quote(exchange, safe='')}/bindings/source"
        rows = await self._get(path)
        return [
            (str(row["destination"]), str(row["routing_key"]))
            for row in rows
            if row["destination_type"] == "queue"
        ]

    async def queue_arguments(self, queue: str) -> dict[str, Any]:
        """The arguments ``queue`` was declared with."""
        found = await self._get(f"/api/queues/{self._vhost}/{quote(queue, safe='')}")
        return dict(found["arguments"])

    async def _get(self, path: str) -> Any:
        response = await self._client.get(path)
        if response.status_code == httpx.codes.NOT_FOUND:
            return []
        response.raise_for_status()
        return response.json()


def status_json(status: GroupStatus) -> str:
    """The group's status as JSON."""
    return json.dumps(asdict(status), default=_plain, indent=2)


def status_text(status: GroupStatus) -> str:
    """The group's status as tables: members, partitions, then the recent tenures."""
    lines = [f"consumer group {status.group}"]
    if status.phase != "running":
        lines.append(f"resizing to {status.target} partitions: {status.phase}")
    lines += ["", "member  heartbeat_age_s  started_at"]
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
    lines += [
        "",
        "recent tenures (rebalances), newest first",
        "partition  epoch  owner  acquired_at  ended",
    ]
    lines += [
        f"{t.partition}  {t.epoch}  {t.owner}  {t.acquired_at.isoformat()}  "
        + (f"{t.how} {t.released_at.isoformat()}" if t.released_at else "(holding)")
        for t in status.recent
    ] or ["(none)"]
    return "\n".join(lines)


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")
