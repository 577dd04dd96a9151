"""``SqlUnitOfWork``: time-expense's repositories on one transaction's connection."""

from __future__ import annotations

from typing import Any

from tandem_connectors.landing import Landing
from tandem_connectors.xref import CrossReferences
from tandem_contracts import Envelope
from tandem_messaging import DbConnection, Outbox
from time_expense.adapters.ledger import SqlLedgers
from time_expense.adapters.reference import SqlReferenceData
from time_expense.service_layer.unit_of_work import AbstractUnitOfWork

__all__ = ["SqlUnitOfWork"]


class SqlUnitOfWork(AbstractUnitOfWork):
    """The tables of time-expense, the connectors' and the outbox, in one transaction."""

    def __init__(self, connection: DbConnection, outbox: Outbox) -> None:
        self.connection = connection
        self.ledgers: SqlLedgers = SqlLedgers(connection)
        self.reference = SqlReferenceData(connection)
        self.refs = CrossReferences(connection)
        self.landing = Landing(connection)
        self._outbox = outbox

    async def publish(self, *envelopes: Envelope[Any]) -> None:
        """Write the events to the outbox in this transaction."""
        await self._outbox.add(self.connection, *envelopes)

    async def flush(self) -> None:
        """Write the ledgers kept for the end of the transaction."""
        await self.ledgers.flush()
