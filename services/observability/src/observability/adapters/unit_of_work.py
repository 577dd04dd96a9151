"""``SqlUnitOfWork``: observability's tables and the outbox on one transaction's connection."""

from __future__ import annotations

from typing import Any

from observability.adapters.steps import insert_steps
from observability.service_layer.unit_of_work import (
    AbstractBreaches,
    AbstractSteps,
    AbstractUnitOfWork,
)
from tandem_contracts import Envelope
from tandem_messaging import DbConnection, Outbox

__all__ = ["SqlBreaches", "SqlSteps", "SqlUnitOfWork"]


class SqlSteps(AbstractSteps):
    """Steps written with two statements per transaction."""

    def __init__(self, connection: DbConnection) -> None:
        super().__init__()
        self._connection = connection

    async def write(self) -> int:
        """Write the pending steps (new ones only); answer how many were new."""
        steps, self.pending = self.pending, []
        return await insert_steps(self._connection, steps) if steps else 0


class SqlBreaches(AbstractBreaches):
    """Breaches noted in ``observability.breaches``."""

    def __init__(self, connection: DbConnection) -> None:
        self._connection = connection

    async def first(self, worker_id: str, period: str, direction: str) -> bool:
        """Note the breach; True when it is new."""
        noted = await self._connection.fetchval(
            "INSERT INTO observability.breaches (worker_id, period, direction)"
            " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING true",
            worker_id,
            period,
            direction,
        )
        return bool(noted)


class SqlUnitOfWork(AbstractUnitOfWork):
    """One transaction: its steps and its outbox."""

    def __init__(self, connection: DbConnection, outbox: Outbox) -> None:
        self.connection = connection
        self.steps = SqlSteps(connection)
        self.breaches = SqlBreaches(connection)
        self._outbox = outbox

    async def publish(self, *envelopes: Envelope[Any]) -> None:
        """Write the events to the outbox in this transaction."""
        await self._outbox.add(self.connection, *envelopes)
