"""time-expense's unit of work in memory: a ``FakeStore`` of committed state, and a
``FakeUnitOfWork`` per transaction on it.

A unit of work works on a copy of the store's tables and writes it back in ``flush`` (the
commit), with the events it published (the outbox): a transaction that raises leaves nothing
behind, as the SQL unit of work in a rolled-back transaction. The cross-references and the
landing table are the connectors' fakes, shared by every transaction and never rolled back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fake_repositories import FakeLedgers, FakeReferenceData, Tables

from tandem_connectors.fakes import FakeCrossReferences, FakeLanding
from tandem_contracts import Envelope, Event
from tandem_messaging import Transactions
from time_expense.domain import EntryLedger
from time_expense.service_layer.unit_of_work import AbstractUnitOfWork, BusinessException

__all__ = ["FakeLedgers", "FakeReferenceData", "FakeStore", "FakeUnitOfWork", "fake_transactions"]

E = TypeVar("E", bound=Event)


@dataclass
class FakeStore:
    """The committed state: time-expense's tables, the outbox, the connectors' tables.

    ``failing_commits`` makes that many next commits fail, as a database lost mid-transaction.
    """

    tables: Tables = field(default_factory=Tables)
    outbox: list[Envelope[Any]] = field(default_factory=list)
    refs: FakeCrossReferences = field(default_factory=FakeCrossReferences)
    landing: FakeLanding = field(default_factory=FakeLanding)
    commits: int = 0
    failing_commits: int = 0

    def commit(self, tables: Tables, published: list[Envelope[Any]]) -> None:
        """Make ``tables`` and ``published`` the committed state."""
        if self.failing_commits:
            self.failing_commits -= 1
            raise ConnectionError("the connection was lost before the commit")
        self.tables = tables.copy()
        self.outbox.extend(published)
        self.commits += 1

    def ledger(self, entry_id: str) -> EntryLedger | None:
        """The entry's committed ledger."""
        kept = self.tables.entries.get(entry_id)
        return kept[0] if kept else None

    def open_exceptions(self, subject_type: str = "time_entry") -> dict[str, BusinessException]:
        """The open business exceptions of ``subject_type``, by subject id."""
        return {
            subject_id: exception
            for (kind, subject_id), exception in self.tables.exceptions.items()
            if kind == subject_type and (kind, subject_id) not in self.tables.resolved
        }

    def outbox_of(self, model: type[E]) -> list[Envelope[E]]:
        """The committed outbox's envelopes of ``model``."""
        return [e for e in self.outbox if isinstance(e.payload, model)]


class FakeUnitOfWork(AbstractUnitOfWork):
    """One transaction on ``store``: its tables copied at the start, committed by ``flush``."""

    def __init__(
        self,
        store: FakeStore,
        *,
        refs: FakeCrossReferences | None = None,
        landing: FakeLanding | None = None,
    ) -> None:
        self._store = store
        self._tables = store.tables.copy()
        self._published: list[Envelope[Any]] = []
        self.ledgers: FakeLedgers = FakeLedgers(self._tables)
        self.reference: FakeReferenceData = FakeReferenceData(self._tables)
        self.refs: FakeCrossReferences = store.refs if refs is None else refs
        self.landing: FakeLanding = store.landing if landing is None else landing

    async def publish(self, *envelopes: Envelope[Any]) -> None:
        self._published.extend(envelopes)

    async def flush(self) -> None:
        """Write what the ledgers keep, then commit the tables and the outbox."""
        await self.ledgers.flush()
        published, self._published = self._published, []
        self._store.commit(self._tables, published)


def fake_transactions(store: FakeStore) -> Transactions[AbstractUnitOfWork]:
    """``tandem_messaging.transactions`` on ``store``: committed on exit, dropped on error."""

    @asynccontextmanager
    async def begin() -> AsyncIterator[AbstractUnitOfWork]:
        uow = FakeUnitOfWork(store)
        yield uow
        await uow.flush()

    return begin
