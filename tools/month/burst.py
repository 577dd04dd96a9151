"""Approved time arriving in bulk: synthetic approved entries of a generated firm, written
straight into the sandbox PSA (as a month-end approval run leaves them), which time-expense
then finds through its PSA polling."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg

from tandem_contracts import uuid7
from tandem_contracts.entities import AssignmentStatus, ProjectStatus
from tandem_sandbox import Sandbox
from tandem_sandbox.scenario import Firm

__all__ = ["Pair", "approve", "pairs_of", "wait_known"]


@dataclass(frozen=True)
class Pair:
    """A resource that may book time on a project (same entity, project open, assigned),
    on the days its worker is employed."""

    resource_id: str
    project_id: str
    hired: date | None = None
    leaves: date | None = None

    def may_book(self, day: date) -> bool:
        """Whether the worker is employed on ``day`` (an ERP refuses time outside that)."""
        return (self.hired is None or self.hired <= day) and (
            self.leaves is None or day <= self.leaves
        )


def pairs_of(firm: Firm, psa_projects: dict[str, str]) -> list[Pair]:
    """Every (resource, project) the firm's active assignments allow, within one entity; the
    project as the PSA names it (``psa_projects``: generated id → the PSA's)."""
    projects = {p.id: p for p in firm.projects}
    workers = {w.id: w for w in firm.workers}
    resources = {r.worker_id: r.id for r in firm.resources if r.worker_id}
    pairs = []
    for assignment in firm.assignments:
        project = projects[assignment.project_id]
        worker = workers.get(assignment.worker_id or "")
        if (
            worker is None
            or assignment.status is AssignmentStatus.PROPOSED
            or project.status is not ProjectStatus.ACTIVE
            or not project.flags.time_entry_open
            or project.flags.time_requires_assignment  # the bench dates ignore assignment spans
            or worker.legal_entity_id != project.legal_entity_id
            or worker.id not in resources
            or project.id not in psa_projects
        ):
            continue
        pairs.append(
            Pair(
                resources[worker.id],
                psa_projects[project.id],
                worker.hire_date,
                worker.termination_date,
            )
        )
    return sorted(set(pairs), key=lambda p: (p.resource_id, p.project_id))


async def approve(
    sandbox: Sandbox, pairs: list[Pair], count: int, month: date, *, per_second: float = 0.0
) -> float:
    """Write ``count`` approved entries (paced at ``per_second`` when given); answer when the
    last was written (``time.monotonic()``)."""
    days = [
        month + timedelta(days=n) for n in range(28) if (month + timedelta(days=n)).weekday() < 5
    ]
    bookable = {pair: [day for day in days if pair.may_book(day)] for pair in pairs}
    bookers = [pair for pair in pairs if bookable[pair]]
    records = (
        (f"tme_{uuid7().hex}", _entry(pair, _nth(bookable[pair], n), 60 + 15 * (n % 29)))
        for n, pair in zip(range(count), itertools.cycle(bookers), strict=False)
    )
    chunk = 500 if per_second <= 0 else max(1, int(per_second / 10))
    started = time.monotonic()
    written = 0
    while batch := list(itertools.islice(records, chunk)):
        async with sandbox.store.tx("psa") as tx:
            await tx.insert_many("time-entries", [(rid, data, None) for rid, data in batch])
        written += len(batch)
        if per_second > 0:
            ahead = written / per_second - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)  # pacing the arrivals, not waiting for a result
    return time.monotonic()


def _nth(days: list[date], n: int) -> date:
    return days[n % len(days)]


def _entry(pair: Pair, day: date, minutes: int) -> dict[str, Any]:
    return {
        "resource_id": pair.resource_id, "project_id": pair.project_id, "task_id": None,
        "date": day.isoformat(), "minutes": minutes, "billable": True, "notes": None,
        "bill_rate": None, "currency": None, "status": "approved", "revision": 1,
        "timesheet_id": None,
    }  # fmt: skip


async def wait_known(database_url: str, firm: Firm, within: float = 600.0) -> None:
    """Wait until time-expense has taken in the firm: its projects, workers and employees."""
    workers = sum(1 for w in firm.workers if w.status != "pre_hire")
    connection = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            known = await connection.fetchval(
                "SELECT count(*) FROM connectors.external_refs WHERE canonical_type = 'worker'"
            )
            if known >= workers:
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"time-expense knew {known} of {workers} workers after {within} s")
    finally:
        await connection.close()
