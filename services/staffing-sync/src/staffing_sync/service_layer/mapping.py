"""Pure decisions of the worker sync: what a worker is in the PSA, which ERP employee key it
writes, whether an event is newer, and what makes an onboarding event unusable.

No I/O here, so the handlers' choices are tested without systems or a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tandem_connectors.directory import employee_key
from tandem_connectors.ports import PsaResource
from tandem_contracts.entities import CostRate, Worker, WorkerStatus
from tandem_contracts.events import ConsultantOnboarded

__all__ = [
    "WorkerRecord",
    "cost_rate_problem",
    "employee_key_of",
    "is_newer",
    "onboarding_problem",
    "resource_key",
    "resource_of",
    "termination_only",
    "worker_known_key",
]

# The fields a termination changes: a version changing only these ends the resource rather
# than rewriting it.
_TERMINATION_FIELDS = frozenset({"termination_date", "status"})


@dataclass(frozen=True)
class WorkerRecord:
    """A worker as staffing-sync last applied it (``staffing_sync.workers``)."""

    worker: Worker
    hired_in: str
    """The legal entity of the first employment (its ERP employee has the plain key)."""
    role_id: str | None
    start_date: date
    version: int


def is_newer(known: WorkerRecord | None, version: int) -> bool:
    """Whether a worker event at ``version`` is newer than what was applied (first: yes)."""
    return known is None or version > known.version


def resource_key(worker_id: str) -> str:
    """The idempotency key of the worker's PSA resource."""
    return f"resource:{worker_id}"


def worker_known_key(worker_id: str) -> str:
    """The dependency key released when the worker is first applied (what waits for it:
    a termination delivered before the hire)."""
    return f"worker-known:{worker_id}"


def employee_key_of(record: WorkerRecord) -> str:
    """The key of the worker's ERP employee in its current legal entity: the plain key in
    the entity of hire (the one time-expense writes), the entity's own after a transfer."""
    entity = record.worker.legal_entity_id
    return employee_key(record.worker.id, None if entity == record.hired_in else entity)


def resource_of(record: WorkerRecord, capacity_minutes_per_day: int) -> PsaResource:
    """The worker's PSA resource: named by number, bookable from the start to the last day
    (not while on leave), in the work country and calendar, costed to the org unit."""
    worker = record.worker
    return PsaResource(
        worker_id=worker.id, worker_number=worker.worker_number, role_id=record.role_id,
        country=worker.work_country, capacity_minutes_per_day=capacity_minutes_per_day,
        calendar_id=worker.work_calendar_id, cost_center=worker.org_unit_id,
        start_date=record.start_date, end_date=worker.termination_date,
        bookable=worker.status is not WorkerStatus.ON_LEAVE,
    )  # fmt: skip


def termination_only(changed_fields: tuple[str, ...], worker: Worker) -> bool:
    """Whether a ``WorkerUpdated`` only sets the last day (the resource is ended, no more)."""
    return worker.termination_date is not None and set(changed_fields) <= _TERMINATION_FIELDS


def onboarding_problem(onboarded: ConsultantOnboarded) -> str | None:
    """Why an onboarding cannot be applied (None: it can)."""
    worker = onboarded.worker
    if onboarded.cost_rate is not None:
        problem = cost_rate_problem(onboarded.cost_rate, worker.id)
        if problem is not None:
            return problem
    if worker.termination_date is not None and worker.termination_date < onboarded.start_date:
        return f"the last day {worker.termination_date} is before the start {onboarded.start_date}"
    return None


def cost_rate_problem(rate: CostRate, worker_id: str) -> str | None:
    """Why a cost rate cannot be a worker's (None: it can)."""
    if rate.worker_id != worker_id:
        return f"the cost rate names worker {rate.worker_id}, not {worker_id}"
    if rate.effective_to is not None and rate.effective_to < rate.effective_from:
        return f"the cost rate ends {rate.effective_to} before it starts {rate.effective_from}"
    return None
