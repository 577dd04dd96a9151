"""What the PSA's reports about an active project mean (DOMAIN.md §2.3): when a project stops
taking time, and which task completions are billing milestones.

Project statuses (Kantata-like): ``estimate`` (the shell), ``in_progress``, ``on_hold``,
``completed`` (delivery done), ``cancelled``. A project closes for time when it is completed or
cancelled, or when it is in progress or on hold but no longer open for time (Certinia's "Closed
for Time Entry"). On hold alone does not close it: the PSA keeps taking time on a held project
unless it is closed to time too. An ``estimate`` version is the shell before activation (a late
delivery of it is no closing).
"""

from __future__ import annotations

from datetime import date, timedelta

__all__ = ["closed_from", "closing_reason", "is_billing_milestone"]

_ENDED = {"completed": "the PSA completed the project", "cancelled": "the PSA cancelled it"}
_RUNNING = frozenset({"in_progress", "on_hold"})


def closing_reason(status: str, open_for_time: bool) -> str | None:
    """Why a project version closes the project for time (None: it does not)."""
    if status in _ENDED:
        return _ENDED[status]
    if status in _RUNNING and not open_for_time:
        return "the PSA closed the project to time entry"
    return None


def closed_from(end_date: date | None, closed_on: date, open_from: date | None) -> date:
    """The first day whose time a closing refuses.

    The day after the project's last day (``end_date``) when that is not later than the day it
    was closed (``closed_on``), else the day it was closed: a project completed early takes no
    time after its completion. Never before ``open_from``: time the project took stays taken.
    """
    first = closed_on if end_date is None else min(end_date + timedelta(days=1), closed_on)
    return first if open_from is None else max(first, open_from)


def is_billing_milestone(task_type: str, status: str, has_fee: bool) -> bool:
    """Whether a task version is a completed billing milestone (one with a fee; a milestone
    without one marks the schedule only)."""
    return task_type == "milestone" and status == "completed" and has_fee
