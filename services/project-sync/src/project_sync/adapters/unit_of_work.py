"""``SqlUnitOfWork``: project-sync's repositories on one transaction's connection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from project_sync.adapters.delivery import SqlAssignments, SqlDelivery
from project_sync.adapters.repositories import (
    SqlApprovals,
    SqlCustomers,
    SqlOpportunities,
    SqlProjects,
    SqlReference,
    SqlSagas,
)
from project_sync.service_layer.unit_of_work import AbstractUnitOfWork
from tandem_connectors.xref import CrossReferences
from tandem_contracts import Envelope
from tandem_messaging import DbConnection, Outbox

__all__ = ["SqlUnitOfWork"]


class SqlUnitOfWork(AbstractUnitOfWork):
    """project-sync's tables, the connectors' cross-references and the outbox, in one
    transaction."""

    def __init__(
        self,
        connection: DbConnection,
        outbox: Outbox,
        entity_currencies: Mapping[str, frozenset[str]] | None = None,
        *,
        time_requires_assignment: bool = False,
    ) -> None:
        self.connection = connection
        self.sagas = SqlSagas(connection)
        self.customers = SqlCustomers(connection)
        self.opportunities = SqlOpportunities(connection)
        self.reference = SqlReference(connection, entity_currencies or {})
        self.projects = SqlProjects(connection, time_requires_assignment)
        self.approvals = SqlApprovals(connection)
        self.delivery = SqlDelivery(connection)
        self.assignments = SqlAssignments(connection)
        self.refs = CrossReferences(connection)
        self._outbox = outbox

    async def publish(self, *envelopes: Envelope[Any]) -> None:
        """Write the events to the outbox in this transaction."""
        await self._outbox.add(self.connection, *envelopes)

    async def flush(self) -> None:
        """Nothing is kept for the end of the transaction: repositories write when asked."""
