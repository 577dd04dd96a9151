"""The ports billing-readiness's use cases run on: its repositories in one transaction.

The service layer depends on these abstract classes only; ``adapters`` holds the SQL ones.
Every repository works inside the unit of work's transaction: a handler's reads, its charges,
its events (the outbox) and the inbox's record of the message commit together or not at all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from billing_readiness.domain import (
    BillingTerms,
    ChargeLine,
    CustomerStanding,
    Leak,
    Ledger,
    Proposal,
)
from tandem_connectors.xref import AbstractCrossReferences
from tandem_contracts import Envelope, Money
from tandem_contracts.entities import Contract, Customer, FxRate, Project, RateCard
from tandem_contracts.events import HoldReason

__all__ = [
    "AbstractAudit",
    "AbstractCharges",
    "AbstractCustomers",
    "AbstractFxRates",
    "AbstractInvoices",
    "AbstractPending",
    "AbstractProjects",
    "AbstractRateCards",
    "AbstractUnitOfWork",
    "ChargeRecord",
    "InvoiceRecord",
    "InvoiceTotals",
    "KnownProject",
    "PendingTime",
]


class ChargeRecord(NamedTuple):
    """A charge as kept: the line, and whether (and on which invoice) it was invoiced."""

    line: ChargeLine
    status: str
    invoice_id: str | None


@dataclass(frozen=True, slots=True)
class KnownProject:
    """A project's billing terms with what routes its events and invoices."""

    terms: BillingTerms
    region: str
    version: int
    disputed: bool
    payment_terms_days: int | None
    correlation_id: str | None
    org_unit_ids: frozenset[str] = frozenset()
    contract_known: bool = True
    """False while the project names a contract billing-readiness has not kept yet."""


class InvoiceRecord(NamedTuple):
    """An invoice or credit note billing-readiness proposed, and what the ERP made of it."""

    invoice_id: str
    project_id: str
    status: str
    credit_of: str | None
    erp_instance: str | None
    erp_id: str | None
    number: str | None
    proposal: dict[str, Any]


class PendingTime(NamedTuple):
    """Approved billable time not charged yet (not posted, or refused on its way to the ERP):
    when it was approved and what it is worth (None: approved without a bill rate)."""

    time_entry_id: str
    project_id: str
    work_date: date
    approved_at: datetime
    value: Money | None
    failed_reason: str | None


class InvoiceTotals(NamedTuple):
    """An invoice as recorded here, with the ERP's totals once posted and the sum and count
    of the charges marked as on it (what reconciliation compares)."""

    invoice_id: str
    project_id: str
    seller_entity: str
    period: str
    currency: str
    status: str
    credit_of: str | None
    invoice_date: date
    subtotal: Decimal
    total: Decimal
    erp_instance: str | None
    erp_id: str | None
    number: str | None
    erp_subtotal: Decimal | None
    erp_total: Decimal | None
    proposed_at: datetime
    charged: Decimal
    charges: int


class AbstractCustomers(ABC):
    @abstractmethod
    async def keep(self, customer: Customer, version: int) -> bool:
        """Keep ``customer`` at ``version`` unless a newer one is kept; True when kept."""

    @abstractmethod
    async def standing(self, customer_id: str) -> CustomerStanding | None:
        """The customer's standing (tax profile, credit hold), or None while unknown."""

    @abstractmethod
    async def payment_terms(self, customer_id: str) -> int | None:
        """The customer's payment terms in days, when known."""


class AbstractProjects(ABC):
    @abstractmethod
    async def keep(self, project: Project, region: str, version: int, correlation_id: str) -> bool:
        """Keep the active project's terms at ``version`` unless newer are kept."""

    @abstractmethod
    async def keep_contract(
        self, contract: Contract, project_ids: Sequence[str], version: int
    ) -> bool:
        """Keep the approved contract at ``version`` unless newer is kept; its projects'
        terms take its model, value, cap and PO."""

    @abstractmethod
    async def change_order(self, project_id: str, cap: Any, total_value: Any) -> None:
        """A change order's new cap and value (``Money`` or None: unchanged)."""

    @abstractmethod
    async def get(self, project_id: str) -> KnownProject | None:
        """The project's terms, or None while it is not active."""

    @abstractmethod
    async def of_customer(self, customer_id: str) -> list[str]:
        """The customer's known projects."""

    @abstractmethod
    async def set_disputed(self, project_id: str, disputed: bool) -> None:
        """Put or lift a dispute on the project."""

    @abstractmethod
    async def of_contract(self, contract_id: str) -> list[str]:
        """The known projects that name the contract."""

    @abstractmethod
    async def lock_terms(self, keys: Sequence[str]) -> None:
        """Hold the terms of these projects and contracts (``project:<id>``,
        ``contract:<id>``) for the transaction: a contract and its project, kept on two lanes,
        are never kept at the same moment, each missing the other."""

    @abstractmethod
    async def lock_standing(self, customer_id: str, *, exclusive: bool) -> None:
        """Hold the customer's standing for the transaction: shared to read it and charge by
        it, exclusive to restate its projects' charges (see ``standing``)."""


