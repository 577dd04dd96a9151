"""The ports the use cases work through: time-expense's repositories and its unit of work.

Handlers get a ``uow`` per transaction (the consumer's, or one ``Transactions`` opens): its
repositories read and write in that transaction, remember what they read, and keep what the
handlers decide until ``flush`` (the runtime flushes once per transaction, after the deferred
ERP writes and before the commit). ``adapters.unit_of_work.SqlUnitOfWork`` is the real one; the
unit tests' ``FakeUnitOfWork`` keeps everything in memory.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tandem_connectors.landing import AbstractLanding
from tandem_connectors.xref import AbstractCrossReferences
from tandem_contracts import Envelope
from tandem_contracts.entities import (
    AccountingPeriod,
    Assignment,
    CostRate,
    Expense,
    FxRate,
    Project,
    RateCard,
    TimeEntry,
    Worker,
)
from time_expense.domain import EntryLedger
from time_expense.domain.checks import Employment

__all__ = [
    "AbstractLedgers",
    "AbstractReferenceData",
    "AbstractUnitOfWork",
    "BusinessException",
    "ExpenseLedger",
    "JournalLine",
    "RunRecord",
]


@dataclass(frozen=True)
class JournalLine:
    """One line Tandem wrote to an ERP (a reversal has negative minutes and amounts)."""

    key: str
    subject_type: str
    subject_id: str
    kind: str
    erp_instance: str
    erp_id: str
    project_id: str
    worker_id: str
    legal_entity_id: str
    work_date: date
    accounting_date: date
    late: bool
    minutes: int
    bill_amount: Decimal | None
    cost_amount: Decimal | None
    amount: Decimal | None
    currency: str


@dataclass(frozen=True)
class BusinessException:
    """A business exception about one subject (a time entry or an expense)."""

    subject_type: str
    subject_id: str
    event_id: str
    reason: str
    detail: str
    retryable: bool
    waiting_for: str | None
    project_id: str | None
    worker_id: str | None
    legal_entity_id: str | None
    region: str | None
    org_unit_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExpenseLedger:
    """An expense's last handled version and where it stands (``posted``, ``reversed``...)."""

    expense: Expense
    version: int
    stage: str


@dataclass(frozen=True)
class RunRecord:
    """A reconciliation run as recorded: what it compared, found and repaired."""

    run_id: str
    legal_entity_id: str
    start: date
    end: date
    trigger: str
    psa_entries: int
    erp_lines: int
    mismatches: list[dict[str, Any]]
    repaired: list[str]
    started_at: datetime


class AbstractLedgers(ABC):
    """Entries' ledgers, the posting journal and business exceptions."""

    @abstractmethod
    async def entry(self, entry_id: str) -> EntryLedger | None:
        """The entry's ledger as this transaction left it, else as stored (locked for the
        transaction); ``None`` if never seen."""

    @abstractmethod
    def keep(self, ledger: EntryLedger, about: TimeEntry, region: str) -> None:
        """Save the entry's ledger at ``flush`` (``about`` gives the columns reports filter on)."""

    @abstractmethod
    async def journal(self, *lines: JournalLine) -> None:
        """Record lines written to the ERP, once per idempotency key."""

    @abstractmethod
    async def journal_line(self, key: str) -> JournalLine | None:
        """The line written under ``key``, if any."""

    @abstractmethod
    async def rewritten(self, key: str, erp_id: str) -> None:
        """The line written under ``key`` now lives at ``erp_id`` (the ERP lost the first and
        it was written again under the same key)."""

    @abstractmethod
    async def work_dates(self, keys: Sequence[str]) -> dict[str, date]:
        """The work date of each journal line written under one of ``keys``."""

    @abstractmethod
    async def priced(self, entry_ids: Sequence[str]) -> dict[str, tuple[Decimal, str]]:
        """The bill amount and currency each entry is posted at, net of reversals (entries
        never posted, or posted unpriced, are absent)."""

    @abstractmethod
    async def held(self, subject_type: str) -> set[str]:
        """Ids of the subjects with an open business exception."""

    @abstractmethod
    async def open_exception(self, exception: BusinessException) -> None:
        """Open (or refresh) the subject's business exception."""

    @abstractmethod
    def resolve(self, subject_type: str, subject_id: str) -> None:
        """Close the subject's open exception, if any, at ``flush``."""

    @abstractmethod
    async def expense(self, expense_id: str) -> ExpenseLedger | None:
        """The expense's ledger (locked for the transaction), if it was ever handled."""

    @abstractmethod
    async def save_expense(self, expense: Expense, version: int, stage: str) -> None:
        """Record the expense's latest handled version and stage."""

    @abstractmethod
    async def record_run(self, run: RunRecord) -> int:
        """Record a reconciliation run; answer its sequence number (ordering its events)."""


