"""What a new HRIS version of a worker means (DOMAIN.md §2.2 Worker, §3 WorkerHired …, §4.8).

The HRIS is the system of record: each version is a full snapshot, numbered by the HRIS. One
worker's versions are judged against the newest one known, never against arrival order:

* an older version than the one known is ``stale`` and ignored, the same version again (a
  redelivery) is ``no_change``; so however the feed and the webhooks reorder or repeat them,
  keeping the newest gives the same final state, and no event is ever derived from a version
  older than one already acted on (``apply_version``);
* the first version seen is a ``hired``, whatever its dates. A future-dated or pending hire
  (``pre_hire``) is onboarded at once, as Workday pending hires are (§3: "hire / pending hire"):
  the PSA and the RM get a resource that is staffable from the start date and not before, the ERP
  an employee, and time-expense refuses time before the start date. A worker first seen already
  terminated (or with a fixed end date, as contractors have) is onboarded with that last day
  too: time-expense must know them to refuse time after it, and the ERP to take time before it;
* an ended worker (termination date set) who comes back on a start date after the last day is
  ``rehired``: same worker id, a new employment (which may carry its own last day); a
  termination taken back with no new start date is only an ``updated`` ``termination_date``;
* a termination date set or moved is ``terminated``: the last day, after which assignments are
  cancelled and the resource ends;
* a change of legal entity is ``transferred``: a new employee in the new entity's ERP from the
  transfer date, the old employment ending the day before; assignments stay (the worker does);
* any other change of a field someone consumes (``FIELD_CONSUMERS``) is ``updated``; a version
  that changes only what nobody consumes (a name, which Tandem never reads) is ``no_change``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from tandem_contracts.entities import WorkerStatus

__all__ = [
    "FIELD_CONSUMERS",
    "EndedEmployment",
    "UnknownWorkerStatusError",
    "WorkerChange",
    "WorkerDecision",
    "WorkerVersion",
    "apply_version",
    "classify_version",
    "consumers_of",
    "worker_status",
]


@dataclass(frozen=True, slots=True)
class WorkerVersion:
    """One version of a worker as the HRIS wrote it, in HRIS ids and HRIS status values.

    ``effective_date`` is the date the HRIS gives the change (Workday's effective date), when
    its record carries one; without it a change takes effect on the day it was written.
    ``email`` is personal data: kept out of ``repr`` and, outside the worker's residency
    region, out of events (``residency``).
    """

    worker_id: str
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
    role: str | None = None
    effective_date: date | None = None
    email: str | None = field(default=None, repr=False)


class WorkerChange(StrEnum):
    """What a worker version means for staffing-sync."""

    HIRED = "hired"
    REHIRED = "rehired"
    TRANSFERRED = "transferred"
    UPDATED = "updated"
    TERMINATED = "terminated"
    NO_CHANGE = "no_change"
    STALE = "stale"


_QUIET = frozenset({WorkerChange.NO_CHANGE, WorkerChange.STALE})

# Who acts on a change of each (canonical) field: the PSA user, the RM resource, the ERP
# employee and the services that keep workers as reference data.
FIELD_CONSUMERS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "legal_entity_id": frozenset({"erp", "psa", "rm", "time-expense", "billing-readiness"}),
        "worker_number": frozenset({"erp", "psa"}),
        "employment_type": frozenset({"erp", "rm"}),
        "status": frozenset({"rm", "psa"}),  # on leave: not bookable
        "hire_date": frozenset({"erp", "psa", "rm", "time-expense"}),
        "termination_date": frozenset({"erp", "psa", "rm", "time-expense"}),
        "manager_id": frozenset({"psa", "rm"}),  # the timesheet approver
        "org_unit_id": frozenset({"erp", "psa", "rm"}),  # the cost centre
        "work_country": frozenset({"psa", "rm"}),  # location matching
        "work_calendar_id": frozenset({"psa", "rm"}),  # capacity
        "home_currency": frozenset({"erp"}),
        "role_id": frozenset({"psa", "rm"}),
        "email": frozenset({"psa"}),  # the user's login; personal, stays in region
    }
)

_LEAVE = frozenset({"on_leave", "leave_of_absence"})
_KNOWN_STATUSES = frozenset({"pre_hire", "active", "terminated"}) | _LEAVE


@dataclass(frozen=True, slots=True)
class EndedEmployment:
    """An employment that ends: in ``legal_entity``, after ``last_day``."""

    legal_entity: str
    last_day: date


@dataclass(frozen=True, slots=True)
class WorkerDecision:
    """What a version means: the change, the consumed fields it changed, and from when.

    ``ended`` is the employment that ends: the worker's own (a termination, or a hire with a
    last day), or for a transfer the old entity's, ending the day before the transfer date.
    """

    change: WorkerChange
    effective_date: date | None = None
    changed_fields: tuple[str, ...] = ()
    ended: EndedEmployment | None = None

    @property
    def publishes(self) -> bool:
        """Whether the version is news for anyone (neither stale nor a no-op)."""
        return self.change not in _QUIET

    @property
    def cancels_assignments_after(self) -> date | None:
        """The day after which the worker's assignments are cancelled (a transfer keeps them)."""
        if self.ended is None or self.change is WorkerChange.TRANSFERRED:
            return None
        return self.ended.last_day


