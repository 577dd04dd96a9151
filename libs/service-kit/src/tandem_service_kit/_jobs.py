"""Periodic jobs run by one replica at a time: the holder of a PostgreSQL advisory lock."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass

import asyncpg
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Job", "JobMetrics", "Scheduler", "default_job_metrics"]

logger = logging.getLogger(__name__)

_LOCK_SPACE = 0x7A4F  # advisory-lock namespace of scheduler leadership (messaging uses 0x7A4D/E)
_TRY_LOCK = "SELECT pg_try_advisory_lock($1::int, hashtext($2))"
_UNLOCK = "SELECT pg_advisory_unlock($1::int, hashtext($2))"
_PING = "SELECT 1"
_TIMEOUT_S = 5.0  # a database that does not answer within this is treated as gone
# Whatever these say, the leader's session (and with it the lock) can no longer be trusted.
# (InternalClientError: a ping sent as the server's termination notice arrives.)
_CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
_KEBAB = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Job:
    """A named coroutine to run every ``interval_s`` seconds, first after ``initial_delay_s``.

    A run that answers a number (what it found: a reconciliation's mismatches, say) has it
    shown as ``tandem_job_last_found``, which alerts can watch."""

    name: str
    interval_s: float
    run: Callable[[], Awaitable[object]]
    initial_delay_s: float = 0.0

    def __post_init__(self) -> None:
        if not _KEBAB.match(self.name):
            raise ValueError(f"job name must be kebab-case: {self.name!r}")
        if not self.interval_s > 0 or not self.initial_delay_s >= 0:
            raise ValueError(f"job {self.name}: interval_s must be > 0, initial_delay_s >= 0")


class JobMetrics:
    """Runs, durations, last success per job, and whether this replica leads."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        labels = ("service", "job")
        self.runs = Counter(
            "tandem_job_runs_total", "Job runs by outcome", (*labels, "outcome"), registry=registry
        )
        self.duration = Histogram(
            "tandem_job_duration_seconds", "Job run duration", labels, registry=registry
        )
        self.last_success = Gauge(
            "tandem_job_last_success_timestamp_seconds",
            "Unix time of the job's last successful run",
            labels,
            registry=registry,
        )
        self.last_found = Gauge(
            "tandem_job_last_found",
            "What the job's last successful run found (e.g. reconciliation mismatches)",
            labels,
            registry=registry,
        )
        self.leader = Gauge(
            "tandem_scheduler_leader",
            "1 while this replica runs the jobs",
            ("service",),
            registry=registry,
        )

    def prepare(self, service: str, jobs: Sequence[Job]) -> None:
        """Create every series at zero, so a job that never ran still shows on a dashboard."""
        self.leader.labels(service).set(0)
        for job in jobs:
            for outcome in ("ok", "failed"):
                self.runs.labels(service, job.name, outcome)


_default: JobMetrics | None = None


def default_job_metrics() -> JobMetrics:
    """Return the process-wide job metrics on the default registry, created on first use."""
    global _default  # one set of collectors per default registry
    if _default is None:
        _default = JobMetrics()
    return _default


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; return whether it is set."""
    with suppress(TimeoutError):
        async with asyncio.timeout(max(seconds, 0.0)):
            await event.wait()
    return event.is_set()


async def _set_when(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


class Scheduler:
    """Run ``jobs`` on their intervals while this replica holds the service's leadership lock.

    The lock is session-level, so it lives on a dedicated connection to ``dsn`` (never one from
    a pool, which hands connections around). Use a direct PostgreSQL address, not a
    transaction-pooling proxy, which would move the session under the lock.
    """

    def __init__(
        self,
        dsn: str,
        service: str,
        jobs: Sequence[Job],
        *,
        retry_leadership_s: float = 5.0,
        metrics: JobMetrics | None = None,
    ) -> None:
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be unique: {names}")
        if not retry_leadership_s > 0:
            raise ValueError("retry_leadership_s must be > 0")
        self._dsn, self._service, self._jobs = dsn, service, tuple(jobs)
        self._retry_s = retry_leadership_s
        self._metrics = metrics if metrics is not None else default_job_metrics()
        self._leader = False
        self._connection_lock = asyncio.Lock()  # one query at a time on the leader's connection
        self._metrics.prepare(service, self._jobs)

    @property
    def is_leader(self) -> bool:
        """Whether this replica holds the lock and runs the jobs."""
        return self._leader

    async def run(self, stopping: asyncio.Event) -> None:
        """Compete for leadership and run the jobs while leading, until ``stopping`` is set."""
        while not stopping.is_set():
            connection = await self._acquire(stopping)
            if connection is None:
                return
            self._set_leader(True)
            try:
                await self._lead(connection, stopping)
            finally:
                self._set_leader(False)
                await self._release(connection, clean=stopping.is_set())
            # Unless stopping, leadership was lost: let the other replicas take it first.
            await _wait(stopping, self._retry_s)

    def _set_leader(self, leader: bool) -> None:
        if leader != self._leader:
            logger.info(
                "scheduler of %s %s leadership", self._service, "took" if leader else "left"
            )
        self._leader = leader
        self._metrics.leader.labels(self._service).set(1 if leader else 0)

    async def _acquire(self, stopping: asyncio.Event) -> asyncpg.Connection | None:
        connection: asyncpg.Connection | None = None
        while not stopping.is_set():
            try:
                if connection is None or connection.is_closed():
                    connection = await asyncpg.connect(self._dsn, timeout=_TIMEOUT_S)
                if await connection.fetchval(
                    _TRY_LOCK, _LOCK_SPACE, self._service, timeout=_TIMEOUT_S
                ):
                    return connection
            except _CONNECTION_ERRORS as exc:
                logger.warning("scheduler of %s cannot reach PostgreSQL: %r", self._service, exc)
                if connection is not None:
                    connection.terminate()
                connection = None
            await _wait(stopping, self._retry_s)
        if connection is not None:
            await self._release(connection, clean=False)
        return None

    async def _release(self, connection: asyncpg.Connection, *, clean: bool) -> None:
        try:
            if clean:
                await connection.fetchval(_UNLOCK, _LOCK_SPACE, self._service, timeout=_TIMEOUT_S)
            await connection.close(timeout=_TIMEOUT_S)
        except _CONNECTION_ERRORS:
            # Closing the session releases its locks anyway; a dead one has nothing to release.
            connection.terminate()

    async def _lead(self, connection: asyncpg.Connection, stopping: asyncio.Event) -> None:
        halt = asyncio.Event()  # set on stopping or on lost leadership: no new runs after it
        relay = asyncio.create_task(_set_when(stopping, halt))
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._watch(connection, halt))
                for job in self._jobs:
                    group.create_task(self._repeat(job, connection, halt))
        finally:
            relay.cancel()
            await asyncio.gather(relay, return_exceptions=True)

    async def _still_leading(self, connection: asyncpg.Connection) -> bool:
        try:
            async with self._connection_lock:
                await connection.fetchval(_PING, timeout=_TIMEOUT_S)
        except _CONNECTION_ERRORS as exc:
            logger.warning("scheduler of %s lost its lock connection: %r", self._service, exc)
            return False
        return True

    async def _watch(self, connection: asyncpg.Connection, halt: asyncio.Event) -> None:
        # Notice a lost connection between runs too, so is_leader and the gauge stay true.
        while not await _wait(halt, self._retry_s):
            if not await self._still_leading(connection):
                halt.set()

    async def _repeat(self, job: Job, connection: asyncpg.Connection, halt: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + job.initial_delay_s
        while not await _wait(halt, next_at - loop.time()):
            started = loop.time()
            if not await self._still_leading(connection):
                halt.set()
                return
            await self._run_once(job)
            # Spaced from the previous start, so a run's duration never adds up as drift; an
            # overrun starts the next run at once, never alongside.
            next_at = max(started + job.interval_s, loop.time())

    async def _run_once(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            found = await job.run()
        except Exception:
            logger.exception("job %s of %s failed", job.name, self._service)
            outcome = "failed"
        else:
            outcome = "ok"
            self._metrics.last_success.labels(self._service, job.name).set_to_current_time()
            if isinstance(found, int | float) and not isinstance(found, bool):
                self._metrics.last_found.labels(self._service, job.name).set(found)
        self._metrics.duration.labels(self._service, job.name).observe(
            time.perf_counter() - started
        )
        self._metrics.runs.labels(self._service, job.name, outcome).inc()
