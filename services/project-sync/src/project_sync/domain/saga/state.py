"""One opportunity's quote-to-cash saga as a value: where it is, what it made, what holds it.

A saga belongs to one **generation** of an opportunity: the first commit starts generation 1;
an opportunity lost or reopened after commit and committed again starts the next one, with
its own project id and write keys. Generation 0 is the record of an opportunity never (yet)
committed, kept so that a stale commit arriving after a newer loss is recognised.

``step`` is where the saga is; a saga at a step may also be **waiting** for a dependency
(``waiting_for``) or **failed** with a business exception (``failure``), resumed at that step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from project_sync.domain import keys
from project_sync.domain.problems import Problem
from project_sync.domain.setup import ProjectSetup
from project_sync.domain.sow import Sow

__all__ = [
    "ENDED",
    "SETTLED",
    "Activity",
    "Cause",
    "Compensation",
    "Failure",
    "FailureReason",
    "FlagReason",
    "Recommit",
    "Saga",
    "Step",
    "Visit",
]


class Step(StrEnum):
    """The saga's steps, in order, then compensation and its ends."""

    NOT_STARTED = "not_started"
    VALIDATE = "validate"
    ERP_SHELL = "erp_shell"
    PSA_SHELL = "psa_shell"
    CRM_WRITEBACK = "crm_writeback"
    SHELL_CREATED = "shell_created"
    AWAITING_SOW = "awaiting_sow"
    ACTIVATING = "activating"
    ACTIVE = "active"
    COMPENSATING = "compensating"
    CANCELLED = "cancelled"
    FLAGGED_FOR_FINANCE = "flagged_for_finance"


ENDED = frozenset({Step.CANCELLED, Step.FLAGGED_FOR_FINANCE})
"""A generation that is over: a new commit starts the next."""
SETTLED = frozenset({Step.NOT_STARTED, Step.ACTIVE, *ENDED})
"""Nothing to do until an event comes: never stuck."""


class Cause(StrEnum):
    """Why a saga was compensated."""

    LOST = "opportunity_lost"
    REOPENED = "opportunity_reopened"
    OPERATOR = "cancelled_by_operator"


class FlagReason(StrEnum):
    """Why a project with time or charges was closed for time and kept for finance."""

    LOST_AFTER_TIME_LOGGED = "lost_after_time_logged"
    REOPENED_AFTER_TIME_LOGGED = "reopened_after_time_logged"
    CANCELLED_AFTER_TIME_LOGGED = "cancelled_after_time_logged"


class FailureReason(StrEnum):
    """The kind of business exception holding a saga."""

    SETUP_INVALID = "setup_invalid"  # validation problems; fixed at the source
    SOW_NOT_READY = "sow_not_ready"  # a statement of work failing its gates
    REFUSED = "refused"  # a system refused a write for a business reason (``detail``)


@dataclass(frozen=True)
class Activity:
    """What exists against a project in the ERP and the PSA."""

    time_entries: int = 0
    expense_entries: int = 0
    charges: int = 0
    invoiced: bool = False
    refused: bool = False
    """A system refused to cancel its project for activity it did not count for us."""

    @property
    def any(self) -> bool:
        """Whether anything was logged, charged or invoiced: the project is then kept."""
        counted = self.time_entries or self.expense_entries or self.charges
        return bool(counted or self.invoiced or self.refused)


@dataclass(frozen=True)
class Compensation:
    """Undoing a committed opportunity: why, since when, and what the shells carry (None: not
    counted yet)."""

    cause: Cause
    at: datetime
    activity: Activity | None = None


@dataclass(frozen=True)
class Failure:
    """A business exception at ``step``; releasing any of ``resume_on`` tries the step again."""

    step: Step
    reason: FailureReason
    detail: str
    at: datetime
    problems: tuple[Problem, ...] = ()
    resume_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recommit:
    """A commit (at ``version``) that waits for this generation's compensation to end."""

    version: int
    at: datetime
    setup: ProjectSetup


@dataclass(frozen=True)
class Visit:
    """The saga entered ``step`` at ``at``."""

    step: Step
    at: datetime


@dataclass(frozen=True)
class Saga:
    """An opportunity's saga of one generation (see the module docstring)."""

    opportunity_id: str
    generation: int
    step: Step
    opportunity_version: int
    history: tuple[Visit, ...]
    updated_at: datetime
    setup: ProjectSetup | None = None
    sow: Sow | None = None
    waiting_for: str | None = None
    failure: Failure | None = None
    last_error: str | None = None
    attempts: int = 0
    erp_project_ref: str | None = None
    project_code: str | None = None
    psa_project_ref: str | None = None
    erp_activated: bool = False
    compensation: Compensation | None = None
    recommit: Recommit | None = None
    """A newer commit received while compensating: the next generation, once this one ends."""
    alerted_visit: int | None = None
    """The visit (index in ``history``) whose stuck alert was raised."""

    @classmethod
    def not_started(cls, opportunity_id: str, at: datetime) -> Saga:
        """The record of an opportunity not (yet) committed."""
        return cls(opportunity_id, 0, Step.NOT_STARTED, 0, (Visit(Step.NOT_STARTED, at),), at)

    @property
    def state(self) -> str:
        """What the API shows: ``waiting`` or ``failed`` when held, else the step."""
        if self.waiting_for is not None:
            return "waiting"
        return "failed" if self.failure is not None else self.step.value

    @property
    def entered_at(self) -> datetime:
        """When the saga entered its current step."""
        return self.history[-1].at

    @property
    def project_id(self) -> str:
        """The canonical id of the project this generation creates."""
        return keys.project_id(self.opportunity_id, self.generation)

    def key(self, write: keys.Write) -> str:
        """The idempotency key of this generation's ``write``."""
        return keys.write_key(self.opportunity_id, self.generation, write)

    @property
    def time_to_active(self) -> timedelta | None:
        """From commit to active (the commit-to-active objective's measure); None if never."""
        active = next((visit.at for visit in self.history if visit.step is Step.ACTIVE), None)
        return None if active is None else active - self.history[0].at

    def visited(self, step: Step) -> bool:
        """Whether the saga ever entered ``step``."""
        return any(visit.step is step for visit in self.history)
