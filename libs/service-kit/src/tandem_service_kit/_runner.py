"""The worker of a ``ServiceDefinition``: its roles, its probes, until told to stop.

``TANDEM_WORKER_ROLES`` says what a worker process runs (see ``WorkerRole``); one process may
run them all, or a deployment splits them (an ordered consumer on its own, ingestion and relays
beside it). Every worker serves ``/healthz``, ``/readyz`` and ``/metrics`` on
``TANDEM_WORKER_HTTP_PORT``. On SIGTERM: no new work; the consumer finishes what it holds and
acks nothing uncommitted; loops end after their current round; the scheduler lets a running job
finish and hands leadership over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any, TypeVar

from tandem_connectors.inbound import poll_feeds, publish_landed
from tandem_messaging import Consumer, OutboxRelay, purge_inbox, release_satisfied
from tandem_service_kit._companies import resolve_companies
from tandem_service_kit._jobs import Job, Scheduler
from tandem_service_kit._service import InboundSource, Resources, ServiceDefinition, Wiring
from tandem_service_kit._settings import ServiceSettings
from tandem_service_kit._worker import STARTING, WorkerResources
from tandem_service_kit._worker_http import WorkerHttp

__all__ = ["every", "scheduled_jobs", "service_worker"]

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=ServiceSettings)
_SWEEP_S = 60.0
_COMPANIES_S = 30.0
_RETENTION_S = 3600.0


def service_worker(
    definition: ServiceDefinition[S],
) -> Callable[[WorkerResources[S]], Awaitable[None]]:
    """The worker main of ``definition`` (for ``run_worker``)."""

    async def main(resources: WorkerResources[S]) -> None:
        settings, stopping, http = resources.settings, resources.stopping, resources.http
        if http is not None:
            # Before the first await (see run_worker): not ready until the roles run.
            http.checks[STARTING] = lambda: False
        async with AsyncExitStack() as stack:
            wiring = await definition.wire(
                Resources(settings, resources.pool, resources.connection, stack)
            )
            loops, checks = await _roles(wiring, resources, stack)
            if http is None and settings.worker_http_port is not None:
                http = WorkerHttp(
                    settings.http_host, settings.worker_http_port, resources.pool,
                    resources.connection, checks=checks,
                )  # fmt: skip
                loops.append(http.serve(stopping))
            elif http is not None:
                http.checks.update(checks)
                del http.checks[STARTING]
            logger.info("worker roles: %s", ", ".join(sorted(settings.worker_roles)))
            await asyncio.gather(*loops, stopping.wait())

    return main


async def _roles(
    wiring: Wiring, resources: WorkerResources[Any], stack: AsyncExitStack
) -> tuple[list[Coroutine[Any, Any, Any]], dict[str, Callable[[], bool]]]:
    settings, pool, connection = resources.settings, resources.pool, resources.connection
    roles, stopping = settings.worker_roles, resources.stopping
    loops: list[Coroutine[Any, Any, Any]] = []
    checks: dict[str, Callable[[], bool]] = {}
    if "relay" in roles:
        loops.append(OutboxRelay(pool, connection).run(stopping))
    if "ingest" in roles:
        for source in wiring.sources:
            loops += _ingest(source, wiring, resources)
    if "consume" in roles and wiring.consume is not None:
        consume = wiring.consume
        consumer = Consumer(
            consume.router, queue=consume.queue, pool=pool, connection=connection,
            settings=consume.settings, outbox=wiring.outbox,
        )  # fmt: skip
        await stack.enter_async_context(consumer)
        checks["consumer"] = lambda: consumer.running
    if "schedule" in roles:
        jobs = scheduled_jobs(wiring, resources)
        scheduler = Scheduler(settings.database_url, settings.service_name, jobs)
        loops.append(scheduler.run(stopping))
    return loops, checks


def scheduled_jobs(wiring: Wiring, resources: WorkerResources[Any]) -> list[Job]:
    """Every job the ``schedule`` role runs for ``wiring``: the service's own, then the kit's
    (for whichever process schedules, not only the consuming one)."""
    jobs = list(wiring.jobs)
    if wiring.consume is not None:
        jobs += _consumer_jobs(wiring, resources, wiring.consume.queue)
    jobs.append(_inbox_retention(resources))
    return jobs


def _inbox_retention(resources: WorkerResources[Any]) -> Job:
    """Every service's: purge inbox rows older than ``TANDEM_INBOX_RETENTION_DAYS``, hourly,
    first at once; a run answers how many rows it purged."""
    pool = resources.pool
    older_than = timedelta(days=resources.settings.inbox_retention_days)

    async def purge() -> int:
        async with pool.acquire() as db:
            return await purge_inbox(db, older_than=older_than)

    return Job("inbox-retention", _RETENTION_S, purge)


def _consumer_jobs(wiring: Wiring, resources: WorkerResources[Any], queue: str) -> list[Job]:
    """The kit's own jobs for a service with a consumer: release what waits for a dependency
    already met (a crash between commit and release), find ERP companies by their key."""
    pool, connection = resources.pool, resources.connection

    async def sweep() -> int:
        return await release_satisfied(pool, connection, queue)

    jobs = [Job("release-satisfied", _SWEEP_S, sweep, initial_delay_s=_SWEEP_S)]
    erps = wiring.erp_directory
    if erps is not None:

        async def find_companies() -> int:
            return await resolve_companies(pool, connection, queue, erps)

        jobs.append(Job("resolve-erp-companies", _COMPANIES_S, find_companies))
    return jobs


def _ingest(
    source: InboundSource, wiring: Wiring, resources: WorkerResources[Any]
) -> list[Coroutine[Any, Any, None]]:
    """The two loops of one source: poll its feeds; turn what landed into events."""
    settings, pool, stopping = resources.settings, resources.pool, resources.stopping
    system, instance = source.system, source.instance
    changes = source.changes
    feeds = [(feed, changes(feed.name)) for feed in source.inbound.feeds] if changes else []
    lag = timedelta(seconds=settings.poll_lag_s)

    async def poll() -> int:
        return await poll_feeds(pool, system, instance, feeds, lag)

    async def ingest() -> int:
        total = 0
        while settled := await publish_landed(
            pool, system, instance, source.ingestion, wiring.outbox
        ):
            total += settled
        return total

    loops = [every(settings.ingest_interval_s, stopping, ingest, f"ingest {system}/{instance}")]
    if feeds:
        loops.append(every(settings.poll_interval_s, stopping, poll, f"poll {system}/{instance}"))
    return loops


async def every(
    seconds: float, stopping: asyncio.Event, work: Callable[[], Awaitable[object]], name: str
) -> None:
    """Run ``work`` every ``seconds`` until stopping; a failure is logged and retried later."""
    while not stopping.is_set():
        try:
            await work()
        except Exception:
            logger.exception("%s failed; trying again in %.1f s", name, seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)
