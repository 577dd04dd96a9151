"""What a saga asks the service to carry out, and the work each step stands for.

Two kinds. **Writes** to systems of record (``CreateErpShell`` ... ``CloseForTimeAndFlag``) and
``ValidateSetup``/``CountActivity`` reads are the work of the saga's current step:
``work_of(saga)`` answers them for any persisted state, so after a crash the same commands are
issued again, under the same idempotency keys (each system keeps the key with its record and
answers the earlier record). **Announcements** (``Publish*``) are decided once, by the
transition that records the fact, and go to the outbox in that transaction; they are never
re-derived from a state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from project_sync.domain.keys import Write, event_key, stuck_key
from project_sync.domain.saga.state import Cause, FlagReason, Saga, Step
from project_sync.domain.setup import ProjectSetup

__all__ = [
    "ANNOUNCEMENTS",
    "FLAG_REASONS",
    "ActivateErp",
    "ActivatePsa",
    "Announcement",
    "CancelShells",
    "CloseForTimeAndFlag",
    "Command",
    "CountActivity",
    "CreateErpShell",
    "CreatePsaShell",
    "PublishActivated",
    "PublishClosedForTime",
    "PublishProjectCancelled",
    "PublishProjectFlagged",
    "PublishShellCreated",
    "PublishStuck",
    "ValidateSetup",
    "WriteBackCode",
    "announce",
    "stuck_alert_key",
    "work_of",
]


@dataclass(frozen=True)
class ValidateSetup:
    """Check ``setup`` against the reference data; answer ``SetupChecked``."""

    opportunity_id: str
    generation: int
    setup: ProjectSetup


@dataclass(frozen=True)
class CreateErpShell:
    """Create the project shell in the ERP (it mints the code); answer ``ErpShellCreated``."""

    project_id: str
    setup: ProjectSetup
    key: str


@dataclass(frozen=True)
class CreatePsaShell:
    """Create the project shell in the PSA under the ERP's code; answer ``PsaShellCreated``."""

    project_id: str
    setup: ProjectSetup
    project_code: str
    erp_project_ref: str
    key: str


@dataclass(frozen=True)
class WriteBackCode:
    """Write the project code onto the CRM opportunity; answer ``CodeWrittenBack``."""

    opportunity_id: str
    project_code: str
    key: str


@dataclass(frozen=True)
class ActivateErp:
    """Open the ERP project for time; answer ``ErpActivated``."""

    project_id: str
    erp_project_ref: str
    key: str


@dataclass(frozen=True)
class ActivatePsa:
    """Put the PSA project in progress (after the ERP's ack); answer ``PsaActivated``."""

    project_id: str
    psa_project_ref: str
    key: str


@dataclass(frozen=True)
class CountActivity:
    """Find the shells (by ref, else by their creation keys) and count what exists against
    them; answer ``ActivityCounted``."""

    project_id: str
    erp_shell_key: str
    psa_shell_key: str
    erp_project_ref: str | None
    psa_project_ref: str | None


@dataclass(frozen=True)
class CancelShells:
    """Cancel the shells that exist (never delete); answer ``ShellsCancelled``. A system that
    finds activity refuses (``project_has_activity``): the saga then closes and flags."""

    project_id: str
    erp_project_ref: str | None
    psa_project_ref: str | None
    erp_key: str
    psa_key: str


@dataclass(frozen=True)
class CloseForTimeAndFlag:
    """Close the projects that exist for time from ``closed_from`` and keep them for finance;
    answer ``ShellsClosedForTime``."""

    project_id: str
    erp_project_ref: str | None
    psa_project_ref: str | None
    closed_from: date
    reason: FlagReason
    erp_key: str
    psa_key: str


@dataclass(frozen=True)
class PublishShellCreated:
    """Announce ``ProjectShellCreated`` (no time allowed yet)."""

    project_id: str
    opportunity_id: str
    project_code: str
    key: str


@dataclass(frozen=True)
class PublishActivated:
    """Announce ``ProjectActivated``: time-expense opens the project for time."""

    project_id: str
    opportunity_id: str
    contract_id: str | None
    key: str


@dataclass(frozen=True)
class PublishClosedForTime:
    """Announce ``ProjectClosedForTime``: time-expense refuses entries from ``closed_from``."""

    project_id: str
    closed_from: date
    reason: str
    key: str


@dataclass(frozen=True)
class PublishProjectCancelled:
    """Announce ``ProjectCancelled``: the shells had nothing and are cancelled."""

    project_id: str
    opportunity_id: str
    cause: Cause
    key: str


