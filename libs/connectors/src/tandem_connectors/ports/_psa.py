"""The PSA / resource-management port: delivery, staffing, time and expenses."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tandem_connectors.polling import ChangeSource
from tandem_connectors.ports._common import Written
from tandem_contracts import Money
from tandem_contracts.entities import Project

__all__ = [
    "AbstractPsa",
    "PsaAssignment",
    "PsaChangeOrder",
    "PsaExpense",
    "PsaProject",
    "PsaProjectActivity",
    "PsaResource",
    "PsaResourceRequest",
    "PsaTask",
    "PsaTimeEntry",
    "PsaTimesheet",
]


@dataclass(frozen=True, slots=True)
class PsaTimeEntry:
    """A time entry as the PSA holds it now (PSA ids; ``worker_id`` is the worker it names).

    The PSA knows no legal entities: the consuming service completes the canonical
    ``TimeEntry`` from its own reference data.
    """

    external_id: str
    version: int
    revision: int
    status: str
    resource_id: str
    worker_id: str | None
    role_id: str | None
    project_id: str
    task_id: str | None
    timesheet_id: str | None
    work_date: date
    minutes: int
    billable: bool
    bill_rate: Money | None
    notes: str | None
    updated_at: datetime
    adjustment_reason: str | None = None


@dataclass(frozen=True, slots=True)
class PsaTimesheet:
    """A timesheet version as the PSA sent it (PSA ids; ``worker_id`` is the worker it names).

    ``entry_ids`` are the entries this version holds (those a submission took, in the PSA's
    order); ``AbstractPsa.timesheet_entries`` reads them.
    """

    external_id: str
    version: int
    status: str
    resource_id: str
    worker_id: str | None
    period_start: date
    period_end: date
    entry_ids: tuple[str, ...]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PsaExpense:
    """An expense as the PSA holds it now (PSA ids; ``worker_id`` is the worker it names)."""

    external_id: str
    version: int
    status: str
    resource_id: str
    worker_id: str | None
    project_id: str
    expense_date: date
    category: str
    amount: Money
    billable: bool
    markup_multiplier: Decimal
    receipt_ref: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PsaProject:
    """A project version as the PSA sent it (PSA ids): its delivery status and whether it
    takes time (``open_for_time``); ``end_date`` is its last day, when the PSA knows it."""

    external_id: str
    version: int
    status: str
    open_for_time: bool
    code: str | None
    currency: str
    start_date: date | None
    end_date: date | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PsaTask:
    """A task version as the PSA sent it (PSA ids): a phase, task, milestone or deliverable;
    ``billing_amount`` is a milestone's fee, in the project's currency."""

    external_id: str
    version: int
    project_id: str
    type: str
    name: str
    status: str
    due_date: date | None
    billing_amount: Money | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PsaChangeOrder:
    """A change order version as the PSA sent it (PSA ids): from ``effective_from`` the
    project's budget is ``budget_minutes`` / ``budget_amount`` and, when given, its contract's
    value ``total_value`` and cap ``cap`` (all in ``currency``)."""

    external_id: str
    version: int
    project_id: str
    status: str
    description: str | None
    currency: str
    budget_minutes: int | None
    budget_amount: Money | None
    total_value: Money | None
    cap: Money | None
    effective_from: date
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PsaAssignment:
    """A booking version as the PSA sent it (PSA ids; ``worker_id`` is the worker its
    resource names, None for a placeholder): ``minutes_per_day`` from ``start_date`` to
    ``end_date`` (inclusive), ``booking`` ``hard`` or ``soft``, ``status`` the PSA's own
    (``active``, ``cancelled``); ``bill_rate`` is the rate the PSA shows, when it has one."""

    external_id: str
    version: int
    project_id: str
    resource_id: str
    worker_id: str | None
    task_id: str | None
    role: str | None
    start_date: date
    end_date: date
    minutes_per_day: int
    booking: str
    status: str
    bill_rate: Money | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PsaResourceRequest:
    """A resource request version as the PSA sent it (PSA ids): demand for ``role`` (the PSA
    role id bookings carry) with ``required_skills`` (skill ids), ``minutes`` in all from
    ``start_date`` to ``end_date`` (inclusive), on the PSA project ``project_id``; ``status``
    the PSA's own (``open``, ``cancelled``, ``filled``), ``filled_by_assignment`` the booking
    that filled it when the PSA names one."""

    external_id: str
    version: int
    project_id: str
    role: str | None
    required_skills: tuple[str, ...]
    minutes: int
    start_date: date
    end_date: date
    status: str
    priority: int
    filled_by_assignment: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PsaProjectActivity:
    """What the PSA holds against a project: its time entries (in any status; how many of
    them approved) and its expenses."""

    time_entries: int
    approved_time_entries: int
    expenses: int

    @property
    def empty(self) -> bool:
        """Whether no time entry and no expense names the project."""
        return not (self.time_entries or self.expenses)


@dataclass(frozen=True, slots=True)
class PsaResource:
    """A worker's bookable resource as Tandem writes it to the PSA (canonical ids).

    No personal data: the worker number names it. Bookable from ``start_date`` (the hire) to
    ``end_date`` (the last day, inclusive), either open; ``skills`` are (skill id, level 1-5).
    """

    worker_id: str
    worker_number: str
    role_id: str | None
    country: str
    capacity_minutes_per_day: int = 480
    skills: tuple[tuple[str, int], ...] = ()
    calendar_id: str | None = None
    cost_center: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    bookable: bool = True


class AbstractPsa(ABC):
    """The professional-services / resource-management system: delivery, staffing, time."""

    instance: str

    @abstractmethod
    async def create_project(self, project: Project, *, key: str) -> Written:
        """Create the delivery project (with the ERP-minted code, when known)."""

    @abstractmethod
    async def activate_project(self, project: str, *, key: str) -> Written:
        """Open the project for time and expense entry (in progress).

        Answers the project's reference (``created`` false). Idempotent: an open project is
        answered as it is. Raises ``RequestRejected`` with reason ``project_cancelled`` or
        ``project_closed`` for a cancelled or completed project (activation reopens
        neither), and ``NotFound`` when ``project`` names no project.
        """

    @abstractmethod
    async def cancel_project(self, project: str, *, key: str) -> Written:
        """Cancel a project nobody booked on: status cancelled, closed to time and expenses;
        kept, never deleted.

        Answers the project's reference (``created`` false). Idempotent: a cancelled project
        is answered as it is. Raises ``RequestRejected`` with reason ``project_has_activity``
        when a time entry or an expense names the project (``project_activity`` not
        ``empty``): close it instead. ``NotFound`` when ``project`` names no project.
        """

    @abstractmethod
    async def close_project(self, project: str, *, key: str) -> Written:
        """Close the project to new time and expenses (delivery done: status completed);
        what was entered stays.

        Answers the project's reference (``created`` false). Idempotent: a completed project
        closed to entry is answered as it is. Raises ``RequestRejected`` with reason
        ``project_cancelled`` for a cancelled project, and ``NotFound`` when ``project``
        names no project.
        """

    @abstractmethod
    async def upsert_resource(self, resource: PsaResource, *, key: str) -> Written:
        """Create the worker's resource under ``key``, or bring the one made under ``key`` to
        these fields (``created`` false); the same fields twice change nothing.

        Answers the resource's reference (object type ``resource``).
        """

    @abstractmethod
    async def end_resource(self, resource: str, *, last_day: date, key: str) -> Written:
        """End the resource after ``last_day``: not bookable on a later day; what is booked
        up to it stays.

        Answers the resource's reference (``created`` false). Idempotent: a resource ending
        on ``last_day`` already is answered as it is. ``NotFound`` when ``resource`` names
        no resource.
        """

    @abstractmethod
    async def resource_assignments(self, resource: str) -> list[PsaAssignment]:
        """Every booking of the resource, in any status (empty: none)."""

    @abstractmethod
    async def cancel_assignment(self, assignment: str, *, key: str) -> Written:
        """Cancel the booking (status cancelled; kept, never deleted).

        Answers the booking's reference with its new ``external_version`` (``created``
        false). Idempotent: a cancelled booking is answered as it is. ``NotFound`` when
        ``assignment`` names no booking.
        """

    @abstractmethod
    async def end_assignment(self, assignment: str, *, last_day: date, key: str) -> Written:
        """End the booking at ``last_day`` (its new end date); what is booked up to it stays.

        Answers the booking's reference with its new ``external_version`` (``created``
        false). Idempotent: a booking ending on ``last_day`` already is answered as it is.
        ``NotFound`` when ``assignment`` names no booking.
        """

    @abstractmethod
    async def project_activity(self, project: str) -> PsaProjectActivity:
        """The time entries and expenses that name the project; ``NotFound`` when
        ``project`` names no project."""

    @abstractmethod
    async def time_entry(self, external_id: str) -> PsaTimeEntry:
        """The time entry as the PSA holds it now; ``NotFound`` if it does not exist."""

    @abstractmethod
    async def time_entries(
        self, *, status: str | None, project: str | None, start: date, end: date
    ) -> list[PsaTimeEntry]:
        """Entries worked in [start, end] (by status and project), for reconciliation."""

    @abstractmethod
    def change_source(self, feed: str) -> ChangeSource:
        """The changed records of ``feed`` (``time-entries``, ``expenses``, ``timesheets``,
        ``projects``, ``tasks``, ``change-orders``, ``assignments``, ``resource-requests``),
        for a ``polling.Poller``; a record may show up again (at-least-once)."""

    @abstractmethod
    async def record(self, feed: str, external_id: str) -> Mapping[str, Any]:
        """One record of ``feed`` in this PSA's own shape (to land it again when repairing)."""

    @abstractmethod
    async def read_project(self, record: Mapping[str, Any]) -> PsaProject:
        """A project record in this PSA's own shape (a webhook's or a feed's)."""

    @abstractmethod
    async def read_task(self, record: Mapping[str, Any]) -> PsaTask:
        """A task record in this PSA's own shape (a webhook's or a feed's)."""

    @abstractmethod
    async def read_change_order(self, record: Mapping[str, Any]) -> PsaChangeOrder:
        """A change-order record in this PSA's own shape (a webhook's or a feed's)."""

    @abstractmethod
    async def read_assignment(self, record: Mapping[str, Any]) -> PsaAssignment:
        """A booking record in this PSA's own shape (a webhook's or a feed's)."""

    @abstractmethod
    async def read_resource_request(self, record: Mapping[str, Any]) -> PsaResourceRequest:
        """A resource-request record in this PSA's own shape (a webhook's or a feed's)."""

    @abstractmethod
    async def read_time_entry(self, record: Mapping[str, Any]) -> PsaTimeEntry:
        """A time-entry record in this PSA's own shape (a webhook's or a feed's)."""

    @abstractmethod
    async def read_expense(self, record: Mapping[str, Any]) -> PsaExpense:
        """An expense record in this PSA's own shape (a webhook's or a feed's)."""

    @abstractmethod
    async def read_timesheet(self, record: Mapping[str, Any]) -> PsaTimesheet:
        """A timesheet record in this PSA's own shape (a webhook's or a feed's)."""

    @abstractmethod
    async def timesheet_entries(self, sheet: PsaTimesheet) -> list[PsaTimeEntry]:
        """The entries of ``sheet.entry_ids``, in that order, as the PSA holds them now;
        ``NotFound`` if one no longer exists."""