class AbstractReferenceData(ABC):
    """What time-expense keeps of other contexts' data. Reads are remembered for the
    transaction; a write forgets what it changes."""

    @abstractmethod
    async def project(self, project_id: str) -> Project | None:
        """The project as last activated or changed."""

    @abstractmethod
    async def save_project(self, project: Project, region: str | None = None) -> None:
        """Keep the project (and its entity's residency region, when told)."""

    @abstractmethod
    async def project_region(self, project_id: str) -> str | None:
        """The residency region of the project's legal entity."""

    @abstractmethod
    async def entity_region(self, legal_entity_id: str) -> str | None:
        """The residency region of a legal entity, as its projects' activations said."""

    @abstractmethod
    async def legal_entities(self) -> list[str]:
        """The legal entities time-expense has projects of."""

    @abstractmethod
    async def worker(self, worker_id: str) -> Worker | None:
        """The worker as HR last announced it."""

    @abstractmethod
    async def save_worker(self, worker: Worker) -> None:
        """Keep the worker's latest state."""

    @abstractmethod
    async def employments(self, worker_id: str) -> list[Employment]:
        """The worker's employments, each with its ERP employee (empty: none kept yet)."""

    @abstractmethod
    async def save_employment(self, worker_id: str, employment: Employment) -> None:
        """Keep an employment (the one the worker began on that day in that instance is
        replaced)."""

    @abstractmethod
    async def worker_of_employee(self, instance: str, employee: str) -> str | None:
        """The worker an ERP employee of ``instance`` is an employment of, if kept (an
        employee no longer linked to its worker: one it had before a transfer)."""

    @abstractmethod
    async def last_day(self, worker_id: str) -> date | None:
        """The worker's last day as HR last said it (``None``: none known)."""

    @abstractmethod
    async def save_last_day(self, worker_id: str, last_day: date | None) -> None:
        """Keep the worker's last day (``None`` forgets it: a rehire, a termination undone)."""

    @abstractmethod
    async def assignments(self, project_id: str, worker_id: str) -> list[Assignment]:
        """The worker's assignments on the project."""

    @abstractmethod
    async def save_assignment(self, assignment: Assignment) -> None:
        """Keep an assignment's latest state."""

    @abstractmethod
    async def cancel_assignment(self, assignment_id: str) -> None:
        """Mark an assignment cancelled."""

    @abstractmethod
    async def rate_cards(self, currency: str) -> list[RateCard]:
        """Every rate card in ``currency``."""

    @abstractmethod
    async def save_rate_card(self, card: RateCard, version: int) -> None:
        """Keep the card's published ``version`` unless a later one is kept."""

    @abstractmethod
    async def cost_rates(self, worker_id: str) -> list[CostRate]:
        """The worker's dated cost rates."""

    @abstractmethod
    async def save_cost_rate(self, rate: CostRate) -> None:
        """Keep a dated cost rate of a worker."""

    @abstractmethod
    async def fx_rates(self, base: str, quote: str, on: date) -> list[FxRate]:
        """The latest rates between two currencies on or before ``on``, both directions."""

    @abstractmethod
    async def save_fx_rate(self, rate: FxRate) -> None:
        """Keep an FX rate (immutable once published: a known id is kept as it was)."""

    @abstractmethod
    async def periods(self, legal_entity_id: str, ending_after: date) -> list[AccountingPeriod]:
        """The entity's periods ending on or after ``ending_after``, oldest first."""

    @abstractmethod
    async def save_period(self, period: AccountingPeriod) -> None:
        """Keep a period's latest status."""


class AbstractUnitOfWork(ABC):
    """The repositories of one transaction, and the events it publishes."""

    ledgers: AbstractLedgers
    reference: AbstractReferenceData
    refs: AbstractCrossReferences
    landing: AbstractLanding

    @abstractmethod
    async def publish(self, *envelopes: Envelope[Any]) -> None:
        """Publish events with the transaction (through the outbox)."""

    @abstractmethod
    async def flush(self) -> None:
        """Write what the repositories keep for the end of the transaction."""
