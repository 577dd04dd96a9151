"""The composition root: the only place that knows the concrete adapters.

``dependencies`` and ``consumer_router`` wire the use cases to whatever systems and unit of
work they are given — the real ones in ``wire`` (the kit calls it in the api process and in
the worker), fakes in the unit tests. ``DEFINITION`` is the service as the kit runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import tandem_connectors
import tandem_messaging
from tandem_connectors.systems import Systems, open_systems
from tandem_messaging import DbConnection, Outbox, Router, Transactions, transactions
from tandem_service_kit import (
    Consume,
    InboundSource,
    Job,
    Resources,
    ServiceDefinition,
    Wiring,
    consumer_settings,
)
from time_expense.adapters.unit_of_work import SqlUnitOfWork
from time_expense.domain.checks import IntercompanyPolicy
from time_expense.entrypoints.http import router as process_router
from time_expense.entrypoints.reconciliations import router as reconciliation_router
from time_expense.service_layer import handlers
from time_expense.service_layer.dependencies import Dependencies
from time_expense.service_layer.ingest import PSA_INBOUND, PsaIngestion
from time_expense.service_layer.periods import watch_periods
from time_expense.service_layer.policies import Clock, Policies, utc_now
from time_expense.service_layer.reconciliation import Reconciler, reconcile_all
from time_expense.service_layer.unit_of_work import AbstractUnitOfWork
from time_expense.settings import Settings

__all__ = ["DEFINITION", "Dependencies", "consumer_router", "dependencies", "wire"]

MIGRATIONS = Path(__file__).parent / "migrations"
UnitOfWorkFactory = Callable[[DbConnection], AbstractUnitOfWork]


def dependencies(
    settings: Settings,
    systems: Systems,
    transactions: Transactions[AbstractUnitOfWork],
    clock: Clock = utc_now,
) -> Dependencies:
    """The use cases' collaborators, on ``systems`` and ``transactions``."""
    policies = Policies(
        late_time=settings.late_time_policy,
        intercompany=IntercompanyPolicy(frozenset(settings.intercompany_pairs)),
    )
    quiet = timedelta(seconds=settings.reconcile_quiet_s)
    reconcilers = {
        name: Reconciler(
            transactions,
            systems.erp_directory,
            policies,
            psa,
            name,
            settings.tenant_id,
            clock,
            quiet,
        )
        for name, psa in systems.psas.items()
    }
    return Dependencies(
        systems.erp_directory, policies, clock, transactions, reconcilers, settings.tenant_id
    )


def consumer_router(deps: Dependencies, unit_of_work: UnitOfWorkFactory) -> Router:
    """The consumer's router, every handler given its dependencies."""
    return handlers.router().bind(
        unit_of_work=unit_of_work, erps=deps.erps, policies=deps.policies, clock=deps.clock
    )


async def wire(resources: Resources[Settings]) -> Wiring:
    """time-expense on real parts: its tables, the configured systems of record."""
    settings, pool = resources.settings, resources.pool
    systems = open_systems(settings, resources.stack)
    outbox = Outbox(partition=handlers.worker_of)

    def unit_of_work(connection: DbConnection) -> AbstractUnitOfWork:
        return SqlUnitOfWork(connection, outbox)

    deps = dependencies(settings, systems, transactions(pool, unit_of_work))
    consume = Consume(
        handlers.QUEUE, consumer_router(deps, unit_of_work), consumer_settings(settings)
    )

    async def reconcile() -> int:
        return await reconcile_all(deps.reconcilers, deps.transactions)

    async def periods() -> int:
        return await watch_periods(deps.transactions, deps.erps, deps.tenant_id, deps.clock)

    return Wiring(
        outbox=outbox,
        consume=consume,
        sources=[_psa_source(settings, name, systems, unit_of_work) for name in systems.psas],
        jobs=[
            Job("reconcile", settings.reconcile_interval_s, reconcile),
            Job("watch-periods", settings.period_watch_interval_s, periods),
        ],
        erp_directory=deps.erps,
        deps=deps,
    )


def _psa_source(
    settings: Settings, name: str, systems: Systems, unit_of_work: UnitOfWorkFactory
) -> InboundSource:
    psa = systems.psas[name]

    def ingestion(connection: DbConnection) -> PsaIngestion:
        return PsaIngestion(unit_of_work(connection), psa, name, settings.tenant_id)

    return InboundSource(
        PSA_INBOUND,
        name,
        ingestion,
        changes=psa.change_source,
        webhook_secret=settings.psa_instances[name].webhook_secret,
    )


DEFINITION = ServiceDefinition(
    name="time-expense",
    settings=Settings,
    wire=wire,
    routers=(process_router, reconciliation_router),
    migrations=(tandem_messaging.MIGRATIONS, tandem_connectors.MIGRATIONS, MIGRATIONS),
    inbound=(PSA_INBOUND,),
    writes_to_erp=True,
)
