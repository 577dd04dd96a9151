"""The moves every transition is made of: enter a step, start a generation, go on."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from project_sync.domain.saga.commands import Command, work_of
from project_sync.domain.saga.state import Saga, Step, Visit
from project_sync.domain.setup import ProjectSetup

__all__ = ["Decision", "enter", "go", "start"]


@dataclass(frozen=True)
class Decision:
    """The saga's next state and what to carry out. ``ended`` is a previous generation this
    decision ended (a commit received while compensating starts the next one here)."""

    saga: Saga
    commands: tuple[Command, ...] = ()
    ended: Saga | None = None


def go(saga: Saga, *announcements: Command) -> Decision:
    """``saga`` as it now is: ``announcements`` first, then its step's work."""
    return Decision(saga, (*announcements, *work_of(saga)))


def enter(saga: Saga, step: Step, at: datetime, **changes: Any) -> Saga:
    """``saga`` at ``step``, entered at ``at``, no longer held."""
    return replace(
        saga,
        step=step,
        history=(*saga.history, Visit(step, at)),
        updated_at=at,
        waiting_for=None,
        failure=None,
        last_error=None,
        attempts=0,
        **changes,
    )


def start(previous: Saga, version: int, at: datetime, setup: ProjectSetup) -> Saga:
    """The generation after ``previous`` (an opportunity not started, or an ended saga)."""
    # A statement of work approved before the first commit is kept; one of an ended
    # generation belonged to the project that was undone.
    sow = previous.sow if previous.step is Step.NOT_STARTED else None
    return Saga(
        previous.opportunity_id,
        previous.generation + 1,
        Step.VALIDATE,
        version,
        (Visit(Step.VALIDATE, at),),
        at,
        setup=setup,
        sow=sow,
    )
