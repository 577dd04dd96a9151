"""The composition root: the only place that knows the concrete adapters.

``DEFINITION`` is observability as the kit runs it: a consumer of every event on the bus
(``recording``), jobs that fold steps into KPIs and SLO measures, and the ``/v1`` API and the
console. It writes to no system of record and lands no webhooks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import tandem_messaging
from observability.adapters import kubernetes, rabbitmq
from observability.adapters.parking import HttpParkingLots
from observability.adapters.store import SqlKpiStore
from observability.adapters.unit_of_work import SqlUnitOfWork
from observability.entrypoints.console import console_router
from observability.entrypoints.http import router as process_router
from observability.metrics import shared_metrics
from observability.service_layer import jobs, recording
from observability.service_layer.dependencies import Dependencies
from observability.service_layer.unit_of_work import AbstractUnitOfWork
from observability.settings import Settings
from tandem_messaging import DbConnection, Outbox, Router, transactions
from tandem_service_kit import (
    Consume,
    Job,
    Resources,
    ServiceDefinition,
    Wiring,
    consumer_settings,
)

__all__ = ["DEFINITION", "MIGRATIONS", "consumer_router", "wire"]

MIGRATIONS = Path(__file__).parent / "migrations"
UnitOfWorkFactory = Callable[[DbConnection], AbstractUnitOfWork]
_KPI_METRICS_INTERVAL_S = 60.0
_RETENTION_INTERVAL_S = 3600.0


def utc_now() -> datetime:
    """The time now, in UTC."""
    return datetime.now(UTC)


def consumer_router(unit_of_work: UnitOfWorkFactory) -> Router:
    """The consumer's router: every event recorded as a step."""
    return recording.router().bind(unit_of_work=unit_of_work)


async def wire(resources: Resources[Settings]) -> Wiring:
    """observability on real parts: its tables, the parking lots, the fleet's sources."""
    settings, pool = resources.settings, resources.pool
    outbox = Outbox(partition=recording.lane_of)

    def unit_of_work(connection: DbConnection) -> AbstractUnitOfWork:
        return SqlUnitOfWork(connection, outbox)

    parking = HttpParkingLots(settings.parking_lots)
    resources.stack.push_async_callback(parking.aclose)
    broker = rabbitmq.from_settings(settings)
    if broker is not None:
        resources.stack.push_async_callback(broker.aclose)
    fleet = kubernetes.from_settings(settings)
    if fleet is not None:
        resources.stack.callback(fleet.close)
    deps = Dependencies(
        settings=settings,
        pool=pool,
        transactions=transactions(pool, unit_of_work),
        store=SqlKpiStore(pool),
        metrics=shared_metrics(),
        clock=utc_now,
        parking_lots=parking,
        fleet=fleet,
        broker=broker,
    )
    return Wiring(
        outbox=outbox,
        consume=Consume(
            recording.QUEUE, consumer_router(unit_of_work), consumer_settings(settings)
        ),
        jobs=[
            Job("fold-kpis", settings.kpi_interval_s, partial(jobs.fold_kpis, deps)),
            Job("kpi-metrics", _KPI_METRICS_INTERVAL_S, partial(jobs.publish_kpi_metrics, deps)),
            Job(
                "utilization",
                settings.utilization_interval_s,
                partial(jobs.check_utilization, deps),
            ),
            Job("step-retention", _RETENTION_INTERVAL_S, partial(jobs.purge, deps)),
        ],
        deps=deps,
    )


DEFINITION = ServiceDefinition(
    name="observability",
    settings=Settings,
    wire=wire,
    routers=(process_router, console_router()),
    migrations=(tandem_messaging.MIGRATIONS, MIGRATIONS),
)
