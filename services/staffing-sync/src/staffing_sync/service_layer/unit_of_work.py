"""The ports of staffing-sync's transactions: its repositories, cross-references, the outbox.

The service layer depends on these only; ``adapters`` holds the SQL ones. A worker's row is
locked when read, so its events (one lane per worker) and the parking hook take turns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from staffing_sync.domain import Booking, CostRateSeries, RateChange, WorkerVersion
from staffing_sync.domain.staffable import StaffableCost, StaffableWorker
from staffing_sync.service_layer.mapping import WorkerRecord
from tandem_connectors.xref import AbstractCrossReferences
from tandem_contracts import Envelope
from tandem_contracts.entities import (
    Assignment,
    CostRate,
    Project,
    RateCard,
    ResourceRequest,
)

__all__ = [
    "AbstractBookings",
    "AbstractCandidates",
    "AbstractCostRates",
    "AbstractCrmAccounts",
    "AbstractHrisState",
    "AbstractProjects",
    "AbstractProposals",
    "AbstractPsaRateCards",
    "AbstractPsaRequests",
    "AbstractRateCards",
    "AbstractSync",
    "AbstractUnitOfWork",
    "AbstractWorkers",
    "CandidateQuery",
    "CandidateRow",
    "CrmAccount",
    "KnownBooking",
    "KnownProject",
    "KnownPsaRateCard",
    "KnownPsaRequest",
    "KnownRequest",
]


class AbstractWorkers(ABC):
    """The workers staffing-sync knows, each at the newest version applied."""

    @abstractmethod
    async def get(self, worker_id: str) -> WorkerRecord | None:
        """The worker, locked for this transaction (None: not known)."""

    @abstractmethod
    async def save(self, record: WorkerRecord) -> None:
        """Keep the worker as it now is."""


class AbstractCostRates(ABC):
    """Each worker's dated cost rates."""

    @abstractmethod
    async def keep(self, rate: CostRate, version: int) -> bool:
        """Keep the rate of its date unless a version as new is kept; answer whether kept."""

    @abstractmethod
    async def series(self, worker_id: str) -> list[CostRate]:
        """The worker's rates, oldest first (empty: none known)."""


class AbstractSync(ABC):
    """Which worker version the PSA and the ERP took, and the worker's open problem."""

    @abstractmethod
    async def synced(
        self, worker_id: str, system: str, instance: str, external_id: str, version: int
    ) -> None:
        """Record that ``system`` holds the worker at ``version`` (and clear its problem)."""

    @abstractmethod
    async def failed(
        self, worker_id: str, event_type: str, reason: str, detail: str, waiting_for: str | None
    ) -> None:
        """Record the worker's open problem (a parked or waiting message)."""


class AbstractHrisState(ABC):
    """What the HRIS last said of each worker (apart from what its events applied), and each
    worker's subject-version counter."""

    @abstractmethod
    async def worker(self, worker_id: str) -> WorkerVersion | None:
        """The worker's newest HRIS version, locked for this transaction (None: never seen)."""

    @abstractmethod
    async def save_worker(self, instance: str, external_id: str, version: WorkerVersion) -> None:
        """Keep ``version`` as the worker's newest (its email already a digest)."""

    @abstractmethod
    async def rates(self, worker_id: str) -> CostRateSeries:
        """The worker's cost rates as the HRIS wrote them (empty: none seen)."""

    @abstractmethod
    async def save_rate(self, worker_id: str, change: RateChange) -> None:
        """Keep ``change`` as the rate of its start date (the series' merge decided it wins)."""

    @abstractmethod
    async def next_version(self, worker_id: str, floor: int) -> int:
        """The worker's next subject version: above every one handed out, at least ``floor``."""


@dataclass(frozen=True)
class KnownProject:
    """An active project as its newest ``ProjectActivated`` told it, and its data's region."""

    project: Project
    region: str
    version: int


class AbstractProjects(ABC):
    """The active projects bookings are confirmed on."""

    @abstractmethod
    async def get(self, project_id: str) -> KnownProject | None:
        """The project (None: never activated)."""

    @abstractmethod
    async def keep(self, project: KnownProject) -> bool:
        """Keep the project unless a version as new is kept; answer whether kept."""


class AbstractRateCards(ABC):
    """The published rate cards bookings are rated from."""

    @abstractmethod
    async def keep(self, card: RateCard, published_version: int) -> bool:
        """Keep the card unless a version as new is kept; answer whether kept."""

    @abstractmethod
    async def in_currency(self, currency: str) -> list[RateCard]:
        """Every card kept in ``currency`` (empty: none)."""


@dataclass(frozen=True)
class KnownBooking:
    """A PSA booking as staffing-sync last handled it.

    ``announced`` is the assignment last announced confirmed (None: never, or cancelled
    since); ``version`` the subject version of the last event about it (0: none);
    ``psa_version`` the newest PSA version handled (an older one changes nothing).
    """

    assignment_id: str
    instance: str
    external_id: str
    worker_id: str | None
    project_id: str | None
    psa_version: int
    version: int = 0
    announced: Assignment | None = None
    cancelled: bool = False
    warnings: tuple[str, ...] = ()


class AbstractBookings(ABC):
    """The PSA bookings staffing-sync handled."""

    @abstractmethod
    async def get(self, assignment_id: str) -> KnownBooking | None:
        """The booking, locked for this transaction (None: never handled)."""

    @abstractmethod
    async def save(self, booking: KnownBooking) -> None:
        """Keep the booking as it now is."""


