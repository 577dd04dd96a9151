"""The PSA port over a Kantata-like REST PSA: projects, time entries, timesheets, feeds (resource
requests are read by ``_psa_requests``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tandem_connectors.errors import RequestRejected
from tandem_connectors.http import HttpTarget
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
from tandem_connectors.rest._changes import RecordChanges, pages
from tandem_connectors.rest._psa_requests import RESOURCE_REQUESTS_FEED, psa_resource_request
from tandem_connectors.rest._records import optional_date, reading
from tandem_contracts import ExternalRef, Money, SystemKind
from tandem_contracts.entities import Project

__all__ = [
    "RestPsa",
    "psa_assignment",
    "psa_change_order",
    "psa_project",
    "psa_resource_body",
    "psa_task",
    "psa_time_entry",
    "psa_timesheet",
]

_FEEDS = frozenset(
    {"time-entries", "expenses", "timesheets", "projects", "assignments", "tasks", "change-orders",
     RESOURCE_REQUESTS_FEED}
)  # fmt: skip
# The statuses a project does not leave by activation, and the reason activating one is refused.
_ENDED = {"cancelled": "project_cancelled", "completed": "project_closed"}


class RestPsa(AbstractPsa):
    """The PSA port over one REST PSA instance (the sandbox PSA speaks this API)."""

    def __init__(self, target: HttpTarget, *, instance: str) -> None:
        self.instance = instance
        self._target = target
        self._resources: dict[str, tuple[str | None, str | None]] = {}

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._target.aclose()

    async def create_project(self, project: Project, *, key: str) -> Written:
        """Create the delivery project (with the ERP-minted code, when known)."""
        body = {
            "external_id": key,
            "name": project.name,
            "code": project.code,
            "currency": project.currency,
            "start_date": project.start_date.isoformat() if project.start_date else None,
            "end_date": project.end_date.isoformat() if project.end_date else None,
            "rate_card_id": project.rate_card_id,
        }
        reply = await self._target.request("POST", "/v1/projects", json=body, idempotency_key=key)
        return self._written("project", reply.json(), reply.status_code == 201)

    async def activate_project(self, project: str, *, key: str) -> Written:
        """Set the project in progress, open for time and expense entry (once); a cancelled
        or completed project is not reopened."""
        current = (await self._target.request("GET", f"/v1/projects/{project}")).json()
        if (status := current["status"]) in _ENDED:
            raise RequestRejected(_ENDED[status], f"PSA project {project} is {status}")
        body = {"status": "in_progress", "open_for_time": True, "open_for_expenses": True}
        if all(current.get(field) == value for field, value in body.items()):
            return self._written("project", current, False)
        reply = await self._target.request(
            "PATCH", f"/v1/projects/{project}", json=body, idempotency_key=key
        )
        return self._written("project", reply.json(), False)

    async def cancel_project(self, project: str, *, key: str) -> Written:
        """Cancel the project (the PSA's action refuses one a time entry or expense names)."""
        reply = await self._target.request(
            "POST", f"/v1/projects/{project}/cancel", idempotency_key=key
        )
        return self._written("project", reply.json(), False)

    async def close_project(self, project: str, *, key: str) -> Written:
        """Complete the project and close it to time and expenses (once)."""
        current = (await self._target.request("GET", f"/v1/projects/{project}")).json()
        closed = {"status": "completed", "open_for_time": False, "open_for_expenses": False}
        if current["status"] == "cancelled":
            raise RequestRejected("project_cancelled", f"PSA project {project} is cancelled")
        if all(current.get(field) == value for field, value in closed.items()):
            return self._written("project", current, False)
        reply = await self._target.request(
            "PATCH", f"/v1/projects/{project}", json=closed, idempotency_key=key
        )
        return self._written("project", reply.json(), False)

    async def upsert_resource(self, resource: PsaResource, *, key: str) -> Written:
        """Create or update the worker's resource (the PSA upserts by ``external_id``)."""
        body = {"external_id": key, **psa_resource_body(resource)}
        reply = await self._target.request("POST", "/v1/resources", json=body, idempotency_key=key)
        written = self._written("resource", reply.json(), reply.status_code == 201)
        self._resources[written.external_id] = (resource.worker_id, resource.role_id)
        return written

    async def end_resource(self, resource: str, *, last_day: date, key: str) -> Written:
        """Set the resource's last bookable day (once)."""
        current = (await self._target.request("GET", f"/v1/resources/{resource}")).json()
        if current.get("end_date") == last_day.isoformat():
            return self._written("resource", current, False)
        reply = await self._target.request(
            "PATCH", f"/v1/resources/{resource}", json={"end_date": last_day.isoformat()},
            idempotency_key=key,
        )  # fmt: skip
        return self._written("resource", reply.json(), False)

    async def resource_assignments(self, resource: str) -> list[PsaAssignment]:
        """Every booking of the resource, in any status."""
        records = await pages(self._target, "/v1/assignments", {"resource_id": resource})
        return [await self.read_assignment(record) for record in records]

    async def cancel_assignment(self, assignment: str, *, key: str) -> Written:
        """Set the booking's status cancelled (once)."""
        return await self._patch_assignment(assignment, {"status": "cancelled"}, key)

    async def end_assignment(self, assignment: str, *, last_day: date, key: str) -> Written:
        """Set the booking's end date (once)."""
        return await self._patch_assignment(assignment, {"end_date": last_day.isoformat()}, key)

    async def _patch_assignment(self, assignment: str, body: dict[str, Any], key: str) -> Written:
        path = f"/v1/assignments/{assignment}"
        current = (await self._target.request("GET", path)).json()
        if all(current.get(field) == value for field, value in body.items()):
            return self._written("assignment", current, False)
        reply = await self._target.request("PATCH", path, json=body, idempotency_key=key)
        return self._written("assignment", reply.json(), False)

    async def project_activity(self, project: str) -> PsaProjectActivity:
        """The time entries (approved ones among them) and expenses naming the project."""
        body = (await self._target.request("GET", f"/v1/projects/{project}/activity")).json()
        return PsaProjectActivity(
            time_entries=int(body["time_entries"]),
            approved_time_entries=int(body["approved_time_entries"]),
            expenses=int(body["expenses"]),
        )

    async def time_entry(self, external_id: str) -> PsaTimeEntry:
        """The time entry as the PSA holds it now; ``NotFound`` if it does not exist."""
        record = (await self._target.request("GET", f"/v1/time-entries/{external_id}")).json()
        return await self.read_time_entry(record)

    async def time_entries(
        self, *, status: str | None, project: str | None, start: date, end: date
    ) -> list[PsaTimeEntry]:
        """Entries worked in [start, end] (by status and project), for reconciliation."""
        filters = {k: v for k, v in (("status", status), ("project_id", project)) if v}
        records = await pages(self._target, "/v1/time-entries", filters)
        found = []
        for record in records:
            if start <= date.fromisoformat(record["date"]) <= end:
                found.append(await self.read_time_entry(record))
        return found

    def change_source(self, feed: str) -> ChangeSource:
        """The changed records of ``feed`` (time-entries, expenses, timesheets, ...)."""
        if feed not in _FEEDS:
            raise ValueError(f"the PSA has no feed {feed!r}; it has {sorted(_FEEDS)}")
        return RecordChanges(self._target, f"/v1/{feed}")

    async def record(self, feed: str, external_id: str) -> Mapping[str, Any]:
        """One record of ``feed`` as the PSA shows it."""
        if feed not in _FEEDS:
            raise ValueError(f"the PSA has no feed {feed!r}; it has {sorted(_FEEDS)}")
        record: Mapping[str, Any] = (
            await self._target.request("GET", f"/v1/{feed}/{external_id}")
        ).json()
        return record

    async def read_project(self, record: Mapping[str, Any]) -> PsaProject:
        """A project record of this PSA (webhook ``data`` or a feed record)."""
        return psa_project(record)

    async def read_task(self, record: Mapping[str, Any]) -> PsaTask:
        """A task record of this PSA (webhook ``data`` or a feed record)."""
        return psa_task(record)

    async def read_change_order(self, record: Mapping[str, Any]) -> PsaChangeOrder:
        """A change-order record of this PSA (webhook ``data`` or a feed record)."""
        return psa_change_order(record)

    async def read_assignment(self, record: Mapping[str, Any]) -> PsaAssignment:
        """A booking record of this PSA (webhook ``data`` or a feed record)."""
        worker, _ = await self._resource(record["resource_id"])
        return psa_assignment(record, worker)

    async def read_resource_request(self, record: Mapping[str, Any]) -> PsaResourceRequest:
        """A resource-request record of this PSA (webhook ``data`` or a feed record)."""
        return psa_resource_request(record)

    async def read_time_entry(self, record: Mapping[str, Any]) -> PsaTimeEntry:
        """A time-entry record of this PSA (webhook ``data`` or a feed record)."""
        worker, role = await self._resource(record["resource_id"])
        return psa_time_entry(record, worker, role)

    async def read_expense(self, record: Mapping[str, Any]) -> PsaExpense:
        """An expense record of this PSA (webhook ``data`` or a feed record)."""
        worker, _ = await self._resource(record["resource_id"])
        return PsaExpense(
            external_id=record["id"],
            version=int(record["version"]),
            status=record["status"],
            resource_id=record["resource_id"],
            worker_id=worker,
            project_id=record["project_id"],
            expense_date=date.fromisoformat(record["date"]),
            category=record["category"],
            amount=Money(amount=Decimal(record["amount"]), currency=record["currency"]),
            billable=bool(record.get("billable", True)),
            markup_multiplier=Decimal(record.get("markup_multiplier") or 1),
            receipt_ref=record.get("receipt_ref"),
            updated_at=datetime.fromisoformat(record["updated_at"]),
        )

    async def read_timesheet(self, record: Mapping[str, Any]) -> PsaTimesheet:
        """A timesheet record of this PSA (webhook ``data`` or a feed record)."""
        worker, _ = await self._resource(record["resource_id"])
        return psa_timesheet(record, worker)

    async def timesheet_entries(self, sheet: PsaTimesheet) -> list[PsaTimeEntry]:
        """The sheet's entries in ``entry_ids`` order, as the PSA holds them now.

        One listing by timesheet; an entry it does not show (moved on to another sheet since)
        is read by id, so the answer is exactly ``entry_ids``.
        """
        if not sheet.entry_ids:
            return []
        listed = await pages(self._target, "/v1/time-entries", {"timesheet_id": sheet.external_id})
        records: dict[str, Mapping[str, Any]] = {record["id"]: record for record in listed}
        entries = []
        for entry_id in sheet.entry_ids:
            record = records.get(entry_id)
            if record is None:
                record = (await self._target.request("GET", f"/v1/time-entries/{entry_id}")).json()
            entries.append(await self.read_time_entry(record))
        return entries

    async def _resource(self, resource_id: str) -> tuple[str | None, str | None]:
        """The (worker, role) a PSA resource is; no worker for a placeholder."""
        if resource_id not in self._resources:
            record = (await self._target.request("GET", f"/v1/resources/{resource_id}")).json()
            self._resources[resource_id] = (record.get("worker_ref"), record.get("role"))
        return self._resources[resource_id]

    def _written(self, kind: str, record: dict[str, Any], created: bool) -> Written:
        ref = ExternalRef(
            system=SystemKind.PSA,
            instance=self.instance,
            object_type=kind,
            external_id=record["id"],
            external_version=str(record.get("version")),
        )
        return Written(ref, created, record.get("code"))


def psa_resource_body(resource: PsaResource) -> dict[str, Any]:
    """The sandbox PSA's resource fields for ``resource``: named by the worker number only."""
    return {
        "name": resource.worker_number,
        "worker_ref": resource.worker_id,
        "role": resource.role_id,
        "skills": [{"skill": skill, "level": level} for skill, level in resource.skills],
        "capacity_minutes_per_day": resource.capacity_minutes_per_day,
        "bookable": resource.bookable,
        "country": resource.country,
        "calendar_id": resource.calendar_id,
        "cost_center": resource.cost_center,
        "start_date": resource.start_date.isoformat() if resource.start_date else None,
        "end_date": resource.end_date.isoformat() if resource.end_date else None,
    }


def psa_time_entry(
    record: Mapping[str, Any], worker_id: str | None, role_id: str | None
) -> PsaTimeEntry:
    """A PSA time-entry record as the port's ``PsaTimeEntry``."""
    rate = record.get("bill_rate")
    adjustment = record.get("adjustment") or {}
    return PsaTimeEntry(
        external_id=record["id"],
        version=int(record["version"]),
        revision=int(record.get("revision", 1)),
        status=record["status"],
        resource_id=record["resource_id"],
        worker_id=worker_id,
        role_id=role_id,
        project_id=record["project_id"],
        task_id=record.get("task_id"),
        timesheet_id=record.get("timesheet_id"),
        work_date=date.fromisoformat(record["date"]),
        minutes=int(record["minutes"]),
        billable=bool(record.get("billable", True)),
        bill_rate=Money(amount=Decimal(rate), currency=record["currency"]) if rate else None,
        notes=record.get("notes"),
        updated_at=datetime.fromisoformat(record["updated_at"]),
        adjustment_reason=adjustment.get("reason"),
    )


def psa_timesheet(record: Mapping[str, Any], worker_id: str | None) -> PsaTimesheet:
    """A PSA timesheet record as the port's ``PsaTimesheet``."""
    return PsaTimesheet(
        external_id=record["id"],
        version=int(record["version"]),
        status=record["status"],
        resource_id=record["resource_id"],
        worker_id=worker_id,
        period_start=date.fromisoformat(record["period_start"]),
        period_end=date.fromisoformat(record["period_end"]),
        entry_ids=tuple(record.get("entry_ids") or ()),
        updated_at=datetime.fromisoformat(record["updated_at"]),
    )


def _money(record: Mapping[str, Any], field: str, currency: str) -> Money | None:
    amount = record.get(field)
    return None if amount is None else Money(amount=Decimal(str(amount)), currency=currency)


def psa_project(record: Mapping[str, Any]) -> PsaProject:
    """A PSA project record as the port's ``PsaProject``."""
    with reading("PSA", "project", record):
        return PsaProject(
            external_id=record["id"],
            version=int(record["version"]),
            status=record["status"],
            open_for_time=bool(record.get("open_for_time", False)),
            code=record.get("code"),
            currency=record["currency"],
            start_date=optional_date(record.get("start_date")),
            end_date=optional_date(record.get("end_date")),
            updated_at=datetime.fromisoformat(record["updated_at"]),
        )


def psa_task(record: Mapping[str, Any]) -> PsaTask:
    """A PSA task record as the port's ``PsaTask`` (a milestone's fee in its currency)."""
    with reading("PSA", "task", record):
        currency = record.get("currency")
        return PsaTask(
            external_id=record["id"],
            version=int(record["version"]),
            project_id=record["project_id"],
            type=record.get("type", "task"),
            name=record["name"],
            status=record["status"],
            due_date=optional_date(record.get("due_date")),
            billing_amount=_money(record, "billing_amount", currency) if currency else None,
            updated_at=datetime.fromisoformat(record["updated_at"]),
        )


def psa_assignment(record: Mapping[str, Any], worker_id: str | None) -> PsaAssignment:
    """A PSA booking record as the port's ``PsaAssignment`` (its rate in its currency)."""
    with reading("PSA", "assignment", record):
        currency = record.get("currency")
        return PsaAssignment(
            external_id=record["id"], version=int(record["version"]),
            project_id=record["project_id"], resource_id=record["resource_id"],
            worker_id=worker_id, task_id=record.get("task_id"), role=record.get("role"),
            start_date=date.fromisoformat(record["start_date"]),
            end_date=date.fromisoformat(record["end_date"]),
            minutes_per_day=int(record["minutes_per_day"]),
            booking=record.get("booking", "hard"), status=record.get("status", "active"),
            bill_rate=_money(record, "bill_rate", currency) if currency else None,
            updated_at=datetime.fromisoformat(record["updated_at"]),
        )  # fmt: skip


def psa_change_order(record: Mapping[str, Any]) -> PsaChangeOrder:
    """A PSA change-order record as the port's ``PsaChangeOrder``."""
    with reading("PSA", "change order", record):
        currency = record["currency"]
        minutes = record.get("budget_minutes")
        return PsaChangeOrder(
            external_id=record["id"],
            version=int(record["version"]),
            project_id=record["project_id"],
            status=record["status"],
            description=record.get("description"),
            currency=currency,
            budget_minutes=None if minutes is None else int(minutes),
            budget_amount=_money(record, "budget_amount", currency),
            total_value=_money(record, "total_value", currency),
            cap=_money(record, "cap", currency),
            effective_from=date.fromisoformat(record["effective_from"]),
            updated_at=datetime.fromisoformat(record["updated_at"]),
        )
