"""The composition root: the only place that knows the concrete adapters.

``dependencies`` and ``consumer_router`` wire the use cases to whatever systems and unit of
work they are given (the real ones in ``wire``, which the kit calls in the api process and
in the worker). ``DEFINITION`` is the service as the kit runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import tandem_connectors
import tandem_messaging
from project_sync.adapters.unit_of_work import SqlUnitOfWork
from project_sync.entrypoints.http import router as process_router
from project_sync.service_layer import handlers
from project_sync.service_layer.dependencies import Dependencies
from project_sync.service_layer.ingest import CRM_INBOUND, CrmIngestion
from project_sync.service_layer.jobs import resume_held, watch_stuck
from project_sync.service_layer.psa_ingest import PSA_DELIVERY_INBOUND, PsaDelivery
from project_sync.service_layer.runner import Clock, SagaRunner
from project_sync.service_layer.unit_of_work import AbstractUnitOfWork
from project_sync.settings import Settings
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

__all__ = ["DEFINITION", "MIGRATIONS", "consumer_router", "dependencies", "utc_now", "wire"]

MIGRATIONS = Path(__file__).parent / "migrations"
UnitOfWorkFactory = Callable[[DbConnection], AbstractUnitOfWork]


def utc_now() -> datetime:
    """The time now, in UTC."""
    return datetime.now(UTC)


def dependencies(
    settings: Settings,
    systems: Systems,
    transactions: Transactions[AbstractUnitOfWork],
    clock: Clock = utc_now,
) -> Dependencies:
    """The use cases' collaborators, on ``systems`` and ``transactions``."""
    runner = SagaRunner(
        systems.erp_directory, systems.psas, systems.crms, settings.tenant_id,
        settings.region_of, clock, settings.time_requires_assignment,
    )  # fmt: skip
    return Dependencies(settings, systems.erp_directory, systems.crms, runner, clock, transactions)


def consumer_router(deps: Dependencies, unit_of_work: UnitOfWorkFactory) -> Router:
    """The consumer's router, every handler given its dependencies."""
    return handlers.router().bind(
        unit_of_work=unit_of_work, erps=deps.erps, crms=deps.crms, runner=deps.runner,
        settings=deps.settings, clock=deps.clock,
    )  # fmt: skip


async def wire(resources: Resources[Settings]) -> Wiring:
    """project-sync on real parts: its tables, the configured systems of record."""
    settings, pool = resources.settings, resources.pool
    systems = open_systems(settings, resources.stack)
    outbox = Outbox(partition=handlers.lane_of)
    currencies = {entity: frozenset(c) for entity, c in settings.entity_currencies.items()}

    def unit_of_work(connection: DbConnection) -> AbstractUnitOfWork:
        return SqlUnitOfWork(
            connection, outbox, currencies,
            time_requires_assignment=settings.time_requires_assignment,
        )  # fmt: skip

    deps = dependencies(settings, systems, transactions(pool, unit_of_work))
    consume = Consume(
        handlers.QUEUE, consumer_router(deps, unit_of_work), consumer_settings(settings)
    )
    limits = settings.step_limits()

    async def watchdog() -> int:
        return await watch_stuck(deps.transactions, deps.runner, limits)

    async def resume() -> int:
        return await resume_held(deps.transactions, deps.runner)

    def source(name: str) -> InboundSource:
        crm = systems.crms[name]

        def ingestion(connection: DbConnection) -> CrmIngestion:
            return CrmIngestion(unit_of_work(connection), crm, name, settings)

        return InboundSource(
            CRM_INBOUND, name, ingestion, changes=crm.change_source,
            webhook_secret=settings.crm_instances[name].webhook_secret,
        )  # fmt: skip

    def psa_source(name: str) -> InboundSource:
        psa = systems.psas[name]

        def ingestion(connection: DbConnection) -> PsaDelivery:
            return PsaDelivery(
                unit_of_work(connection), psa, name, settings.tenant_id, settings.region_of
            )

        secret = settings.psa_instances[name].webhook_secret
        # project-sync took no PSA webhooks before: an instance configured without a secret
        # is polled only, rather than refused at start-up.
        inbound = PSA_DELIVERY_INBOUND
        if not secret.get_secret_value():
            inbound = replace(inbound, webhook_subjects=frozenset())
        return InboundSource(
            inbound, name, ingestion, changes=psa.change_source, webhook_secret=secret
        )

    return Wiring(
        outbox=outbox,
        consume=consume,
        sources=[
            *(source(name) for name in systems.crms),
            *(psa_source(name) for name in systems.psas),
        ],
        jobs=[
            Job("watch-stuck-sagas", settings.watchdog_interval_s, watchdog),
            Job("resume-held-sagas", settings.resume_interval_s, resume),
        ],
        erp_directory=deps.erps,
        deps=deps,
    )


DEFINITION = ServiceDefinition(
    name="project-sync",
    settings=Settings,
    wire=wire,
    routers=(process_router,),
    migrations=(tandem_messaging.MIGRATIONS, tandem_connectors.MIGRATIONS, MIGRATIONS),
    inbound=(CRM_INBOUND, PSA_DELIVERY_INBOUND),
    writes_to_erp=True,
)
