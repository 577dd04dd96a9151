"""The worker: the consumer, the outbox relay, PSA polling and ingestion, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from datetime import timedelta

import asyncpg

from tandem_connectors.polling import Change, Poller
from tandem_connectors.ports import AbstractPsa
from tandem_messaging import Consumer, ConsumerSettings, DbConnection, Outbox, OutboxRelay
from tandem_service_kit import WorkerResources
from time_expense import bootstrap
from time_expense.adapters.inbound import Inbound
from time_expense.adapters.reference import ReferenceData
from time_expense.entrypoints.consumer import QUEUE, build_router, worker_of
from time_expense.service_layer.ingest import IngestContext, publish_landed
from time_expense.service_layer.reconciliation import Reconciler
from time_expense.settings import Settings

__all__ = ["main"]

logger = logging.getLogger(__name__)
# Timesheets first: a submission read in the same pass as its entries' decisions lands first.
_FEEDS = (("timesheets", "timesheet"), ("time-entries", "time_entry"), ("expenses", "expense"))


async def main(resources: WorkerResources[Settings]) -> None:
    """Consume, relay, poll and ingest (as ``worker_roles`` say) until ``resources.stopping``
    is set; then drain."""
    settings, pool, stopping = resources.settings, resources.pool, resources.stopping
    roles = settings.worker_roles
    async with AsyncExitStack() as stack:
        outbox = Outbox(partition=worker_of)
        loops = []
        if "relay" in roles:
            loops.append(OutboxRelay(pool, resources.connection).run(stopping))
        if "ingest" in roles:
            for name, psa in bootstrap.psa_adapters(settings, stack).items():
                ingest = IngestContext(psa, name, settings.tenant_id, outbox)
                loops.append(_every(settings.ingest_interval_s, stopping, _ingest(pool, ingest)))
                loops.append(
                    _every(settings.poll_interval_s, stopping, _poll(pool, psa, name, settings))
                )
        if "consume" in roles:
            consumer = Consumer(
                build_router(bootstrap.services(settings, stack)),
                queue=QUEUE,
                pool=pool,
                connection=resources.connection,
                settings=ConsumerSettings(
                    prefetch=settings.prefetch,
                    concurrency=settings.concurrency,
                    batch_size=settings.batch_size,
                    probe_backoff=(0.5, settings.probe_max_s),
                ),
                outbox=outbox,
            )
            await stack.enter_async_context(consumer)
        logger.info("worker roles: %s", ", ".join(sorted(roles)))
        await asyncio.gather(*loops, stopping.wait())


def _ingest(pool: asyncpg.Pool, ingest: IngestContext) -> Callable[[], Awaitable[int]]:
    async def once() -> int:
        total = 0
        while settled := await publish_landed(pool, ingest):
            total += settled
        return total

    return once


def _poll(
    pool: asyncpg.Pool, psa: AbstractPsa, name: str, settings: Settings
) -> Callable[[], Awaitable[int]]:
    lag = timedelta(seconds=settings.poll_lag_s)

    async def once() -> int:
        read = 0
        for feed, record_type in _FEEDS:

            async def land(
                db: DbConnection, page: Sequence[Change], kind: str = record_type
            ) -> None:
                await Inbound(db).land_many(
                    source=name, via="poll", record_type=kind, records=[c.data for c in page]
                )

            poller = Poller(pool, psa.change_source(feed), "psa", name, feed, lag=lag)
            read += await poller.catch_up(land)
        return read

    return once


def _reconcile(reconciler: Reconciler) -> Callable[[], Awaitable[int]]:
    """Reconcile this month and the last of every entity time-expense has projects of."""

    async def once() -> int:
        async with reconciler.pool.acquire() as db:
            entities = await ReferenceData(db).legal_entities()
        today = reconciler.clock().date()
        this_month = today.replace(day=1)
        last_month = (this_month - timedelta(days=1)).replace(day=1)
        found = 0
        for entity in entities:
            for start, end in ((last_month, this_month - timedelta(days=1)), (this_month, today)):
                report = await reconciler.run(entity, start, end, repair=True, trigger="schedule")
                found += len(report.mismatches)
                if report.mismatches:
                    logger.warning(
                        "reconciliation %s of %s %s..%s: %d mismatch(es), %d repaired",
                        report.run_id, entity, start, end, len(report.mismatches),
                        len(report.repaired),
                    )  # fmt: skip
        return found

    return once


async def _every(
    seconds: float, stopping: asyncio.Event, work: Callable[[], Awaitable[int]]
) -> None:
    """Run ``work`` every ``seconds`` until stopping; a failure is logged and retried later."""
    while not stopping.is_set():
        try:
            await work()
        except Exception:
            logger.exception("%s failed; trying again in %.1f s", work.__qualname__, seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)
