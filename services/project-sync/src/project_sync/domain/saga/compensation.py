"""Undoing a commit: an opportunity lost or reopened after commit, or a saga an operator cancels.

Before any shell can exist (the validate step) the saga just ends. Afterwards it counts what
exists against the shells (found by ref, else by their creation keys): with no time, expenses,
charges or invoices both shells are cancelled (``ProjectCancelled``); otherwise both are closed
for time and flagged for finance (``ProjectFlaggedForFinance``) — never deleted. A system that
refuses to cancel for activity logged after the count turns the cancel into close-and-flag, and
a shell whose creation is reported after the saga turned back is undone too.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from project_sync.domain.saga import events as ev
from project_sync.domain.saga._moves import Decision, enter, go, start
from project_sync.domain.saga.commands import (
    FLAG_REASONS,
    Command,
    PublishClosedForTime,
    PublishProjectCancelled,
    PublishProjectFlagged,
    announce,
    work_of,
)
from project_sync.domain.saga.state import ENDED, Cause, Compensation, Saga, Step

__all__ = [
    "PROJECT_HAS_ACTIVITY",
    "activity_counted",
    "compensate",
    "compensated",
    "late_shell",
    "refused_for_activity",
    "withdrawn",
]

PROJECT_HAS_ACTIVITY = "project_has_activity"
"""The reason a system gives when it refuses to cancel a project that has activity."""


def withdrawn(saga: Saga, version: int, at: datetime, cause: Cause) -> Decision:
    """The opportunity was lost or reopened at ``version``."""
    if version <= saga.opportunity_version:
        return Decision(saga)
    saga = replace(saga, opportunity_version=version)
    if saga.step is Step.COMPENSATING:
        return Decision(replace(saga, recommit=None))  # a newer loss undoes a pending recommit
    if saga.step is Step.NOT_STARTED or saga.step in ENDED:
        return Decision(saga)
    return compensate(saga, at, cause)


def compensate(saga: Saga, at: datetime, cause: Cause) -> Decision:
    """Turn ``saga`` back for ``cause``: end it before any shell, else compensate."""
    compensation = Compensation(cause, at)
    if saga.step is Step.VALIDATE:
        return Decision(enter(saga, Step.CANCELLED, at, compensation=compensation))
    return go(enter(saga, Step.COMPENSATING, at, compensation=compensation))


def activity_counted(saga: Saga, event: ev.ActivityCounted) -> Decision:
    """Cancel empty shells, close and flag used ones; end when none was ever made."""
    compensation = saga.compensation
    if saga.step is not Step.COMPENSATING or compensation is None:
        return Decision(saga)
    if compensation.activity is not None:
        return Decision(saga)
    erp_ref = saga.erp_project_ref or event.erp_project_ref
    psa_ref = saga.psa_project_ref or event.psa_project_ref
    found = replace(saga, erp_project_ref=erp_ref, psa_project_ref=psa_ref, updated_at=event.at)
    if erp_ref is None and psa_ref is None:
        return end(found, Step.CANCELLED, event.at)  # no shell was ever made: nothing to undo
    return go(replace(found, compensation=replace(compensation, activity=event.activity)))


def refused_for_activity(saga: Saga, at: datetime) -> Decision | None:
    """A system refused to cancel for activity: close and flag instead (None: not that)."""
    compensation = saga.compensation
    if compensation is None or compensation.activity is None or compensation.activity.any:
        return None
    activity = replace(compensation.activity, refused=True)
    return go(replace(saga, compensation=replace(compensation, activity=activity), updated_at=at))


def compensated(
    saga: Saga, result: ev.ShellsCancelled | ev.ShellsClosedForTime, at: datetime
) -> Decision:
    """The shells were cancelled, or closed for time: announce it and end."""
    compensation = saga.compensation
    if compensation is None or compensation.activity is None:
        return Decision(saga)
    used = compensation.activity.any
    if isinstance(result, ev.ShellsCancelled) and not used:
        key = announce(saga, "ProjectCancelled")
        cause = compensation.cause
        cancelled: list[Command] = [
            PublishProjectCancelled(saga.project_id, saga.opportunity_id, cause, key)
        ]
        if saga.visited(Step.ACTIVE):
            # time-expense opened it for time: tell it the project takes no more.
            cancelled.append(_closed_for_time(saga, compensation, cause.value))
        return end(saga, Step.CANCELLED, at, *cancelled)
    if isinstance(result, ev.ShellsClosedForTime) and used:
        reason = FLAG_REASONS[compensation.cause]
        key = announce(saga, "ProjectFlaggedForFinance")
        flagged = PublishProjectFlagged(saga.project_id, saga.opportunity_id, reason, key)
        closed = _closed_for_time(saga, compensation, reason.value)
        return end(saga, Step.FLAGGED_FOR_FINANCE, at, closed, flagged)
    return Decision(saga)


def late_shell(
    saga: Saga, result: ev.ErpShellCreated | ev.PsaShellCreated, at: datetime
) -> Decision:
    """A shell reported after the saga turned back: kept while compensating, compensated
    again when the saga had already ended without it."""
    if isinstance(result, ev.ErpShellCreated) and saga.erp_project_ref is None:
        ref, code = result.erp_project_ref, result.project_code
        found = replace(saga, erp_project_ref=ref, project_code=code)
    elif isinstance(result, ev.PsaShellCreated) and saga.psa_project_ref is None:
        found = replace(saga, psa_project_ref=result.psa_project_ref)
    else:
        return Decision(saga)
    if saga.step is Step.COMPENSATING:
        return Decision(found)
    if saga.step in ENDED and saga.compensation is not None:
        again = replace(saga.compensation, activity=None)
        return go(enter(found, Step.COMPENSATING, at, compensation=again))
    return Decision(saga)


def end(saga: Saga, step: Step, at: datetime, *announcements: Command) -> Decision:
    """End ``saga`` at ``step``; a commit received meanwhile starts the next generation."""
    ended = enter(saga, step, at)
    if saga.recommit is None:
        return Decision(ended, announcements)
    recommit = saga.recommit
    following = start(ended, recommit.version, recommit.at, recommit.setup)
    ended = replace(ended, recommit=None)
    return Decision(following, (*announcements, *work_of(following)), ended=ended)


def _closed_for_time(saga: Saga, compensation: Compensation, reason: str) -> Command:
    key = announce(saga, "ProjectClosedForTime")
    return PublishClosedForTime(saga.project_id, compensation.at.date(), reason, key)
