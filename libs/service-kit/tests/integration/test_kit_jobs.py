"""Scheduled jobs on real PostgreSQL: one leader at a time, take-over, failures, no overlap."""

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from prometheus_client import CollectorRegistry

from tandem_service_kit import Job, JobMetrics, Scheduler
from tandem_testing import eventually

DEADLINE_S = 10.0
CLOSED_PORT_DATABASE = "postgresql://postgres:postgres@127.0.0.1:1/postgres"
LEADER_PID = """
SELECT pid FROM pg_locks
WHERE locktype = 'advisory' AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class Counted:
    """A job body that records when each of its runs started."""

    def __init__(self) -> None:
        self.starts: list[float] = []

    async def __call__(self) -> None:
        self.starts.append(asyncio.get_running_loop().time())


def scheduler(
    database_url: str,
    *jobs: Job,
    service: str = "kit-jobs",
    retry_s: float = 0.1,
    registry: CollectorRegistry | None = None,
) -> Scheduler:
    metrics = JobMetrics(registry if registry is not None else CollectorRegistry())
    return Scheduler(database_url, service, jobs, retry_leadership_s=retry_s, metrics=metrics)


@asynccontextmanager
async def running(scheduler: Scheduler) -> AsyncIterator[asyncio.Event]:
    """Run ``scheduler`` in the background; yield its stop event; stop it on the way out."""
    stopping = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stopping))
    try:
        yield stopping
    finally:
        stopping.set()
        await asyncio.wait_for(task, DEADLINE_S)


async def test_two_replicas_of_a_service_run_the_job_on_one_only(database_url: str) -> None:
    first, second = Counted(), Counted()
    registries = CollectorRegistry(), CollectorRegistry()
    one = scheduler(database_url, Job("tick", 0.05, first), registry=registries[0])
    two = scheduler(database_url, Job("tick", 0.05, second), registry=registries[1])

    async with running(one), running(two):
        await eventually(lambda: len(first.starts) + len(second.starts) >= 5)

        # Exactly one replica leads, and only the leader has ever run the job.
        assert [one.is_leader, two.is_leader].count(True) == 1
        ran, idle = (first, second) if one.is_leader else (second, first)
        assert len(ran.starts) >= 5
        assert idle.starts == []
        gauges = [
            registry.get_sample_value("tandem_scheduler_leader", {"service": "kit-jobs"})
            for registry in registries
        ]
        assert gauges == ([1.0, 0.0] if one.is_leader else [0.0, 1.0])

    # Stopped, neither claims leadership any more.
    assert not one.is_leader
    assert not two.is_leader


async def test_different_services_on_one_database_each_lead(database_url: str) -> None:
    billing, staffing = Counted(), Counted()
    one = scheduler(database_url, Job("tick", 0.05, billing), service="billing-readiness")
    two = scheduler(database_url, Job("tick", 0.05, staffing), service="staffing-sync")

    async with running(one), running(two):
        await eventually(lambda: len(billing.starts) >= 2 and len(staffing.starts) >= 2)

    assert one.is_leader is two.is_leader is False


async def test_another_replica_takes_over_when_the_leader_stops(database_url: str) -> None:
    first, second = Counted(), Counted()
    one = scheduler(database_url, Job("tick", 0.05, first))
    two = scheduler(database_url, Job("tick", 0.05, second))

    async with running(one) as stop_one:
        # The first replica leads alone, then a second one starts and waits.
        await eventually(lambda: len(first.starts) >= 2)
        async with running(two):
            await eventually(lambda: two.is_leader is False and len(first.starts) >= 4)
            assert second.starts == []

            # The leader stops: it releases the lock, and the other takes over within a bound.
            stop_one.set()
            await eventually(lambda: len(second.starts) >= 2, within=2.0)
            assert two.is_leader
            assert not one.is_leader


async def test_a_failing_job_keeps_its_schedule_and_is_counted(database_url: str) -> None:
    registry = CollectorRegistry()
    calls: list[int] = []

    async def flaky() -> None:
        calls.append(len(calls))
        if len(calls) % 2:
            raise RuntimeError("downstream said no")

    labels = {"service": "kit-jobs", "job": "flaky"}

    def runs(outcome: str) -> float:
        value = registry.get_sample_value("tandem_job_runs_total", labels | {"outcome": outcome})
        return value or 0.0

    async with running(scheduler(database_url, Job("flaky", 0.05, flaky), registry=registry)):
        await eventually(lambda: runs("failed") >= 3 and runs("ok") >= 3)

    # Every run after a failure still happened, and the successes were recorded as such.
    assert runs("failed") + runs("ok") == len(calls)
    last_success = registry.get_sample_value("tandem_job_last_success_timestamp_seconds", labels)
    assert last_success is not None
    assert last_success > 0
    assert registry.get_sample_value("tandem_job_duration_seconds_count", labels) == len(calls)


async def test_what_a_successful_run_found_is_shown_and_a_failed_run_leaves_it(
    database_url: str,
) -> None:
    registry = CollectorRegistry()
    labels = {"service": "kit-jobs", "job": "reconcile"}
    answers: list[int | Exception] = [3, RuntimeError("the ERP said no"), 0, 5]
    shown_at_start: list[float | None] = []

    async def reconcile() -> int:
        # What the previous runs left shown, read as each run starts.
        shown_at_start.append(registry.get_sample_value("tandem_job_last_found", labels))
        answer = answers[min(len(shown_at_start) - 1, len(answers) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    job = Job("reconcile", 0.05, reconcile)
    async with running(scheduler(database_url, job, registry=registry)):
        await eventually(lambda: len(shown_at_start) >= 5)

    # Nothing before the first run; 3 kept through the failure; then 0, then 5.
    assert shown_at_start[:5] == [None, 3.0, 3.0, 0.0, 5.0]


async def test_runs_are_spaced_by_the_interval_from_their_starts(database_url: str) -> None:
    job = Counted()

    async with running(scheduler(database_url, Job("tick", 0.1, job))):
        await eventually(lambda: len(job.starts) >= 4)

    gaps = [later - earlier for earlier, later in itertools.pairwise(job.starts)]
    # The leader check just before each run takes a moment of its own, hence the tolerance.
    assert all(gap >= 0.1 - 0.02 for gap in gaps), gaps


async def test_a_job_longer_than_its_interval_never_overlaps_itself(database_url: str) -> None:
    in_flight, most, starts = 0, 0, []

    async def slow() -> None:
        nonlocal in_flight, most
        starts.append(asyncio.get_running_loop().time())
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.12)  # the job's own work, three times its interval
        in_flight -= 1

    async with running(scheduler(database_url, Job("slow", 0.04, slow))):
        await eventually(lambda: len(starts) >= 4)

    assert most == 1
    # An overrun starts the next run as soon as the previous one ends, not an interval later.
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert all(0.12 <= gap < 0.12 + 0.5 for gap in gaps), gaps


async def test_stopping_waits_for_the_run_in_progress(database_url: str) -> None:
    began, finished = asyncio.Event(), asyncio.Event()

    async def long_run() -> None:
        began.set()
        await asyncio.sleep(0.2)  # the job's own work
        finished.set()

    one = scheduler(database_url, Job("long", 10.0, long_run))
    async with running(one) as stopping:
        await asyncio.wait_for(began.wait(), DEADLINE_S)
        stopping.set()

    # run() returned only once the job had finished, and the lock is free again.
    assert finished.is_set()
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetch(LEADER_PID) == []
    finally:
        await connection.close()


async def test_a_leader_whose_connection_is_killed_hands_over(database_url: str) -> None:
    first, second = Counted(), Counted()
    # The first replica waits long after losing its lock, so the second one surely wins it.
    one = scheduler(database_url, Job("tick", 0.05, first), retry_s=1.0)
    two = scheduler(database_url, Job("tick", 0.05, second), retry_s=0.1)
    admin = await asyncpg.connect(database_url)
    try:
        async with running(one):
            # Polled closely, so the kill lands just after a run, between two pings (a kill
            # landing on a ping is the next test's).
            await eventually(lambda: len(first.starts) >= 2, every=0.01)
            async with running(two):
                # The server drops the leader's session, as a database restart would.
                holders = await admin.fetch(LEADER_PID)
                assert len(holders) == 1
                assert await admin.fetchval("SELECT pg_terminate_backend($1)", holders[0]["pid"])

                # The old leader notices at its next check, stops, and the other one leads.
                await eventually(lambda: two.is_leader and not one.is_leader)
                runs_of_the_old_leader = len(first.starts)
                await eventually(lambda: len(second.starts) >= 6)
                assert len(first.starts) == runs_of_the_old_leader
    finally:
        await admin.close()


async def test_a_leader_whose_connection_is_killed_during_a_ping_leads_again(
    database_url: str,
) -> None:
    # A job every millisecond: the leader pings its lock connection all the time, so each kill
    # lands on a ping or just before one.
    job = Counted()
    one = scheduler(database_url, Job("tick", 0.001, job), retry_s=0.01)
    admin = await asyncpg.connect(database_url)
    stopping = asyncio.Event()
    task = asyncio.create_task(one.run(stopping))
    killed: set[int] = set()
    holders: list[int] = []

    async def leading_anew() -> bool:
        holders[:] = [row["pid"] for row in await admin.fetch(LEADER_PID)]
        return task.done() or (one.is_leader and holders[:1] != [] and holders[0] not in killed)

    try:
        for _ in range(10):
            await eventually(leading_anew, within=DEADLINE_S, what="leadership on a new session")
            assert not task.done(), "the scheduler ended when its session was killed"
            # The server drops the leader's session, as a database restart would.
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", holders[0])
            killed.add(holders[0])
        await eventually(leading_anew, within=DEADLINE_S, what="leadership on a new session")
        assert not task.done(), "the scheduler ended when its session was killed"
    finally:
        stopping.set()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), DEADLINE_S)
        await admin.close()
    assert len(killed) == 10
    assert job.starts


async def test_without_a_database_nobody_leads_and_stopping_still_works() -> None:
    job = Counted()
    one = scheduler(CLOSED_PORT_DATABASE, Job("tick", 0.05, job), retry_s=0.05)
    stopping = asyncio.Event()
    task = asyncio.create_task(one.run(stopping))

    # Several failed attempts later it is still trying, not crashed, and leads nothing.
    done, _ = await asyncio.wait({task}, timeout=0.3)
    assert not done
    assert not one.is_leader

    stopping.set()
    await asyncio.wait_for(task, 1.0)
    assert job.starts == []
