"""The PSA port on the sandbox PSA (Kantata-like): projects, time entries, record feeds."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tandem_connectors.http import HttpTarget
from tandem_connectors.polling import ChangeSource
from tandem_connectors.ports import AbstractPsa, PsaTimeEntry, Written
from tandem_connectors.sandbox._changes import RecordChanges, pages
from tandem_contracts import ExternalRef, Money, SystemKind
from tandem_contracts.entities import Project

__all__ = ["SandboxPsa", "psa_time_entry"]

_FEEDS = frozenset({"time-entries", "expenses", "timesheets", "projects", "assignments"})


class SandboxPsa(AbstractPsa):
    """The PSA port over one sandbox PSA instance."""

    def __init__(self, target: HttpTarget, *, instance: str) -> None:
        self.instance = instance
        self._target = target
        self._workers: dict[str, str | None] = {}

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
        """Open the project for time and expense entry."""
        body = {"status": "in_progress", "open_for_time": True, "open_for_expenses": True}
        reply = await self._target.request(
            "PATCH", f"/v1/projects/{project}", json=body, idempotency_key=key
        )
        return self._written("project", reply.json(), False)

    async def time_entry(self, external_id: str) -> PsaTimeEntry:
        """The time entry as the PSA holds it now; ``NotFound`` if it does not exist."""
        record = (await self._target.request("GET", f"/v1/time-entries/{external_id}")).json()
        return psa_time_entry(record, await self._worker_of(record["resource_id"]))

    async def time_entries(
        self, *, status: str | None, project: str | None, start: date, end: date
    ) -> list[PsaTimeEntry]:
        """Entries worked in [start, end] (by status and project), for reconciliation."""
        filters = {k: v for k, v in (("status", status), ("project_id", project)) if v}
        records = await pages(self._target, "/v1/time-entries", filters)
        found = []
        for record in records:
            if start <= date.fromisoformat(record["date"]) <= end:
                found.append(psa_time_entry(record, await self._worker_of(record["resource_id"])))
        return found

    def change_source(self, feed: str) -> ChangeSource:
        """The changed records of ``feed`` (time-entries, expenses, timesheets, ...)."""
        if feed not in _FEEDS:
            raise ValueError(f"the PSA has no feed {feed!r}; it has {sorted(_FEEDS)}")
        return RecordChanges(self._target, f"/v1/{feed}")

    async def worker_of(self, resource_id: str) -> str | None:
        """The worker a PSA resource is (None for a placeholder)."""
        return await self._worker_of(resource_id)

    async def _worker_of(self, resource_id: str) -> str | None:
        if resource_id not in self._workers:
            record = (await self._target.request("GET", f"/v1/resources/{resource_id}")).json()
            self._workers[resource_id] = record.get("worker_ref")
        return self._workers[resource_id]

    def _written(self, kind: str, record: dict[str, Any], created: bool) -> Written:
        ref = ExternalRef(
            system=SystemKind.PSA,
            instance=self.instance,
            object_type=kind,
            external_id=record["id"],
            external_version=str(record.get("version")),
        )
        return Written(ref, created, record.get("code"))


def psa_time_entry(record: dict[str, Any], worker_id: str | None) -> PsaTimeEntry:
    """A PSA time-entry record as the port's ``PsaTimeEntry``."""
    rate = record.get("bill_rate")
    return PsaTimeEntry(
        external_id=record["id"],
        revision=int(record.get("revision", 1)),
        status=record["status"],
        resource_id=record["resource_id"],
        worker_id=worker_id,
        project_id=record["project_id"],
        task_id=record.get("task_id"),
        timesheet_id=record.get("timesheet_id"),
        work_date=date.fromisoformat(record["date"]),
        minutes=int(record["minutes"]),
        billable=bool(record.get("billable", True)),
        bill_rate=Money(amount=Decimal(rate), currency=record["currency"]) if rate else None,
        notes=record.get("notes"),
        updated_at=datetime.fromisoformat(record["updated_at"]),
    )
