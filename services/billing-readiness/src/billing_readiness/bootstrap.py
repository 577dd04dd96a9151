"""The composition root: the only place that knows the concrete adapters.

``dependencies`` and ``consumer_router`` wire the use cases to whatever systems and unit of
work they are given (the real ones in ``wire``, which the kit calls in the api process and in
the worker). ``DEFINITION`` is the service as the kit runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import tandem_connectors
import tandem_messaging
from billing_readiness.adapters.unit_of_work import SqlUnitOfWork
from billing_readiness.entrypoints.http import router as process_router
from billing_readiness.service_layer import handlers
from billing_readiness.service_layer.dependencies import Dependencies, policy_of
from billing_readiness.service_layer.jobs import jobs
from billing_readiness.service_layer.unit_of_work import AbstractUnitOfWork
from billing_readiness.settings import Settings
from tandem_connectors.systems import Systems, open_systems
from tandem_messaging import DbConnection, Outbox, Router, Transactions, transactions
from tandem_service_kit import Consume, Resources, ServiceDefinition, Wiring, consumer_settings

__all__ = ["DEFINITION", "MIGRATIONS", "consumer_router", "dependencies", "wire"]

MIGRATIONS = Path(__file__).parent / "migrations"
UnitOfWorkFactory = Callable[[DbConnection], AbstractUnitOfWork]


def _now() -> datetime:
    return datetime.now(UTC)


def dependencies(
    settings: Settings,
    systems: Systems,
    transactions: Transactions[AbstractUnitOfWork],
    clock: Callable[[], datetime] = _now,
) -> Dependencies:
    """The use cases' collaborators, on ``systems`` and ``transactions``."""
    return Dependencies(settings, policy_of(settings), systems.erp_directory, transactions, clock)


def consumer_router(deps: Dependencies, unit_of_work: UnitOfWorkFactory) -> Router:
    """The consumer's router, every handler given its dependencies."""
    return handlers.router().bind(unit_of_work=unit_of_work, deps=deps)


async def wire(resources: Resources[Settings]) -> Wiring:
    """billing-readiness on real parts: its tables and the configured ERPs."""
    settings, pool = resources.settings, resources.pool
    systems = open_systems(settings, resources.stack)
    outbox = Outbox(partition=handlers.lane_of)

    def unit_of_work(connection: DbConnection) -> AbstractUnitOfWork:
        return SqlUnitOfWork(connection, outbox)

    deps = dependencies(settings, systems, transactions(pool, unit_of_work))
    consume = Consume(
        handlers.QUEUE, consumer_router(deps, unit_of_work), consumer_settings(settings)
    )
    return Wiring(
        outbox=outbox, consume=consume, jobs=jobs(deps), erp_directory=deps.erps, deps=deps
    )


DEFINITION = ServiceDefinition(
    name="billing-readiness",
    settings=Settings,
    wire=wire,
    routers=(process_router,),
    migrations=(tandem_messaging.MIGRATIONS, tandem_connectors.MIGRATIONS, MIGRATIONS),
    writes_to_erp=True,
)
