"""The ports of project-sync's transactions: its repositories, cross-references and the outbox.

The service layer depends on these only; ``adapters`` holds the SQL ones. A repository writes
when asked (no write-behind): sagas are locked (``FOR UPDATE``) when loaded, so two lanes
touching one saga (its opportunity's events, a customer's release) take turns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from project_sync.domain import Problem, ReferenceData
from project_sync.domain.saga import Saga
from tandem_connectors.xref import AbstractCrossReferences
from tandem_contracts import Envelope
from tandem_contracts.entities import Assignment, Contract, Customer, Milestone, OpportunityStatus
from tandem_contracts.events import ChangeOrderApproved

__all__ = [
    "AbstractApprovals",
    "AbstractAssignments",
    "AbstractCustomers",
    "AbstractDelivery",
    "AbstractOpportunities",
    "AbstractProjects",
    "AbstractReference",
    "AbstractSagas",
    "AbstractUnitOfWork",
    "CustomerRecord",
    "DeliveredProject",
    "OpportunityRecord",
    "Placement",
]


@dataclass(frozen=True)
class OpportunityRecord:
    """An opportunity as the CRM last reported it (``project_sync.opportunities``)."""

    opportunity_id: str
    crm_instance: str
    crm_id: str
    customer_id: str
    legal_entity_id: str
    stage: str
    status: OpportunityStatus
    version: int
    data: dict[str, Any]


@dataclass(frozen=True)
class CustomerRecord:
    """A CRM account and its one ERP customer (``project_sync.customers``)."""

    customer: Customer
    crm_instance: str
    crm_account_id: str
    version: int
    tax_problems: tuple[Problem, ...] = ()
    erp_instance: str | None = None
    erp_customer_ref: str | None = None
    matched_by: str | None = None
    crm_linked: bool = False
    updated_at: datetime | None = None
    """When the customer last changed (as read; set by the repository)."""

    @property
    def linked(self) -> bool:
        """Whether the account has its ERP customer."""
        return self.erp_customer_ref is not None


@dataclass(frozen=True)
class Placement:
    """Where a saga's records live: the ERP and PSA instances it writes to."""

    erp_instance: str | None
    psa_instance: str | None


class AbstractSagas(ABC):
    """The sagas, their step visits and their log."""

    @abstractmethod
    async def latest(self, opportunity_id: str) -> Saga | None:
        """The opportunity's latest generation, locked for this transaction (None: none)."""

    @abstractmethod
    async def save(self, saga: Saga, placement: Placement) -> None:
        """Keep ``saga`` as it now is (its row and its step visits)."""

    @abstractmethod
    async def log(
        self,
        saga: Saga,
        event: str,
        detail: dict[str, Any],
        actor: str | None = None,
        why: str | None = None,
    ) -> None:
        """Record what moved ``saga`` (an operator's action with who and why)."""

    @abstractmethod
    async def held_by(self, key: str) -> list[str]:
        """The opportunities whose latest saga waits for ``key`` or failed resumable on it."""

    @abstractmethod
    async def held(self, limit: int) -> list[tuple[str, str, datetime | None]]:
        """(opportunity, key, failed at) of held sagas: the key each waits for (failed at
        None), or each key a failed one may resume on, with when it failed."""

    @abstractmethod
    async def in_flight(self, limit: int) -> list[str]:
        """Opportunities whose latest saga has somewhere to go, oldest step first."""


class AbstractCustomers(ABC):
    """The customers linked between the CRM and the ERP."""

    @abstractmethod
    async def get(self, customer_id: str, *, lock: bool = True) -> CustomerRecord | None:
        """The customer (locked for this transaction unless ``lock`` is false)."""

    @abstractmethod
    async def save(self, record: CustomerRecord) -> None:
        """Keep the customer as it now is."""


