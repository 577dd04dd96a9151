"""What the fault tests share: the runtime's tables, a steady stream of events through the
outbox, and a consumer whose handler writes one row per event under a unique constraint."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry

from tandem_contracts import Envelope, Producer, SystemKind
from tandem_contracts.events import OpportunityLost
from tandem_messaging import MIGRATIONS, ConsumerSettings, HandlerContext, Metrics, Outbox, Router
from tandem_testing import eventually

logger = logging.getLogger(__name__)

# A second delivery of one event would break this constraint instead of doubling the effect:
# the test then sees a failed, retried or parked message.
EFFECTS = """
CREATE TABLE effects (
    event_id uuid PRIMARY KEY,
    subject  text NOT NULL,
    version  int  NOT NULL,
    serial   bigserial,
    at       timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""
EFFECT = "INSERT INTO effects (event_id, subject, version) VALUES ($1, $2, $3)"

FAST = ConsumerSettings(
    retry_delays=(0.2, 0.6, 1.2),
    max_attempts=4,
    concurrency=4,
    batch_size=16,
    probe_backoff=(0.05, 0.5),
    shutdown_grace=5,
)


async def prepare_database(url: str) -> None:
    """Apply the runtime's migrations and create the effects table."""
    connection = await asyncpg.connect(url)
    try:
        for path in sorted(MIGRATIONS.glob("*.sql")):
            await connection.execute(path.read_text())
        await connection.execute(EFFECTS)
    finally:
        await connection.close()


def recording_router() -> Router:
    """A router whose one handler records each event as a row of ``effects``."""
    router = Router(service="faults")

    @router.handles(OpportunityLost)
    async def record(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        await ctx.connection.execute(
            EFFECT, envelope.event_id, envelope.subject.id, envelope.subject_version
        )

    return router


def lost_event(key: str, version: int) -> Envelope[OpportunityLost]:
    """An OpportunityLost about opportunity ``key`` at subject ``version``."""
    payload = OpportunityLost(
        opportunity_id=key,
        stage="Closed Lost",
        reason="budget",
        lost_at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    )
    return Envelope.new(
        payload,
        producer=Producer(service="project-sync", system=SystemKind.CRM),
        tenant_id="acme",
        legal_entity_id="le-de",
        data_residency_region="eu",
        correlation_id=f"corr-{key}",
        subject_version=version,
    )


@dataclass
class Stream:
    """Commits ``total`` events over ``keys`` subjects to the outbox, ``chunk`` per
    transaction every ``every`` seconds; a chunk whose commit fails is tried again (the
    outbox's unique event id makes an already committed chunk count as done)."""

    pool: asyncpg.Pool
    total: int
    keys: int = 20
    chunk: int = 10
    every: float = 0.02
    committed: set[Any] = field(default_factory=set)
    failures: int = 0

    async def run(self) -> None:
        """Commit every event, in order, riding through outages."""
        versions: dict[str, int] = {}
        events = []
        for i in range(self.total):
            key = f"opp-{i % self.keys}"
            versions[key] = versions.get(key, 0) + 1
            events.append(lost_event(key, versions[key]))
        for start in range(0, self.total, self.chunk):
            await self._commit(events[start : start + self.chunk])
            await asyncio.sleep(self.every)  # the pace of the stream, not a wait

    async def _commit(self, chunk: list[Envelope[Any]]) -> None:
        while True:
            try:
                async with asyncio.timeout(5):
                    async with self.pool.acquire() as db, db.transaction():
                        await Outbox().add(db, *chunk)
            except asyncpg.UniqueViolationError:
                break  # the previous attempt committed after all
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                self.failures += 1
                logger.info("stream commit failed (%r); trying again", exc)
                await asyncio.sleep(0.2)  # a producer's own retry pace during an outage
                continue
            break
        self.committed.update(event.event_id for event in chunk)


async def effects(pool: asyncpg.Pool) -> int:
    """How many effects are recorded (0 while the database is away)."""
    try:
        return int(await pool.fetchval("SELECT count(*) FROM effects", timeout=3))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return 0


async def progress(pool: asyncpg.Pool) -> str:
    """Where the events are, for a failure message."""
    try:
        row = await pool.fetchrow(
            "SELECT (SELECT count(*) FROM effects) AS effects,"
            " (SELECT count(*) FROM messaging.outbox) AS outbox,"
            " (SELECT count(*) FROM messaging.outbox WHERE published_at IS NULL) AS unpublished,"
            " (SELECT count(*) FROM messaging.parked) AS parked",
            timeout=3,
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        return f"database unavailable: {exc!r}"
    return ", ".join(f"{key} {value}" for key, value in dict(row or {}).items())


async def drained(pool: asyncpg.Pool, n: int, within: float) -> None:
    """Wait until ``n`` effects are recorded; on failure say where the events are."""
    try:
        await eventually(at_least(pool, n), within=within, what=f"{n} effects")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {await progress(pool)}") from None


def at_least(pool: asyncpg.Pool, n: int) -> Callable[[], Awaitable[bool]]:
    """A check that ``n`` effects are recorded."""

    async def check() -> bool:
        return await effects(pool) >= n

    return check


async def assert_exactly_once(pool: asyncpg.Pool, stream: Stream) -> None:
    """Every committed event took effect once, in version order per subject; nothing parked."""
    rows = await pool.fetch("SELECT event_id, subject, version FROM effects ORDER BY serial")
    assert {row["event_id"] for row in rows} == stream.committed
    assert len(rows) == len(stream.committed) == stream.total
    seen: dict[str, list[int]] = {}
    for row in rows:
        seen.setdefault(row["subject"], []).append(row["version"])
    assert all(v == list(range(1, len(v) + 1)) for v in seen.values()), "out of order"
    assert await pool.fetchval("SELECT count(*) FROM messaging.parked") == 0
    unpublished = "SELECT count(*) FROM messaging.outbox WHERE published_at IS NULL"
    assert await pool.fetchval(unpublished) == 0


def counted(registry: CollectorRegistry, metric: str, **labels: str) -> float:
    """The sum of ``metric``'s samples whose labels include ``labels``."""
    total = 0.0
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == metric and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def new_metrics() -> tuple[CollectorRegistry, Metrics]:
    """A registry of one's own and the runtime's metrics on it."""
    registry = CollectorRegistry()
    return registry, Metrics(registry)


class Clock:
    """Seconds since it was made."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self) -> float:
        return round(time.monotonic() - self.started, 2)