class AbstractCharges(ABC):
    @abstractmethod
    async def add(self, lines: Sequence[ChargeLine]) -> list[ChargeLine]:
        """Keep the charges not kept yet (ids are deterministic); answer those added."""

    @abstractmethod
    async def of_source(self, source_id: str) -> list[ChargeRecord]:
        """The charges made from ``source_id`` (a time entry, expense or milestone)."""

    @abstractmethod
    async def get(self, charge_id: str) -> ChargeRecord | None:
        """One charge."""

    @abstractmethod
    async def open_of_project(self, project_id: str) -> list[ChargeRecord]:
        """The project's charges not invoiced, oldest first."""

    @abstractmethod
    async def set_holds(self, charge_id: str, holds: frozenset[HoldReason]) -> None:
        """Replace the charge's holds."""

    @abstractmethod
    async def write_off(self, charge_id: str, note: str) -> None:
        """Make the charge non-billable (written off), its holds cleared."""

    @abstractmethod
    async def ledger(self, project_id: str, currency: str) -> Ledger:
        """What the project has been charged so far (caps, retainer drawdown)."""

    @abstractmethod
    async def invoiced(self, charge_ids: Sequence[str], invoice_id: str) -> None:
        """Mark the charges as on ``invoice_id``."""

    @abstractmethod
    async def set_standard_rate(self, charge_ids: Sequence[str], rate: Money) -> None:
        """The rate card's rate of the time these charges bill (for leakage)."""

    @abstractmethod
    async def standard_rates(self, project_id: str) -> dict[str, Money]:
        """The standard rate of each of the project's time charges that has one."""

    @abstractmethod
    async def projects_to_invoice(
        self, before_period: str, limit: int, *, after: str = ""
    ) -> list[str]:
        """Projects with open billable charges of a period before ``before_period``, or with
        reversals of invoiced charges (to credit)."""

    @abstractmethod
    async def projects_with_open(self) -> list[str]:
        """Every project with a charge not invoiced (billable, held, written off or not)."""

    @abstractmethod
    async def open_to_report(self, project_id: str) -> list[ChargeRecord]:
        """The project's charges not invoiced, read without locking them (for reports)."""

    @abstractmethod
    async def invoiced_unrecorded(self, limit: int) -> list[ChargeRecord]:
        """Charges marked invoiced on an invoice never recorded here (or on none)."""

    @abstractmethod
    async def record_leak(self, leak: Leak, day: date) -> bool:
        """Record that ``leak`` was reported on ``day``; False when its project and kind
        were reported that day already."""


class AbstractRateCards(ABC):
    @abstractmethod
    async def keep(self, card: RateCard, version: int) -> bool:
        """Keep the published card at ``version`` unless a newer one is kept."""

    @abstractmethod
    async def of_currency(self, currency: str) -> list[RateCard]:
        """The cards of a billing currency (only those price its time)."""


class AbstractFxRates(ABC):
    @abstractmethod
    async def keep(self, rate: FxRate) -> bool:
        """Keep a published rate (immutable: a rate id already kept stays as it was)."""

    @abstractmethod
    async def on(self, base: str, quote: str, day: date) -> FxRate | None:
        """The latest rate between the two currencies effective on or before ``day``, in
        either direction."""


class AbstractPending(ABC):
    @abstractmethod
    async def approved(self, time_entry_id: str, project_id: str, work_date: date, at: Any) -> None:
        """Approved billable time the ERP has not acknowledged yet."""

    @abstractmethod
    async def failed(
        self, time_entry_id: str, project_id: str, work_date: date, reason: str, at: Any
    ) -> None:
        """Time refused on its way to the ERP: an open business exception of its project."""

    @abstractmethod
    async def posted(self, time_entry_id: str) -> str | None:
        """The entry was posted: no longer pending; answers its project when it was."""

    @abstractmethod
    async def counts(self, project_id: str, up_to: date) -> tuple[int, int]:
        """(pending, failed) entries of the project dated up to ``up_to``."""

    @abstractmethod
    async def value(self, time_entry_id: str, amount: Money) -> None:
        """What the pending entry is worth at the bill rate frozen on its approval."""

    @abstractmethod
    async def approved_before(self, at: datetime, project_id: str | None) -> list[PendingTime]:
        """Entries approved before ``at`` and still pending or refused (of one project, or
        of all), oldest first."""


class AbstractInvoices(ABC):
    @abstractmethod
    async def propose(self, proposal: Proposal, body: dict[str, Any]) -> bool:
        """Record a proposal (False when it was recorded already)."""

    @abstractmethod
    async def get(self, invoice_id: str) -> InvoiceRecord | None:
        """One invoice or credit note."""

    @abstractmethod
    async def drafted(self, invoice_id: str, instance: str, erp_id: str) -> None:
        """The ERP drafted it under ``erp_id``."""

    @abstractmethod
    async def posted(
        self, invoice_id: str, number: str, subtotal: Any, tax_total: Any, total: Any, at: Any
    ) -> None:
        """The ERP posted it, with its number and its own totals."""

    @abstractmethod
    async def of_charge(self, charge_id: str) -> str | None:
        """The invoice ``charge_id`` is on, if any."""

    @abstractmethod
    async def dated(self, start: date, end: date) -> list[InvoiceTotals]:
        """Invoices and credit notes dated in [start, end], with their charges' sums."""

    @abstractmethod
    async def named(self, invoice_ids: Sequence[str]) -> list[InvoiceTotals]:
        """The recorded invoices among ``invoice_ids``, with their charges' sums."""


class AbstractAudit(ABC):
    @abstractmethod
    async def record(
        self, actor: str, action: str, subject: str, reason: str, detail: dict[str, Any]
    ) -> None:
        """Record a person's decision on money."""


class AbstractUnitOfWork(ABC):
    """billing-readiness's repositories, the cross-references and the outbox, in one
    transaction."""

    customers: AbstractCustomers
    projects: AbstractProjects
    charges: AbstractCharges
    rate_cards: AbstractRateCards
    fx_rates: AbstractFxRates
    pending: AbstractPending
    invoices: AbstractInvoices
    audit: AbstractAudit
    refs: AbstractCrossReferences

    @abstractmethod
    async def publish(self, *envelopes: Envelope[Any]) -> None:
        """Write the events to the outbox in this transaction."""

    @abstractmethod
    async def flush(self) -> None:
        """Write what the repositories kept for the end of the transaction."""