class UnknownWorkerStatusError(ValueError):
    """An HRIS status Tandem does not know: set the record aside rather than guess."""

    def __init__(self, status: str) -> None:
        super().__init__(f"HRIS worker status {status!r} is not known")
        self.status = status


def _consumed(version: WorkerVersion) -> dict[str, object]:
    return {
        "legal_entity_id": version.legal_entity,
        "worker_number": version.worker_number,
        "employment_type": version.employment_type,
        # pre_hire → active on the start day is not news: the hire date said so already.
        "status": _standing(version.status),
        "hire_date": version.hire_date,
        "termination_date": version.termination_date,
        "manager_id": version.manager_id,
        "org_unit_id": version.org_unit,
        "work_country": version.work_country,
        "work_calendar_id": version.work_calendar,
        "home_currency": version.home_currency,
        "role_id": version.role,
        "email": version.email,
    }


def _standing(status: str) -> str:
    if status in _LEAVE:
        return "on_leave"
    return "terminated" if status == "terminated" else "working"


def _changed(previous: WorkerVersion, new: WorkerVersion) -> tuple[str, ...]:
    before, after = _consumed(previous), _consumed(new)
    return tuple(name for name in FIELD_CONSUMERS if before[name] != after[name])


def _effective(version: WorkerVersion) -> date:
    return version.effective_date or version.updated_at.date()


def _last_day(version: WorkerVersion) -> date | None:
    if version.termination_date is not None:
        return version.termination_date
    return _effective(version) if version.status == "terminated" else None


def _ending(version: WorkerVersion) -> EndedEmployment | None:
    last_day = _last_day(version)
    return None if last_day is None else EndedEmployment(version.legal_entity, last_day)


def classify_version(previous: WorkerVersion | None, new: WorkerVersion) -> WorkerDecision:
    """What ``new`` means after ``previous``, the newest version known (None: never seen)."""
    if previous is None:
        return WorkerDecision(WorkerChange.HIRED, new.hire_date, (), _ending(new))
    if new.version < previous.version:
        return WorkerDecision(WorkerChange.STALE)
    changed = _changed(previous, new)
    if new.version == previous.version or not changed:
        return WorkerDecision(WorkerChange.NO_CHANGE)
    was_ended, ended = _last_day(previous), _ending(new)
    if _starts_again(was_ended, new, ended):
        return WorkerDecision(WorkerChange.REHIRED, new.hire_date, changed, ended)
    if ended is not None and _moved(was_ended, new, ended.last_day):
        return WorkerDecision(WorkerChange.TERMINATED, ended.last_day, changed, ended)
    if "legal_entity_id" in changed:
        moved = _transfer_date(previous, new)
        old = EndedEmployment(previous.legal_entity, moved - timedelta(days=1))
        return WorkerDecision(WorkerChange.TRANSFERRED, moved, changed, old)
    return WorkerDecision(WorkerChange.UPDATED, _effective(new), changed)


def _starts_again(
    was_ended: date | None, new: WorkerVersion, ended: EndedEmployment | None
) -> bool:
    # A new employment: it starts after the old last day (and may have its own, later, end).
    if was_ended is None or new.hire_date <= was_ended:
        return False
    return ended is None or ended.last_day >= new.hire_date


def _moved(was_ended: date | None, new: WorkerVersion, last_day: date) -> bool:
    # A status-only termination is dated by its version: a later version of it moves nothing.
    if was_ended is None:
        return True
    return new.termination_date is not None and last_day != was_ended


def _transfer_date(previous: WorkerVersion, new: WorkerVersion) -> date:
    # A transfer the HRIS runs as a new hire in the new company dates it by the new start.
    if new.effective_date is None and new.hire_date > previous.hire_date:
        return new.hire_date
    return _effective(new)


def apply_version(
    known: WorkerVersion | None, new: WorkerVersion
) -> tuple[WorkerVersion, WorkerDecision]:
    """Judge ``new`` against ``known`` and keep the newer: the state to store and the decision."""
    decision = classify_version(known, new)
    if known is not None and new.version <= known.version:
        return known, decision
    return new, decision


def consumers_of(fields: Iterable[str]) -> frozenset[str]:
    """The systems and services that act on a change of ``fields``."""
    return frozenset().union(*(FIELD_CONSUMERS.get(name, frozenset()) for name in fields))


def worker_status(version: WorkerVersion, today: date) -> WorkerStatus:
    """The canonical status on ``today``: dates decide, the HRIS status only says "on leave".

    An HRIS that leaves ``pre_hire`` after the start day, or ``active`` after the last day (the
    sandbox does both), still yields the status the dates give.
    """
    if version.status not in _KNOWN_STATUSES:
        raise UnknownWorkerStatusError(version.status)
    last_day = _last_day(version)
    if version.status == "terminated" or (last_day is not None and last_day < today):
        return WorkerStatus.TERMINATED
    if version.hire_date > today:
        return WorkerStatus.PRE_HIRE
    return WorkerStatus.ON_LEAVE if version.status in _LEAVE else WorkerStatus.ACTIVE
