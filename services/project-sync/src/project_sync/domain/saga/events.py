"""What a saga hears: the opportunity's signals, results of its steps, and operators.

Every event names its opportunity; results of steps also name the generation they belong to,
so a late result of an ended generation never moves the next one. ``at`` is when the fact
happened (for a signal from the CRM, when the stage changed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from project_sync.domain.problems import Problem
from project_sync.domain.saga.state import Activity, Step
from project_sync.domain.setup import ProjectSetup
from project_sync.domain.sow import Sow

__all__ = [
    "ActivityCounted",
    "CancelRequested",
    "CodeWrittenBack",
    "Committed",
    "DependencySatisfied",
    "ErpActivated",
    "ErpShellCreated",
    "Event",
    "Lost",
    "PsaActivated",
    "PsaShellCreated",
    "Reopened",
    "Result",
    "ResumeRequested",
    "RetryRequested",
    "SetupChecked",
    "ShellsCancelled",
    "ShellsClosedForTime",
    "SowApproved",
    "StepBlocked",
    "StepFailed",
    "StepSucceeded",
]


# -- the opportunity, from the CRM (``version``: the CRM record's, orders them) --------------


@dataclass(frozen=True)
class Committed:
    """The opportunity reached a committing stage; ``setup`` is the project it proposes."""

    opportunity_id: str
    version: int
    at: datetime
    setup: ProjectSetup


@dataclass(frozen=True)
class Lost:
    """The opportunity moved to a lost stage."""

    opportunity_id: str
    version: int
    at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class Reopened:
    """The opportunity moved from committed back to an open stage."""

    opportunity_id: str
    version: int
    at: datetime


@dataclass(frozen=True)
class SowApproved:
    """The opportunity's statement of work was approved (again, at ``sow.version``)."""

    opportunity_id: str
    at: datetime
    sow: Sow


# -- results of the saga's own steps ----------------------------------------------------------


@dataclass(frozen=True)
class ErpShellCreated:
    """The ERP holds the project shell and minted its code."""

    step: ClassVar[Step] = Step.ERP_SHELL
    erp_project_ref: str
    project_code: str


@dataclass(frozen=True)
class PsaShellCreated:
    """The PSA holds the project shell under the ERP's code."""

    step: ClassVar[Step] = Step.PSA_SHELL
    psa_project_ref: str


@dataclass(frozen=True)
class CodeWrittenBack:
    """The CRM opportunity carries the project code."""

    step: ClassVar[Step] = Step.CRM_WRITEBACK


@dataclass(frozen=True)
class ErpActivated:
    """The ERP project is open for time."""

    step: ClassVar[Step] = Step.ACTIVATING


@dataclass(frozen=True)
class PsaActivated:
    """The PSA project is in progress."""

    step: ClassVar[Step] = Step.ACTIVATING


@dataclass(frozen=True)
class ShellsCancelled:
    """Both shells (those that exist) are cancelled; nothing was deleted."""

    step: ClassVar[Step] = Step.COMPENSATING


@dataclass(frozen=True)
class ShellsClosedForTime:
    """Both projects (those that exist) are closed for time and kept."""

    step: ClassVar[Step] = Step.COMPENSATING


Result = (
    ErpShellCreated
    | PsaShellCreated
    | CodeWrittenBack
    | ErpActivated
    | PsaActivated
    | ShellsCancelled
    | ShellsClosedForTime
)


@dataclass(frozen=True)
class SetupChecked:
    """The validate step's answer about ``setup``: its problems (none: it may go)."""

    opportunity_id: str
    generation: int
    at: datetime
    setup: ProjectSetup
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class StepSucceeded:
    """A step's write reached its system (again, after a crash: the same record)."""

    opportunity_id: str
    generation: int
    at: datetime
    result: Result


@dataclass(frozen=True)
class StepFailed:
    """A step's write failed: ``transient`` (try again) or a business refusal (``reason``, the
    system's code), fixed at the source and resumed when any of ``resume_on`` is released."""

    opportunity_id: str
    generation: int
    at: datetime
    step: Step
    transient: bool
    reason: str
    detail: str = ""
    resume_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepBlocked:
    """A step cannot run before ``key`` is released (a company not yet in the ERP)."""

    opportunity_id: str
    generation: int
    at: datetime
    step: Step
    key: str


@dataclass(frozen=True)
class ActivityCounted:
    """What exists against the shells, and the shells found under their write keys."""

    opportunity_id: str
    generation: int
    at: datetime
    activity: Activity
    erp_project_ref: str | None = None
    psa_project_ref: str | None = None


@dataclass(frozen=True)
class DependencySatisfied:
    """``key`` was released: a saga waiting for it, or failed on it, tries its step again."""

    opportunity_id: str
    at: datetime
    key: str


# -- operators (authorised and audited by the API) --------------------------------------------


@dataclass(frozen=True)
class RetryRequested:
    """Run the current step again (after transient errors, or a saga stuck waiting)."""

    opportunity_id: str
    at: datetime


@dataclass(frozen=True)
class ResumeRequested:
    """Run a failed step again: its cause was fixed."""

    opportunity_id: str
    at: datetime


@dataclass(frozen=True)
class CancelRequested:
    """End the saga, compensating what it created."""

    opportunity_id: str
    at: datetime


Event = (
    Committed
    | Lost
    | Reopened
    | SowApproved
    | SetupChecked
    | StepSucceeded
    | StepFailed
    | StepBlocked
    | ActivityCounted
    | DependencySatisfied
    | RetryRequested
    | ResumeRequested
    | CancelRequested
)
