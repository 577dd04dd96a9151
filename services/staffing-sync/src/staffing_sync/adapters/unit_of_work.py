"""``SqlUnitOfWork``: staffing-sync's repositories on one transaction's connection."""

from __future__ import annotations

from typing import Any

from staffing_sync.adapters.bookings import SqlBookings, SqlProjects, SqlRateCards
from staffing_sync.adapters.hris import SqlHrisState
from staffing_sync.adapters.psa_rate_cards import SqlCrmAccounts, SqlPsaRateCards
from staffing_sync.adapters.psa_requests import SqlPsaRequests
from staffing_sync.adapters.repositories import SqlCostRates, SqlSync, SqlWorkers
from staffing_sync.adapters.requests import SqlCandidates, SqlProposals
from staffing_sync.service_layer.unit_of_work import AbstractUnitOfWork
from tandem_connectors.xref import CrossReferences
from tandem_contracts import Envelope
from tandem_messaging import DbConnection, Outbox

__all__ = ["SqlUnitOfWork"]


class SqlUnitOfWork(AbstractUnitOfWork):
    """staffing-sync's tables, the connectors' cross-references and the outbox, in one
    transaction."""

    def __init__(self, connection: DbConnection, outbox: Outbox) -> None:
        self.connection = connection
        self.workers = SqlWorkers(connection)
        self.cost_rates = SqlCostRates(connection)
        self.sync = SqlSync(connection)
        self.hris = SqlHrisState(connection)
        self.refs = CrossReferences(connection)
        self.projects = SqlProjects(connection)
        self.rate_cards = SqlRateCards(connection)
        self.bookings = SqlBookings(connection)
        self.candidates = SqlCandidates(connection)
        self.proposals = SqlProposals(connection)
        self.psa_requests = SqlPsaRequests(connection)
        self.psa_rate_cards = SqlPsaRateCards(connection)
        self.crm_accounts = SqlCrmAccounts(connection)
        self._outbox = outbox

    async def publish(self, *envelopes: Envelope[Any]) -> None:
        """Write the events to the outbox in this transaction."""
        await self._outbox.add(self.connection, *envelopes)

    async def flush(self) -> None:
        """Nothing is kept for the end of the transaction: repositories write when asked."""
