"""The checks an approved entry passes before it may post (issue: validate before posting).

Each check either passes, refuses the entry for finance (``PostingRefused``: a business
exception with a typed reason), or says it waits for a dependency that will come
(``DependencyPending``: a project not yet activated, a worker not yet mapped, an assignment not
yet confirmed); the service parks it and releases it when that dependency's event arrives.

A worker's time follows its employments: time dated in an employment posts to that
employment's ERP employee (a transfer starts a new one in the new entity's company), and time
dated after the worker's last day never posts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from tandem_contracts.entities import (
    Assignment,
    AssignmentStatus,
    Project,
    ProjectStatus,
    TimeEntry,
)
from tandem_contracts.events import PostingFailureReason
from time_expense.domain.errors import DependencyPending, PostingRefused
from time_expense.domain.keys import assignment_key, project_key, worker_key

__all__ = [
    "Employment",
    "IntercompanyPolicy",
    "check_assignment",
    "check_employee_on",
    "check_intercompany",
    "check_project_open",
    "check_project_open_for_time",
    "check_within_last_day",
    "check_worker_mapped",
    "employment_on",
]

_NOT_YET = frozenset({ProjectStatus.SHELL, ProjectStatus.PLANNED})
_LIVE_ASSIGNMENT = frozenset({AssignmentStatus.CONFIRMED, AssignmentStatus.ACTIVE})


def check_project_open_for_time(entry: TimeEntry, project: Project | None) -> Project:
    """Pass when the project is active and open for time; wait while it is being set up."""
    return check_project_open(entry.project_id, project, expenses=False)


def check_project_open(project_id: str, project: Project | None, *, expenses: bool) -> Project:
    """Pass when the project is active and open for time (or expenses); wait while it is
    being set up; refuse when it is on hold, closed or closed for entry."""
    if project is None or project.status in _NOT_YET:
        raise DependencyPending(
            project_key(project_id),
            PostingFailureReason.PROJECT_UNKNOWN,
            f"project {project_id} is not active yet",
        )
    what, open_ = (
        ("expenses", project.flags.expense_entry_open)
        if expenses
        else (
            "time",
            project.flags.time_entry_open,
        )
    )
    if project.status is not ProjectStatus.ACTIVE or not open_:
        raise PostingRefused(
            PostingFailureReason.PROJECT_NOT_OPEN,
            f"project {project.id} is {project.status} and "
            f"{'open' if open_ else 'closed'} for {what}",
        )
    return project


def check_assignment(
    entry: TimeEntry, project: Project, assignments: Iterable[Assignment]
) -> Assignment | None:
    """Pass when the project needs no assignment, or one covers the worker on the work date.

    With no live assignment of the worker on the project yet, the entry waits for one; with
    assignments that do not cover the work date, it is refused (a later assignment would not
    be announced as the missing one, so waiting could last for ever).
    """
    live = [
        a
        for a in assignments
        if a.project_id == project.id
        and a.worker_id == entry.worker_id
        and a.status in _LIVE_ASSIGNMENT
    ]
    covering = next((a for a in live if a.start_date <= entry.work_date <= a.end_date), None)
    if covering is not None or not project.flags.time_requires_assignment:
        return covering
    if not live:
        raise DependencyPending(
            assignment_key(project.id, entry.worker_id),
            PostingFailureReason.ASSIGNMENT_MISSING,
            f"worker {entry.worker_id} has no assignment on {project.id} yet",
        )
    raise PostingRefused(
        PostingFailureReason.ASSIGNMENT_MISSING,
        f"no assignment of worker {entry.worker_id} on {project.id} covers {entry.work_date}",
    )


def check_worker_mapped(worker_id: str, employee: str | None, instance: str) -> str:
    """Pass with the ERP employee id; wait while the worker is not mapped in ``instance``."""
    if employee is None:
        raise DependencyPending(
            worker_key(worker_id, instance),
            PostingFailureReason.WORKER_NOT_MAPPED,
            f"worker {worker_id} has no employee in ERP instance {instance}",
        )
    return employee


@dataclass(frozen=True)
class Employment:
    """A worker's employment in a legal entity from ``starts_on``, and the ERP employee it is
    in ERP instance ``instance``."""

    legal_entity_id: str
    starts_on: date
    instance: str
    employee: str


def employment_on(employments: Iterable[Employment], on: date) -> Employment | None:
    """The employment the worker was in on ``on``: the one begun last by then (before the
    first began: the first); ``None`` when none is kept."""
    kept = sorted(employments, key=lambda e: e.starts_on)
    begun = [e for e in kept if e.starts_on <= on]
    if begun:
        return begun[-1]
    return kept[0] if kept else None


def check_employee_on(
    worker_id: str,
    employments: Iterable[Employment],
    on: date,
    instance: str,
    linked: str | None = None,
) -> str:
    """Pass with the ERP employee in ``instance`` the worker was on ``on`` (``employment_on``
    among its employments there); else ``linked``, the worker's one mapped employee (kept
    before employments were); wait while there is none."""
    there = employment_on((e for e in employments if e.instance == instance), on)
    if there is not None:
        return there.employee
    return check_worker_mapped(worker_id, linked, instance)


def check_within_last_day(worker_id: str, work_date: date, last_day: date | None) -> None:
    """Pass unless ``work_date`` is after the worker's last day: such time is refused for
    finance (``worker_terminated``), never posted; time up to and on the last day passes."""
    if last_day is not None and work_date > last_day:
        raise PostingRefused(
            PostingFailureReason.WORKER_TERMINATED,
            f"worker {worker_id} left after {last_day}: time dated {work_date} is after it",
        )


@dataclass(frozen=True)
class IntercompanyPolicy:
    """Worker-entity / project-entity pairs that may book across entities (none by default)."""

    allowed: frozenset[tuple[str, str]] = frozenset()


def check_intercompany(entry: TimeEntry, policy: IntercompanyPolicy) -> bool:
    """Pass (answering whether it is intercompany) unless the entity pair is not allowed."""
    pair = (entry.worker_legal_entity_id, entry.project_legal_entity_id)
    if pair[0] == pair[1]:
        return False
    if pair not in policy.allowed:
        raise PostingRefused(
            PostingFailureReason.INTERCOMPANY_NOT_ALLOWED,
            f"time of entity {pair[0]} on a project of {pair[1]} is not an allowed pair",
        )
    return True
