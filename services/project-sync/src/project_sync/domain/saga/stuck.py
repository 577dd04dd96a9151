"""A saga past its step's configured time is stuck: it shows in the API and raises one alert
per visit of the step (``QuoteToCashStuck``), however often the watchdog looks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from project_sync.domain.saga._moves import Decision
from project_sync.domain.saga.commands import PublishStuck, stuck_alert_key
from project_sync.domain.saga.state import SETTLED, Saga, Step

__all__ = ["Stuck", "is_stuck", "watch"]


@dataclass(frozen=True)
class Stuck:
    """Where a saga is stuck, since when, and what holds it (if anything is known)."""

    opportunity_id: str
    generation: int
    step: Step
    since: datetime
    waiting_for: str | None
    reason: str | None


def is_stuck(saga: Saga, now: datetime, limits: Mapping[Step, timedelta]) -> Stuck | None:
    """Whether ``saga`` has been at its step longer than ``limits`` allows (a step without a
    limit never is; nor is a saga active, ended or not started)."""
    limit = limits.get(saga.step)
    if saga.step in SETTLED or limit is None or now - saga.entered_at <= limit:
        return None
    failure = saga.failure
    reason = f"{failure.reason}: {failure.detail}" if failure is not None else saga.last_error
    return Stuck(
        saga.opportunity_id,
        saga.generation,
        saga.step,
        saga.entered_at,
        saga.waiting_for,
        reason,
    )


def watch(saga: Saga, now: datetime, limits: Mapping[Step, timedelta]) -> Decision:
    """Alert once when ``saga`` is stuck at the current visit of its step."""
    stuck = is_stuck(saga, now, limits)
    visit = len(saga.history) - 1
    if stuck is None or saga.alerted_visit == visit:
        return Decision(saga)
    alert = PublishStuck(
        stuck.opportunity_id,
        stuck.generation,
        stuck.step,
        stuck.since,
        stuck.waiting_for,
        stuck.reason,
        stuck_alert_key(saga),
    )
    return Decision(replace(saga, alerted_visit=visit), (alert,))