class AbstractOpportunities(ABC):
    """Each opportunity's last reported stage."""

    @abstractmethod
    async def get(self, opportunity_id: str) -> OpportunityRecord | None:
        """The opportunity, locked for this transaction."""

    @abstractmethod
    async def save(self, record: OpportunityRecord) -> None:
        """Keep the opportunity as it now is."""


class AbstractReference(ABC):
    """Reference data for set-up validation."""

    @abstractmethod
    async def reference_data(self, customer_ids: Sequence[str]) -> ReferenceData:
        """Entities and their currencies, rate cards, and the facts of ``customer_ids``."""

    @abstractmethod
    async def keep_rate_card(
        self, rate_card_id: str, currency: str, status: str, version: int
    ) -> bool:
        """Keep a rate card's latest version; answer whether this one was newer."""


class AbstractProjects(ABC):
    """The read model of the projects sagas made."""

    @abstractmethod
    async def keep(self, saga: Saga, erp_instance: str | None, today: date) -> None:
        """Bring the saga's project up to date (nothing before the ERP minted its code)."""


class AbstractApprovals(ABC):
    """Contracts approved through the process API, audited."""

    @abstractmethod
    async def record(self, contract: Contract, version: int, actor: str, why: str) -> None:
        """Keep the approved ``contract`` at ``version`` with who approved it and why."""


@dataclass(frozen=True)
class DeliveredProject:
    """A project a saga made, as the PSA's reports about it need it (``project_sync.projects``)."""

    project_id: str
    opportunity_id: str
    generation: int
    legal_entity_id: str
    currency: str
    contract_id: str | None
    open_from: date | None
    closed_from: date | None


class AbstractDelivery(ABC):
    """What the PSA reports about projects after activation, and their announcement versions."""

    @abstractmethod
    async def project(self, project_id: str) -> DeliveredProject | None:
        """The project a saga made (None: no saga of ours made it)."""

    @abstractmethod
    async def next_version(self, project_id: str, floor: int) -> int:
        """The subject version of the project's next announcement: above every one before,
        and at least ``floor`` (the saga's fixed order)."""

    @abstractmethod
    async def close_for_time(self, project_id: str, closed_from: date, reason: str) -> bool:
        """Refuse the project's time dated from ``closed_from``; answer whether it was open
        (False: closed already, nothing changed)."""

    @abstractmethod
    async def record_milestone(
        self, milestone: Milestone, psa_instance: str, psa_task_id: str, completed_at: datetime
    ) -> bool:
        """Keep the completed milestone; answer whether it is new (False: announced before)."""

    @abstractmethod
    async def record_change_order(
        self, change: ChangeOrderApproved, psa_instance: str, psa_id: str
    ) -> bool:
        """Keep the approved change order and the project's new figures; answer whether it is
        new (False: announced before)."""


class AbstractAssignments(ABC):
    """Who may book to a project, and when (the billing-code check "for this worker")."""

    @abstractmethod
    async def confirm(self, assignment: Assignment, version: int) -> bool:
        """Keep the confirmed assignment unless a version as new is kept (answer whether)."""

    @abstractmethod
    async def cancel(self, assignment_id: str, project_id: str, version: int) -> bool:
        """Mark the assignment cancelled (a tombstone if unknown) unless a version as new is
        kept (answer whether)."""


class AbstractUnitOfWork(ABC):
    """project-sync's repositories on one transaction, and its outbox."""

    sagas: AbstractSagas
    customers: AbstractCustomers
    opportunities: AbstractOpportunities
    reference: AbstractReference
    projects: AbstractProjects
    approvals: AbstractApprovals
    delivery: AbstractDelivery
    assignments: AbstractAssignments
    refs: AbstractCrossReferences

    @abstractmethod
    async def publish(self, *envelopes: Envelope[Any]) -> None:
        """Write the events to the outbox in this transaction."""

    @abstractmethod
    async def flush(self) -> None:
        """Write what was kept for the end of the transaction (the runtime calls it)."""
