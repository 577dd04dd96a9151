"""What ranking reads of a worker, a resource and a cost rate: read-only protocols, and plain
records that satisfy them.

The canonical ``Worker``, ``Resource`` and ``CostRate`` satisfy the protocols, so a test or a
caller with canonical entities ranks them as they are. The read model hands ranking the plain
records instead: a request is ranked against every worker on the bench, and building ten
thousand validated models per request (even unvalidated, ``model_construct``) costs more than
ranking them. The records are named tuples: built ten thousand times per request, a tuple
costs a fraction of a frozen dataclass.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import NamedTuple, Protocol

from tandem_contracts import Money
from tandem_contracts.entities import SkillRating, WorkerStatus

__all__ = [
    "BenchCost",
    "BenchResource",
    "BenchWorker",
    "StaffableCost",
    "StaffableResource",
    "StaffableWorker",
]


class StaffableWorker(Protocol):
    """A worker as ranking reads it (``tandem_contracts.entities.Worker`` is one)."""

    @property
    def id(self) -> str: ...
    @property
    def legal_entity_id(self) -> str: ...
    @property
    def status(self) -> WorkerStatus: ...
    @property
    def hire_date(self) -> date: ...
    @property
    def termination_date(self) -> date | None: ...
    @property
    def work_country(self) -> str: ...


class StaffableResource(Protocol):
    """A resource as ranking reads it (``tandem_contracts.entities.Resource`` is one)."""

    @property
    def id(self) -> str: ...
    @property
    def primary_role_id(self) -> str: ...
    @property
    def skills(self) -> Sequence[SkillRating]: ...
    @property
    def capacity_minutes_per_week(self) -> int: ...
    @property
    def utilization_target_pct(self) -> int: ...
    @property
    def bookable(self) -> bool: ...


class StaffableCost(Protocol):
    """A dated cost rate as ranking reads it (``tandem_contracts.entities.CostRate`` is one)."""

    @property
    def worker_id(self) -> str | None: ...
    @property
    def role_id(self) -> str | None: ...
    @property
    def hourly_cost(self) -> Money: ...
    @property
    def effective_from(self) -> date: ...
    @property
    def effective_to(self) -> date | None: ...


class BenchWorker(NamedTuple):
    """A worker's fields ranking reads, from validated data kept by the read model."""

    id: str
    legal_entity_id: str
    status: WorkerStatus
    hire_date: date
    termination_date: date | None
    work_country: str


class BenchResource(NamedTuple):
    """A resource's fields ranking reads (no skills: none known until a feed carries them)."""

    id: str
    primary_role_id: str
    capacity_minutes_per_week: int
    bookable: bool
    utilization_target_pct: int
    skills: tuple[SkillRating, ...] = ()


class BenchCost(NamedTuple):
    """A worker's cost rate in force over a request."""

    worker_id: str | None
    hourly_cost: Money
    effective_from: date
    effective_to: date | None = None
    role_id: str | None = None