@dataclass(frozen=True)
class PublishProjectFlagged:
    """Announce ``ProjectFlaggedForFinance``: closed for time, kept, for finance to decide."""

    project_id: str
    opportunity_id: str
    reason: FlagReason
    key: str


@dataclass(frozen=True)
class PublishStuck:
    """Announce ``QuoteToCashStuck``: the saga is past its step's configured time."""

    opportunity_id: str
    generation: int
    step: Step
    since: datetime
    waiting_for: str | None
    reason: str | None
    key: str


Announcement = (
    PublishShellCreated
    | PublishActivated
    | PublishClosedForTime
    | PublishProjectCancelled
    | PublishProjectFlagged
    | PublishStuck
)
"""A command that goes to the outbox in the transaction of the decision that made it."""

ANNOUNCEMENTS = (
    PublishShellCreated,
    PublishActivated,
    PublishClosedForTime,
    PublishProjectCancelled,
    PublishProjectFlagged,
    PublishStuck,
)

Command = (
    ValidateSetup
    | CreateErpShell
    | CreatePsaShell
    | WriteBackCode
    | ActivateErp
    | ActivatePsa
    | CountActivity
    | CancelShells
    | CloseForTimeAndFlag
    | Announcement
)

FLAG_REASONS = {
    Cause.LOST: FlagReason.LOST_AFTER_TIME_LOGGED,
    Cause.REOPENED: FlagReason.REOPENED_AFTER_TIME_LOGGED,
    Cause.OPERATOR: FlagReason.CANCELLED_AFTER_TIME_LOGGED,
}


def work_of(saga: Saga) -> tuple[Command, ...]:
    """The writes and reads the saga's current step stands for (none while it is held)."""
    if saga.waiting_for is not None or saga.failure is not None:
        return ()
    setup, code = saga.setup, saga.project_code
    erp_ref, psa_ref = saga.erp_project_ref, saga.psa_project_ref
    match saga.step:
        case Step.VALIDATE if setup is not None:
            return (ValidateSetup(saga.opportunity_id, saga.generation, setup),)
        case Step.ERP_SHELL if setup is not None:
            return (CreateErpShell(saga.project_id, setup, saga.key(Write.ERP_SHELL)),)
        case Step.PSA_SHELL if setup is not None and code is not None and erp_ref is not None:
            key = saga.key(Write.PSA_SHELL)
            return (CreatePsaShell(saga.project_id, setup, code, erp_ref, key),)
        case Step.CRM_WRITEBACK if code is not None:
            return (WriteBackCode(saga.opportunity_id, code, saga.key(Write.CRM_CODE)),)
        case Step.ACTIVATING if not saga.erp_activated and erp_ref is not None:
            return (ActivateErp(saga.project_id, erp_ref, saga.key(Write.ERP_ACTIVATION)),)
        case Step.ACTIVATING if psa_ref is not None:
            return (ActivatePsa(saga.project_id, psa_ref, saga.key(Write.PSA_ACTIVATION)),)
        case Step.COMPENSATING:
            return _compensation_work(saga)
    return ()


def _compensation_work(saga: Saga) -> tuple[Command, ...]:
    compensation = saga.compensation
    erp_ref, psa_ref = saga.erp_project_ref, saga.psa_project_ref
    if compensation is None or compensation.activity is None:
        erp_key, psa_key = saga.key(Write.ERP_SHELL), saga.key(Write.PSA_SHELL)
        return (CountActivity(saga.project_id, erp_key, psa_key, erp_ref, psa_ref),)
    if not compensation.activity.any:
        erp_key, psa_key = saga.key(Write.ERP_CANCEL), saga.key(Write.PSA_CANCEL)
        return (CancelShells(saga.project_id, erp_ref, psa_ref, erp_key, psa_key),)
    reason = FLAG_REASONS[compensation.cause]
    erp_key, psa_key = saga.key(Write.ERP_CLOSE), saga.key(Write.PSA_CLOSE)
    closed_from = compensation.at.date()
    return (
        CloseForTimeAndFlag(
            saga.project_id, erp_ref, psa_ref, closed_from, reason, erp_key, psa_key
        ),
    )


def announce(saga: Saga, event_type: str) -> str:
    """The idempotency key of the saga's ``event_type`` announcement."""
    return event_key(saga.opportunity_id, saga.generation, event_type)


def stuck_alert_key(saga: Saga) -> str:
    """The idempotency key of the stuck alert of the saga's current visit."""
    return stuck_key(saga.opportunity_id, saga.generation, saga.step, len(saga.history) - 1)
