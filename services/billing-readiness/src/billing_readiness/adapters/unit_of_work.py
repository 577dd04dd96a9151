"""``SqlUnitOfWork``: billing-readiness's repositories on one transaction's connection."""

from __future__ import annotations

from typing import Any

from billing_readiness.adapters.charges import SqlCharges, SqlPending
from billing_readiness.adapters.invoices import SqlAudit, SqlInvoices
from billing_readiness.adapters.repositories import (
    SqlCustomers,
    SqlFxRates,
    SqlProjects,
    SqlRateCards,
)
from billing_readiness.service_layer.unit_of_work import AbstractUnitOfWork
from tandem_connectors.xref import CrossReferences
from tandem_contracts import Envelope
from tandem_messaging import DbConnection, Outbox

__all__ = ["SqlUnitOfWork"]


class SqlUnitOfWork(AbstractUnitOfWork):
    """billing-readiness's tables, the connectors' cross-references and the outbox, in one
    transaction."""

    def __init__(self, connection: DbConnection, outbox: Outbox) -> None:
        self.connection = connection
        self.customers = SqlCustomers(connection)
        self.projects = SqlProjects(connection)
        self.charges = SqlCharges(connection)
        self.rate_cards = SqlRateCards(connection)
        self.fx_rates = SqlFxRates(connection)
        self.pending = SqlPending(connection)
        self.invoices = SqlInvoices(connection)
        self.audit = SqlAudit(connection)
        self.refs = CrossReferences(connection)
        self._outbox = outbox

    async def publish(self, *envelopes: Envelope[Any]) -> None:
        """Write the events to the outbox in this transaction."""
        await self._outbox.add(self.connection, *envelopes)

    async def flush(self) -> None:
        """Nothing is kept for the end of the transaction: repositories write when asked."""
