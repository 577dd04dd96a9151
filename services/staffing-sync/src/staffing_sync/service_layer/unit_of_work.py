"""The ports of staffing-sync's transactions: its repositories, cross-references, the outbox.

The service layer depends on these only; ``adapters`` holds the SQL ones. A worker's row is
locked when read, so its events (one lane per worker) and the parking hook take turns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from staffing_sync.domain import CostRateSeries, RateChange, WorkerVersion
from staffing_sync.service_layer.mapping import WorkerRecord
from tandem_connectors.xref import AbstractCrossReferences
from tandem_contracts import Envelope
from tandem_contracts.entities import Assignment, CostRate, Project, RateCard

__all__ = [
    "AbstractBookings",
    "AbstractCostRates",
    "AbstractHrisState",
    "AbstractProjects",
    "AbstractRateCards",
    "AbstractSync",
    "AbstractUnitOfWork",
    "AbstractWorkers",
    "KnownBooking",
    "KnownProject",
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

    @abstractmethod
    async def publish(self, *envelopes: Envelope[Any]) -> None:
        """Write the events to the outbox in this transaction."""

    @abstractmethod
    async def flush(self) -> None:
        """Write what was kept for the end of the transaction (the runtime calls it)."""
