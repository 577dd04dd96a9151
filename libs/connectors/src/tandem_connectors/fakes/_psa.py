"""``FakePsa``: a PSA in memory holding port records; its "records" are the port values."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tandem_connectors.errors import NotFound, RequestRejected, SystemUnavailable
from tandem_connectors.fakes._erp import _NoChanges
from tandem_connectors.polling import ChangeSource
from tandem_connectors.ports import (
    AbstractPsa,
    PsaAssignment,
    PsaChangeOrder,
    PsaExpense,
    PsaProject,
    PsaProjectActivity,
    PsaResource,
    PsaResourceRequest,
    PsaTask,
    PsaTimeEntry,
    PsaTimesheet,
    Written,
)
from tandem_contracts import ExternalRef, SystemKind
from tandem_contracts.entities import Project

__all__ = ["FakePsa"]

V = TypeVar("V")
Value = (
    PsaTimeEntry | PsaExpense | PsaTimesheet | PsaProject | PsaTask | PsaChangeOrder
    | PsaAssignment | PsaResourceRequest
)  # fmt: skip
Held = PsaTimeEntry | PsaExpense | PsaTimesheet | PsaAssignment | PsaResourceRequest
_FEEDS = {
    "time-entries": "entries", "expenses": "expenses", "timesheets": "timesheets",
    "assignments": "assignments", "resource-requests": "requests",
}  # fmt: skip


@dataclass
class FakePsa(AbstractPsa):
    """A PSA in memory: a test puts entries, expenses and timesheets in; a record of a feed is
    the value's fields with ``id`` and ``version`` (what ``read_*`` reads back).

    A project made by ``create_project`` has its key as its id and a status in ``statuses``
    (``estimate``, ``in_progress``, ``completed``, ``cancelled``) that the project calls move
    as the sandbox PSA's do; its activity is what ``entries`` and ``expenses`` name it in.
    A resource made by ``upsert_resource`` has its key as its id (``resources``); how many
    times it was written (changed) is in ``resource_writes``. A booking (``assignments``) put
    in by a test is cancelled or ended by the booking calls, each change a new version; a
    resource request (``requests``) is put in by a test as the PSA would hold it.
    """

    instance: str = "psa-fake"
    down: bool = False
    entries: dict[str, PsaTimeEntry] = field(default_factory=dict)
    expenses: dict[str, PsaExpense] = field(default_factory=dict)
    timesheets: dict[str, PsaTimesheet] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    resources: dict[str, PsaResource] = field(default_factory=dict)
    resource_writes: dict[str, int] = field(default_factory=dict)
    assignments: dict[str, PsaAssignment] = field(default_factory=dict)
    requests: dict[str, PsaResourceRequest] = field(default_factory=dict)

    def add(self, *values: Held) -> None:
        """Hold these values (replacing any with the same id)."""
        for value in values:
            if isinstance(value, PsaResourceRequest):
                self.requests[value.external_id] = value
            elif isinstance(value, PsaAssignment):
                self.assignments[value.external_id] = value
            elif isinstance(value, PsaTimeEntry):
                self.entries[value.external_id] = value
            elif isinstance(value, PsaExpense):
                self.expenses[value.external_id] = value
            else:
                self.timesheets[value.external_id] = value

    def _check(self) -> None:
        if self.down:
            raise SystemUnavailable(f"psa:{self.instance}", "the fake PSA is down")

    async def create_project(self, project: Project, *, key: str) -> Written:
        """Keep the project under its key."""
        self._check()
        created = key not in self.projects
        self.projects.setdefault(key, project)
        self.statuses.setdefault(key, "estimate")
        return Written(self._project_ref(key), created, project.code)

    async def activate_project(self, project: str, *, key: str) -> Written:
        """Set the project in progress; a cancelled or completed one is refused."""
        self._check()
        status = self._status(project)
        if status in ("cancelled", "completed"):
            reason = "project_cancelled" if status == "cancelled" else "project_closed"
            raise RequestRejected(reason, f"the fake PSA's project {project} is {status}")
        self.statuses[project] = "in_progress"
        return Written(self._project_ref(project), False, self.projects[project].code)

    async def cancel_project(self, project: str, *, key: str) -> Written:
        """Cancel the project unless an entry or expense names it."""
        self._check()
        if self._status(project) != "cancelled":
            activity = self._activity(project)
            if not activity.empty:
                raise RequestRejected(
                    "project_has_activity", f"the fake PSA's project {project}: {activity}"
                )
            self.statuses[project] = "cancelled"
        return Written(self._project_ref(project), False, self.projects[project].code)

    async def close_project(self, project: str, *, key: str) -> Written:
        """Complete the project; a cancelled one is refused."""
        self._check()
        if self._status(project) == "cancelled":
            raise RequestRejected("project_cancelled", f"the fake PSA's {project} is cancelled")
        self.statuses[project] = "completed"
        return Written(self._project_ref(project), False, self.projects[project].code)

    async def upsert_resource(self, resource: PsaResource, *, key: str) -> Written:
        """Keep the resource under its key (a write counted only when something changed)."""
        self._check()
        created = key not in self.resources
        if self.resources.get(key) != resource:
            self.resources[key] = resource
            self.resource_writes[key] = self.resource_writes.get(key, 0) + 1
        return Written(self._ref("resource", key), created)

    async def end_resource(self, resource: str, *, last_day: dt.date, key: str) -> Written:
        """Set the held resource's last day."""
        self._check()
        held = self._held(self.resources, resource)
        if held.end_date != last_day:
            self.resources[resource] = dataclasses.replace(held, end_date=last_day)
            self.resource_writes[resource] = self.resource_writes.get(resource, 0) + 1
        return Written(self._ref("resource", resource), False)

    async def resource_assignments(self, resource: str) -> list[PsaAssignment]:
        """The held bookings of the resource."""
        self._check()
        return [a for a in self.assignments.values() if a.resource_id == resource]

    async def cancel_assignment(self, assignment: str, *, key: str) -> Written:
        """Cancel the held booking (a new version unless cancelled already)."""
        return self._change_assignment(assignment, status="cancelled")

    async def end_assignment(self, assignment: str, *, last_day: dt.date, key: str) -> Written:
        """End the held booking at ``last_day`` (a new version unless it ends then already)."""
        return self._change_assignment(assignment, end_date=last_day)

    def _change_assignment(self, assignment: str, **changes: Any) -> Written:
        self._check()
        held = self._held(self.assignments, assignment)
        if any(getattr(held, name) != value for name, value in changes.items()):
            held = dataclasses.replace(held, version=held.version + 1, **changes)
            self.assignments[assignment] = held
        ref = self._ref("assignment", assignment).model_copy(
            update={"external_version": str(held.version)}
        )
        return Written(ref, False)

    async def project_activity(self, project: str) -> PsaProjectActivity:
        """The held entries and expenses naming the project."""
        self._check()
        self._status(project)
        return self._activity(project)

    def _status(self, project: str) -> str:
        if project not in self.statuses:
            raise NotFound(f"the fake PSA holds no project {project}")
        return self.statuses[project]

    def _activity(self, project: str) -> PsaProjectActivity:
        entries = [e for e in self.entries.values() if e.project_id == project]
        return PsaProjectActivity(
            time_entries=len(entries),
            approved_time_entries=sum(e.status == "approved" for e in entries),
            expenses=sum(x.project_id == project for x in self.expenses.values()),
        )

    def _project_ref(self, project: str) -> ExternalRef:
        return self._ref("project", project)

    def _ref(self, object_type: str, external_id: str) -> ExternalRef:
        return ExternalRef(
            system=SystemKind.PSA, instance=self.instance, object_type=object_type,
            external_id=external_id,
        )  # fmt: skip

    async def time_entry(self, external_id: str) -> PsaTimeEntry:
        """The held entry."""
        self._check()
        return self._held(self.entries, external_id)

    async def time_entries(
        self, *, status: str | None, project: str | None, start: dt.date, end: dt.date
    ) -> list[PsaTimeEntry]:
        """Held entries worked in [start, end]."""
        self._check()
        return [
            e for e in self.entries.values()
            if start <= e.work_date <= end and status in (None, e.status)
            and project in (None, e.project_id)
        ]  # fmt: skip

    def change_source(self, feed: str) -> ChangeSource:
        """No feed: tests land records themselves."""
        return _NoChanges()

    async def record(self, feed: str, external_id: str) -> Mapping[str, Any]:
        """The held value of ``feed`` as a record."""
        self._check()
        held: dict[str, Any] = getattr(self, _FEEDS[feed])
        return self.record_of(self._held(held, external_id))

    @staticmethod
    def record_of(value: Value) -> dict[str, Any]:
        """A value as the record a feed or webhook would carry."""
        return {**dataclasses.asdict(value), "id": value.external_id, "version": value.version}

    async def read_project(self, record: Mapping[str, Any]) -> PsaProject:
        """The project version a record (``record_of``) carries."""
        return _value_of(PsaProject, record)

    async def read_task(self, record: Mapping[str, Any]) -> PsaTask:
        """The task version a record (``record_of``) carries."""
        return _value_of(PsaTask, record)

    async def read_change_order(self, record: Mapping[str, Any]) -> PsaChangeOrder:
        """The change-order version a record (``record_of``) carries."""
        return _value_of(PsaChangeOrder, record)

    async def read_assignment(self, record: Mapping[str, Any]) -> PsaAssignment:
        """The booking version a record (``record_of``) carries."""
        return _value_of(PsaAssignment, record)

    async def read_resource_request(self, record: Mapping[str, Any]) -> PsaResourceRequest:
        """The request version a record (``record_of``) carries."""
        request = _value_of(PsaResourceRequest, record)
        return dataclasses.replace(request, required_skills=tuple(request.required_skills))

    async def read_time_entry(self, record: Mapping[str, Any]) -> PsaTimeEntry:
        """The entry a record names, as held."""
        return self._held(self.entries, str(record["id"]))

    async def read_expense(self, record: Mapping[str, Any]) -> PsaExpense:
        """The expense a record names, as held."""
        return self._held(self.expenses, str(record["id"]))

    async def read_timesheet(self, record: Mapping[str, Any]) -> PsaTimesheet:
        """The timesheet a record names, as held."""
        return self._held(self.timesheets, str(record["id"]))

    async def timesheet_entries(self, sheet: PsaTimesheet) -> list[PsaTimeEntry]:
        """The sheet's entries, in its order."""
        self._check()
        return [self._held(self.entries, entry_id) for entry_id in sheet.entry_ids]

    @staticmethod
    def _held(values: Mapping[str, V], external_id: str) -> V:
        if external_id not in values:
            raise NotFound(f"the fake PSA holds no {external_id}")
        return values[external_id]


def _value_of(kind: type[V], record: Mapping[str, Any]) -> V:
    """The port value whose fields a record holds (``KeyError`` for one missing)."""
    names = [f.name for f in dataclasses.fields(kind)]  # type: ignore[arg-type]
    return kind(**{name: record[name] for name in names})
