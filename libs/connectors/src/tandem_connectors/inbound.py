"""Inbound: records a system of record sent become events, in arrival order per key.

A service describes a source with ``Inbound`` (its system kind, the feeds it polls and the record
types they carry, the webhook subjects it lands) and gives an ``Ingestion`` per pass: which key
orders a record (a worker, an account), whether a version is acted on, and what events a record
becomes. ``publish_landed`` runs one pass over a source's pending rows: each record becomes its
events (written to the outbox in the pass's transaction), is ignored, waits, or is set aside:

* ``RecordWaits`` — something it needs is not known yet: it stays pending, noted with why, and
  so do the later records of its key (their order is kept);
* ``RecordRejected``, a connector's rejection, or a mapping error (a field missing or of the
  wrong type) — it can never become an event as it is: it is set aside (``rejected``, with its
  reason; ``tandem_connectors.set_aside`` lists such records and replays them, audited, after
  a fix), and the records behind it flow;
* ``SystemUnavailable`` (the system was asked something and is down) ends the pass: nothing
  of it commits, and the next pass starts over.

One replica ingests a source at a time (an advisory lock for the pass's transaction). A polled
record that cannot be stored (too large, unsafe text, numbers beyond 64 bits: see ``landing``)
is set aside at landing with why, and the feed's watermark moves past it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import asyncpg
from pydantic import ValidationError

from tandem_connectors.errors import RequestRejected
from tandem_connectors.landing import Landed, Landing
from tandem_connectors.polling import Change, ChangeSource, Poller
from tandem_contracts import Envelope
from tandem_messaging import DbConnection, Outbox

__all__ = [
    "Feed",
    "Inbound",
    "Ingestion",
    "RecordRejected",
    "RecordWaits",
    "poll_feeds",
    "publish_landed",
]

logger = logging.getLogger(__name__)


class RecordWaits(Exception):
    """The record needs something not known yet (a project activated, a worker onboarded)."""


class RecordRejected(Exception):
    """The record can never become an event as it is; it is set aside with this reason."""


# What cannot be mapped however often it is tried: set the record aside, let the rest flow.
_UNMAPPABLE = (RecordRejected, RequestRejected, ValidationError, KeyError, TypeError, ValueError)


@dataclass(frozen=True)
class Feed:
    """A change feed of a system (its name there) and the record type its records land as."""

    name: str
    record_type: str


@dataclass(frozen=True)
class Inbound:
    """What a service takes in from one kind of system: polled feeds and webhook subjects."""

    system: str
    feeds: tuple[Feed, ...]
    webhook_subjects: frozenset[str] = frozenset()
    """Webhook subject types landed (as the record type of the same name); others are
    acknowledged and dropped."""


class Ingestion(Protocol):
    """How one pass turns a source's landed records into events (made per pass)."""

    def order_key(self, landed: Landed) -> str:
        """What orders the record among the others (its worker, its account)."""

    def acts_on(self, landed: Landed) -> bool:
        """Whether this version would become an event (others behind a waiting key are not
        noted as waiting)."""

    async def translate(self, landed: Landed) -> Sequence[Envelope[Any]]:
        """The events the record becomes (none: ignored); raise ``RecordWaits`` or
        ``RecordRejected``."""


@dataclass
class _Pass:
    published: list[int]
    ignored: list[int]
    waiting: dict[int, str]
    rejected: dict[int, str]
    envelopes: list[Envelope[Any]]


async def publish_landed(
    pool: asyncpg.Pool,
    system: str,
    instance: str,
    make: Callable[[DbConnection], Ingestion],
    outbox: Outbox,
    limit: int = 2000,
) -> int:
    """Turn up to ``limit`` pending records of a source into events; answer how many settled."""
    async with pool.acquire() as db, db.transaction():
        landing = Landing(db)
        if not await landing.take_turn(system, instance):
            return 0  # another replica is ingesting this source; it keeps the order
        rows = await landing.pending(system, instance, limit)
        done = await _translate(make(db), rows)
        await outbox.add(db, *done.envelopes)
        await landing.settle(done.published, "published", None)
        await landing.settle(done.ignored, "ignored", "not a version this service acts on")
        await landing.set_aside(done.rejected)
        await landing.note(done.waiting)
    for sequence, why in done.rejected.items():
        logger.warning("%s/%s record #%d set aside: %s", system, instance, sequence, why)
    return len(done.published) + len(done.ignored) + len(done.rejected)


async def _translate(ingestion: Ingestion, rows: Sequence[Landed]) -> _Pass:
    done = _Pass([], [], {}, {}, [])
    blocked: dict[str, str] = {}  # order key -> why its records wait
    for landed in rows:
        key = ""
        try:
            key = ingestion.order_key(landed)
            if key in blocked:
                if ingestion.acts_on(landed):  # waits behind the first
                    done.waiting[landed.sequence] = blocked[key]
                continue
            envelopes = await ingestion.translate(landed)
        except RecordWaits as waits:
            blocked[key] = done.waiting[landed.sequence] = str(waits)
            continue
        except _UNMAPPABLE as exc:
            done.rejected[landed.sequence] = f"{type(exc).__name__}: {exc}"
            continue
        if envelopes:
            done.envelopes.extend(envelopes)
            done.published.append(landed.sequence)
        else:
            done.ignored.append(landed.sequence)
    return done


async def poll_feeds(
    pool: asyncpg.Pool,
    system: str,
    instance: str,
    feeds: Sequence[tuple[Feed, ChangeSource]],
    lag: timedelta,
) -> int:
    """Land every change of each feed since its watermark (one that cannot be stored is set
    aside, with why); answer how many were read."""
    read = 0
    for feed, source in feeds:

        async def land(
            db: DbConnection, page: Sequence[Change], kind: str = feed.record_type
        ) -> None:
            await Landing(db).land_many(system, instance, kind, [c.data for c in page], "poll")

        read += await Poller(pool, source, system, instance, feed.name, lag=lag).catch_up(land)
    return read
