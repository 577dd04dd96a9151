"""The HRIS port: workers, hires, terminations and cost rates."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tandem_connectors.polling import ChangeSource
from tandem_contracts import Money

__all__ = ["AbstractHris", "HrisCostRate", "HrisWorker"]


@dataclass(frozen=True, slots=True)
class HrisWorker:
    """A worker as the HRIS holds it now, in HRIS ids (``legal_entity`` is the HRIS company).

    No names: Tandem needs the worker number, not the person's name, and so never holds one.
    ``email`` is personal data and is left out of ``repr`` so that a logged worker leaks
    nothing. ``status`` and ``employment_type`` are the HRIS's own values; ``role`` is the
    HRIS's job title (None: none given) and ``effective_date`` the date the HRIS says this
    version takes effect, when its record carries one (None: when it was written).
    """

    external_id: str
    version: int
    worker_number: str
    legal_entity: str
    employment_type: str
    status: str
    hire_date: date
    termination_date: date | None
    manager_id: str | None
    org_unit: str | None
    work_country: str
    work_calendar: str | None
    home_currency: str
    updated_at: datetime
    email: str | None = field(repr=False)
    role: str | None = None
    effective_date: date | None = None


@dataclass(frozen=True, slots=True)
class HrisCostRate:
    """A worker's hourly cost from ``effective_from`` on (``effective_to`` inclusive, or open)."""

    external_id: str
    worker_id: str
    hourly_cost: Money
    effective_from: date
    effective_to: date | None
    version: int
    updated_at: datetime


class AbstractHris(ABC):
    """The HR system: workers, hires, terminations and effective-dated cost rates.

    Feeds (for ``change_source`` and ``record``) are named after the HRIS's collections:
    ``workers`` (a hire, a job change and a termination each change the worker record). A new
    cost rate does not change its worker: it comes as a ``cost_rate.changed`` event (webhook
    or the system's event feed) whose data ``read_cost_rate`` reads; ``cost_rates`` answers
    them all. An unknown feed name raises ``ValueError`` (a programming error). A record the
    adapter cannot read raises ``UnexpectedResponse``.
    """

    instance: str

    @abstractmethod
    async def worker(self, external_id: str) -> HrisWorker:
        """The worker as the HRIS holds it now; ``NotFound`` if it does not exist."""

    @abstractmethod
    async def cost_rates(self, external_id: str) -> list[HrisCostRate]:
        """The worker's dated cost rates, oldest first; ``NotFound`` for an unknown worker."""

    @abstractmethod
    async def read_worker(self, record: Mapping[str, Any]) -> HrisWorker:
        """A worker record in this HRIS's own shape (a webhook's or a feed's)."""

    @abstractmethod
    async def read_cost_rate(self, record: Mapping[str, Any]) -> HrisCostRate:
        """A cost-rate record in this HRIS's own shape (a webhook's or an event's)."""

    @abstractmethod
    def change_source(self, feed: str) -> ChangeSource:
        """The changed records of ``feed`` (``workers``), for a ``polling.Poller``; a record
        may show up again (at-least-once)."""

    @abstractmethod
    async def record(self, feed: str, external_id: str) -> Mapping[str, Any]:
        """One record of ``feed`` in this HRIS's own shape (to land it again when repairing)."""
