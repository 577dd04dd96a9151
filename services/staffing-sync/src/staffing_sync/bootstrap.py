"""The composition root: the only place that knows the concrete adapters.

``dependencies`` and ``consumer_router`` wire the use cases to whatever systems and unit of
work they are given (the real ones in ``wire``, which the kit calls in the api process and in
the worker). ``DEFINITION`` is the service as the kit runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import tandem_connectors
import tandem_messaging
from staffing_sync.adapters.psa_feeds import psa_changes
from staffing_sync.adapters.unit_of_work import SqlUnitOfWork
from staffing_sync.entrypoints.http import router as process_router
from staffing_sync.service_layer import handlers
from staffing_sync.service_layer.bookings import PsaBookings
from staffing_sync.service_layer.dependencies import Dependencies
from staffing_sync.service_layer.ingest import HRIS_INBOUND, HrisIngestion
from staffing_sync.service_layer.psa_inbound import PSA_INBOUND, PsaIngestion
from staffing_sync.service_layer.psa_rate_cards import RATE_CARDS_FEED, PsaRateCards
from staffing_sync.service_layer.resource_requests import PsaRequests
from staffing_sync.service_layer.unit_of_work import AbstractUnitOfWork
from staffing_sync.settings import Settings
from tandem_connectors.systems import Systems, open_systems
from tandem_messaging import DbConnection, Outbox, Router, Transactions, transactions
from tandem_service_kit import (
    Consume,
    InboundSource,
    Resources,
    ServiceDefinition,
    Wiring,
    consumer_settings,
)

__all__ = ["DEFINITION", "MIGRATIONS", "consumer_router", "dependencies", "wire"]

MIGRATIONS = Path(__file__).parent / "migrations"
UnitOfWorkFactory = Callable[[DbConnection], AbstractUnitOfWork]


def dependencies(
    settings: Settings, systems: Systems, transactions: Transactions[AbstractUnitOfWork]
) -> Dependencies:
    """The use cases' collaborators, on ``systems`` and ``transactions``."""
    psa = systems.psas[settings.psa_name()]
    return Dependencies(settings, systems.erp_directory, psa, transactions)


def consumer_router(deps: Dependencies, unit_of_work: UnitOfWorkFactory) -> Router:
    """The consumer's router, every handler given its dependencies."""
    return handlers.router().bind(
        unit_of_work=unit_of_work, erps=deps.erps, psa=deps.psa, settings=deps.settings
    )


async def wire(resources: Resources[Settings]) -> Wiring:
    """staffing-sync on real parts: its tables, the configured HRIS, PSA and ERPs."""
    settings, pool = resources.settings, resources.pool
    systems = open_systems(settings, resources.stack)
    outbox = Outbox(partition=handlers.lane_of)

    def unit_of_work(connection: DbConnection) -> AbstractUnitOfWork:
        return SqlUnitOfWork(connection, outbox)

    deps = dependencies(settings, systems, transactions(pool, unit_of_work))
    consume = Consume(
        handlers.QUEUE, consumer_router(deps, unit_of_work), consumer_settings(settings)
    )

    def hris_source(name: str) -> InboundSource:
        hris = systems.hrises[name]

        def ingestion(connection: DbConnection) -> HrisIngestion:
            return HrisIngestion(
                unit_of_work(connection), hris, name, settings.tenant_id, settings.region_of
            )

        secret = settings.hris_instances[name].webhook_secret
        # An instance configured without a secret is polled only, rather than refused at
        # start-up (its webhooks could not be verified).
        inbound = HRIS_INBOUND
        if not secret.get_secret_value():
            inbound = replace(inbound, webhook_subjects=frozenset())
        return InboundSource(
            inbound, name, ingestion, changes=hris.change_source, webhook_secret=secret
        )

    def psa_source(name: str) -> InboundSource:
        psa, config = systems.psas[name], settings.psa_instances[name]

        def ingestion(connection: DbConnection) -> PsaIngestion:
            uow = unit_of_work(connection)
            return PsaIngestion(
                PsaBookings(uow, psa, name, settings.tenant_id, settings.intercompany_pairs),
                PsaRequests(uow, psa, name, settings.tenant_id),
                PsaRateCards(
                    uow, name, settings.tenant_id, settings.home_entity(), settings.region_of
                ),
            )

        inbound = PSA_INBOUND  # polled only without a secret, as the HRIS
        if not config.webhook_secret.get_secret_value():
            inbound = replace(inbound, webhook_subjects=frozenset())
        changes = psa_changes(psa, name, config, resources.stack, RATE_CARDS_FEED.name)
        return InboundSource(
            inbound, name, ingestion, changes=changes, webhook_secret=config.webhook_secret
        )

    return Wiring(
        outbox=outbox,
        consume=consume,
        # Bookings, resource requests and rate cards are read from the PSA the resources are
        # kept in: only its bookings name staffing-sync's resources, its requests are staffed
        # from them, and its cards price them.
        sources=[*(hris_source(name) for name in systems.hrises), psa_source(settings.psa_name())],
        erp_directory=deps.erps,
        deps=deps,
    )


DEFINITION = ServiceDefinition(
    name="staffing-sync",
    settings=Settings,
    wire=wire,
    routers=(process_router,),
    migrations=(tandem_messaging.MIGRATIONS, tandem_connectors.MIGRATIONS, MIGRATIONS),
    inbound=(HRIS_INBOUND, PSA_INBOUND),
    writes_to_erp=True,
)