@dataclass(frozen=True)
class CandidateQuery:
    """How a request's candidates are narrowed before ranking: employed over the dates, of
    ``role_id`` (None: any role), employed by one of ``entities`` (None: any)."""

    start_date: date
    end_date: date
    role_id: str | None = None
    entities: tuple[str, ...] | None = None


class CandidateRow(NamedTuple):
    """A worker as the read model holds it: the worker, its role, its PSA resource, its cost
    rates (at least the one in force on the request's start) and the bookings its live
    confirmed assignments put on it over the request's dates. A named tuple: one per worker on
    the bench per request."""

    worker: StaffableWorker
    role_id: str
    resource_id: str
    cost_rates: tuple[StaffableCost, ...] = ()
    bookings: tuple[Booking, ...] = ()


class AbstractCandidates(ABC):
    """The read model a request's candidates are built from."""

    @abstractmethod
    async def for_request(self, query: CandidateQuery) -> list[CandidateRow]:
        """Every worker with a PSA resource and a role, employed over the query's dates and
        not terminated, narrowed as ``query`` says; by worker id (empty: none)."""


@dataclass(frozen=True)
class KnownRequest:
    """A resource request as last handled: its newest version, the subject version of the
    last proposal about it (0: none), and where it stands (``proposed``, ``waiting``,
    ``failed`` with ``problem``); ``options`` and ``excluded`` as kept for the API."""

    request: ResourceRequest
    request_version: int
    status: str
    version: int = 0
    problem: str | None = None
    options: tuple[dict[str, Any], ...] = ()
    excluded: tuple[dict[str, Any], ...] = ()
    proposed_at: datetime | None = None


class AbstractProposals(ABC):
    """The resource requests handled and the options proposed for them."""

    @abstractmethod
    async def get(self, request_id: str) -> KnownRequest | None:
        """The request, locked for this transaction (None: never handled)."""

    @abstractmethod
    async def save(self, known: KnownRequest) -> None:
        """Keep the request as it now stands."""


@dataclass(frozen=True)
class KnownPsaRequest:
    """A PSA resource request as staffing-sync last read it from the PSA.

    ``announced`` is the request as last announced in ``ResourceRequested`` (None: never);
    ``version`` the subject version of that event (0: none); ``psa_version`` the newest PSA
    version handled (an older one changes nothing).
    """

    request_id: str
    instance: str
    external_id: str
    psa_version: int
    version: int = 0
    announced: ResourceRequest | None = None


class AbstractPsaRequests(ABC):
    """The PSA resource requests staffing-sync read and announced."""

    @abstractmethod
    async def get(self, request_id: str) -> KnownPsaRequest | None:
        """The request, locked for this transaction (None: never read)."""

    @abstractmethod
    async def save(self, known: KnownPsaRequest) -> None:
        """Keep the request as it now is."""


@dataclass(frozen=True)
class KnownPsaRateCard:
    """A PSA rate card as staffing-sync last read it from the PSA.

    ``announced`` is the card as last published in ``RateCardPublished`` (None: never);
    ``version`` the subject version of that event (0: none); ``psa_version`` the newest PSA
    version handled (an older one changes nothing).
    """

    rate_card_id: str
    instance: str
    external_id: str
    psa_version: int
    version: int = 0
    announced: RateCard | None = None


class AbstractPsaRateCards(ABC):
    """The PSA rate cards staffing-sync read and published."""

    @abstractmethod
    async def get(self, rate_card_id: str) -> KnownPsaRateCard | None:
        """The card, locked for this transaction (None: never read)."""

    @abstractmethod
    async def save(self, known: KnownPsaRateCard) -> None:
        """Keep the card as it now is."""


@dataclass(frozen=True)
class CrmAccount:
    """The CRM account a customer is (``AccountUpserted``), and the customer's legal entity."""

    instance: str
    external_id: str
    customer_id: str
    legal_entity_id: str


class AbstractCrmAccounts(ABC):
    """Which customer each CRM account is: a PSA rate card names its account by the CRM's id."""

    @abstractmethod
    async def keep(self, account: CrmAccount, version: int) -> bool:
        """Keep the account unless a version as new is kept; answer whether kept."""

    @abstractmethod
    async def named(self, external_id: str) -> list[CrmAccount]:
        """The accounts of that CRM id, one per CRM instance holding it (empty: none known)."""


class AbstractUnitOfWork(ABC):
    """staffing-sync's repositories on one transaction, and its outbox."""

    workers: AbstractWorkers
    cost_rates: AbstractCostRates
    sync: AbstractSync
    hris: AbstractHrisState
    refs: AbstractCrossReferences
    projects: AbstractProjects
    rate_cards: AbstractRateCards
    bookings: AbstractBookings
    candidates: AbstractCandidates
    proposals: AbstractProposals
    psa_requests: AbstractPsaRequests
    psa_rate_cards: AbstractPsaRateCards
    crm_accounts: AbstractCrmAccounts

    @abstractmethod
    async def publish(self, *envelopes: Envelope[Any]) -> None:
        """Write the events to the outbox in this transaction."""

    @abstractmethod
    async def flush(self) -> None:
        """Write what was kept for the end of the transaction (the runtime calls it)."""
