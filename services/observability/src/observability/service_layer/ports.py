"""What observability reads from outside its own tables: the fleet, the broker, the parking lots.

Each is a port; ``adapters`` holds the Kubernetes, RabbitMQ-management and HTTP implementations,
``bootstrap`` chooses them. A source that cannot be reached raises ``SourceUnavailable``: the
console shows that part as unavailable, with the reason, and the rest as usual.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

__all__ = [
    "BrokerState",
    "FleetSource",
    "FleetView",
    "KpiStore",
    "ParkedAction",
    "ParkingLots",
    "QueueState",
    "SourceUnavailable",
    "Workload",
]


class SourceUnavailable(Exception):
    """An outside source did not answer (or refused); ``str(exc)`` says why, without secrets."""


@dataclass(frozen=True)
class Workload:
    """One service role's deployment as the cluster sees it."""

    service: str
    role: str
    """``api``, ``worker``, or a worker role group (``consume``, ``ingest``...)."""
    desired: int
    ready: int
    restarts: int
    versions: tuple[str, ...]
    """The image tags (or digests) its pods run: more than one during a rollout."""


@dataclass(frozen=True)
class QueueState:
    """One queue on the broker: depth, consumers and, for a partition, who holds it."""

    name: str
    messages: int
    messages_unacked: int
    consumers: int
    consumer_group: str | None = None
    """The consumer group (``time-expense.postings``) a partition or retry queue belongs to."""
    partition: int | None = None
    owner: str | None = None
    """The active consumer of a single-active-consumer partition (its connection's name)."""


class FleetSource(Protocol):
    """The services' workloads (Kubernetes in a cluster; recorded responses in tests)."""

    async def workloads(self) -> list[Workload]: ...


class BrokerState(Protocol):
    """The broker's queues (RabbitMQ's management API)."""

    async def queues(self) -> list[QueueState]: ...


@dataclass(frozen=True)
class ParkedAction:
    """What a service answered to a replay or discard."""

    action_id: str
    count: int
    ids: tuple[str, ...] = field(default=())


ParkedStatus = Literal["parked", "replayed", "discarded", "all"]


class ParkingLots(Protocol):
    """Every service's own parked-message API, called with service credentials."""

    def services(self) -> builtins.list[str]: ...

    async def list(
        self, service: str, *, status: ParkedStatus = "parked", limit: int = 100
    ) -> builtins.list[dict[str, Any]]:
        """The service's parked messages (its ``/v1/parked`` items, as JSON objects)."""

    async def detail(self, service: str, parked_id: str) -> dict[str, Any] | None:
        """One parked message with headers and envelope (confidential fields redacted by the
        service), or None when the service has no such message."""

    async def replay(self, service: str, ids: builtins.list[str], why: str) -> ParkedAction: ...

    async def discard(self, service: str, ids: builtins.list[str], why: str) -> ParkedAction: ...


@dataclass(frozen=True)
class FleetView:
    """What the fleet view shows, each part with why it is missing when it is."""

    workloads: list[Workload] | None
    workloads_error: str | None
    queues: list[QueueState] | None
    queues_error: str | None
    read_at: datetime


class KpiStore(Protocol):
    """observability's own tables, as its jobs and routes read and fold them."""

    async def fold(self, page_size: int) -> tuple[int, list[Any]]:
        """Fold the next page of steps into the KPIs in one transaction; answer how many
        steps were folded and the flows completed (``CompletedFlow``) by them."""

    async def unfolded(self) -> int:
        """How many recorded steps the KPIs have not folded in yet."""

    async def kpis(self, query: Any) -> dict[str, dict[str, Any]]:
        """Every KPI per region (``KpiQuery``)."""

    async def worker_months(self, periods: list[str], minutes_per_day: int) -> list[Any]:
        """Each consultant's months (``WorkerMonth``)."""

    async def purge_steps(self, before: datetime) -> int:
        """Delete steps recorded before ``before``; answer how many."""

    async def flow_counts(
        self, domain: str, threshold_s: float, since: datetime, now: datetime
    ) -> tuple[int, int]:
        """(good, total) flows of ``domain`` due in [since, now]: a flow is due when it
        completed, or when it started ``threshold_s`` ago and has not; good when it completed
        within ``threshold_s``."""

    async def steps_since(self, since: datetime) -> int:
        """Steps recorded since ``since`` (the events the bus carried)."""
