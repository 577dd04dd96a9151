"""The saga's transitions: a state and an event in, the next state and its commands out.

Pure and deterministic: the same persisted state and event always answer the same decision, so
an event redelivered after a crash re-issues the same writes under the same keys. An event that
does not apply — a duplicate, a stale opportunity version, a result of another step or of an
ended generation — answers the state unchanged and no commands.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from project_sync.domain.errors import ActionRefusedError
from project_sync.domain.problems import Fails, Passes, Waits, outcome_of
from project_sync.domain.saga import compensation as undo
from project_sync.domain.saga import events as ev
from project_sync.domain.saga._moves import Decision, enter, go, start
from project_sync.domain.saga.commands import (
    Command,
    PublishActivated,
    PublishShellCreated,
    announce,
)
from project_sync.domain.saga.state import (
    ENDED,
    SETTLED,
    Cause,
    Failure,
    FailureReason,
    Recommit,
    Saga,
    Step,
)
from project_sync.domain.sow import Sow, check_sow

__all__ = ["Decision", "decide"]

_CANCELLABLE = frozenset(Step) - ENDED - {Step.NOT_STARTED, Step.COMPENSATING}
_KEEPS_SOW = frozenset(
    {
        Step.NOT_STARTED,
        Step.VALIDATE,
        Step.ERP_SHELL,
        Step.PSA_SHELL,
        Step.CRM_WRITEBACK,
        Step.ACTIVATING,
        Step.ACTIVE,
    }
)


def decide(saga: Saga | None, event: ev.Event) -> Decision:
    """Apply ``event`` to ``saga`` (None: the opportunity has no record yet)."""
    if saga is None:
        saga = Saga.not_started(event.opportunity_id, event.at)
    elif saga.opportunity_id != event.opportunity_id:
        raise ValueError(f"{type(event).__name__} is not about {saga.opportunity_id}")
    match event:
        case ev.Committed():
            return _committed(saga, event)
        case ev.Lost():
            return undo.withdrawn(saga, event.version, event.at, Cause.LOST)
        case ev.Reopened():
            return undo.withdrawn(saga, event.version, event.at, Cause.REOPENED)
        case ev.SowApproved():
            return _sow_approved(saga, event.sow, event.at)
        case ev.DependencySatisfied():
            return _satisfied(saga, event.key, event.at)
        case ev.RetryRequested() | ev.ResumeRequested() | ev.CancelRequested():
            return _operator(saga, event)
        case _ if event.generation != saga.generation:
            return Decision(saga)  # a result of another generation
        case ev.SetupChecked():
            return _setup_checked(saga, event)
        case ev.StepSucceeded():
            return _succeeded(saga, event.result, event.at)
        case ev.StepFailed():
            return _failed(saga, event)
        case ev.StepBlocked() if event.step is saga.step and saga.step not in SETTLED:
            held = replace(saga, waiting_for=event.key, failure=None, updated_at=event.at)
            return Decision(held)
        case ev.ActivityCounted():
            return undo.activity_counted(saga, event)
    return Decision(saga)


def _committed(saga: Saga, event: ev.Committed) -> Decision:
    if event.version <= saga.opportunity_version:
        return Decision(saga)
    if saga.step is Step.NOT_STARTED or saga.step in ENDED:
        return go(start(saga, event.version, event.at, event.setup))
    if saga.step is Step.COMPENSATING:
        recommit = Recommit(event.version, event.at, event.setup)
        return Decision(replace(saga, opportunity_version=event.version, recommit=recommit))
    if saga.step is Step.VALIDATE:
        # The opportunity changed at the source before anything was made: check it afresh.
        fresh = replace(
            saga,
            opportunity_version=event.version,
            setup=event.setup,
            waiting_for=None,
            failure=None,
            updated_at=event.at,
        )
        return go(fresh)
    return Decision(replace(saga, opportunity_version=event.version))


def _sow_approved(saga: Saga, sow: Sow, at: datetime) -> Decision:
    if saga.sow is not None and sow.version <= saga.sow.version:
        return Decision(saga)
    if saga.step in _KEEPS_SOW:
        return Decision(replace(saga, sow=sow, updated_at=at))
    if saga.step is Step.AWAITING_SOW:
        return _gate(replace(saga, sow=sow, failure=None, updated_at=at), at)
    return Decision(saga)


def _gate(saga: Saga, at: datetime, *announcements: Command) -> Decision:
    """At ``awaiting_sow``: activate once a statement of work passes its gates."""
    if saga.sow is None:
        return Decision(saga, announcements)
    problems = check_sow(saga.sow)
    if not problems:
        return go(enter(saga, Step.ACTIVATING, at), *announcements)
    detail = "; ".join(problem.message for problem in problems)
    failure = Failure(Step.AWAITING_SOW, FailureReason.SOW_NOT_READY, detail, at, problems)
    return Decision(replace(saga, failure=failure, updated_at=at), announcements)


def _setup_checked(saga: Saga, event: ev.SetupChecked) -> Decision:
    if saga.step is not Step.VALIDATE or event.setup != saga.setup:
        return Decision(saga)
    match outcome_of(event.problems):
        case Passes():
            return go(enter(saga, Step.ERP_SHELL, event.at))
        case Waits(key=key):
            return Decision(replace(saga, waiting_for=key, failure=None, updated_at=event.at))
        case Fails(problems=problems, resume_on=resume_on):
            detail = "; ".join(problem.message for problem in problems)
            reason = FailureReason.SETUP_INVALID
            failure = Failure(Step.VALIDATE, reason, detail, event.at, problems, resume_on)
            return Decision(replace(saga, failure=failure, waiting_for=None, updated_at=event.at))
    raise AssertionError("unreachable")  # pragma: no cover


def _succeeded(saga: Saga, result: ev.Result, at: datetime) -> Decision:
    match result:
        case ev.ErpShellCreated() | ev.PsaShellCreated() if result.step is not saga.step:
            return undo.late_shell(saga, result, at)
        case _ if result.step is not saga.step:
            return Decision(saga)
        case ev.ErpShellCreated(erp_project_ref=ref, project_code=code):
            return go(enter(saga, Step.PSA_SHELL, at, erp_project_ref=ref, project_code=code))
        case ev.PsaShellCreated(psa_project_ref=ref):
            return go(enter(saga, Step.CRM_WRITEBACK, at, psa_project_ref=ref))
        case ev.CodeWrittenBack():
            key = announce(saga, "ProjectShellCreated")
            code = saga.project_code or ""
            published = PublishShellCreated(saga.project_id, saga.opportunity_id, code, key)
            created = enter(saga, Step.SHELL_CREATED, at)
            return _gate(enter(created, Step.AWAITING_SOW, at), at, published)
        case ev.ErpActivated() if not saga.erp_activated:
            erp_done = replace(saga, erp_activated=True, updated_at=at)
            return go(replace(erp_done, waiting_for=None, failure=None, last_error=None))
        case ev.PsaActivated() if saga.erp_activated:
            key = announce(saga, "ProjectActivated")
            contract = saga.sow.contract_id if saga.sow is not None else None
            activated = PublishActivated(saga.project_id, saga.opportunity_id, contract, key)
            return Decision(enter(saga, Step.ACTIVE, at), (activated,))
        case ev.ShellsCancelled() | ev.ShellsClosedForTime():
            return undo.compensated(saga, result, at)
    return Decision(saga)


def _failed(saga: Saga, event: ev.StepFailed) -> Decision:
    if event.step is not saga.step or saga.step in SETTLED:
        return Decision(saga)
    detail = f"{event.reason}: {event.detail}" if event.detail else event.reason
    if event.transient:
        retried = replace(saga, attempts=saga.attempts + 1, last_error=detail)
        return Decision(replace(retried, updated_at=event.at))
    if saga.step is Step.COMPENSATING and event.reason == undo.PROJECT_HAS_ACTIVITY:
        instead = undo.refused_for_activity(saga, event.at)
        if instead is not None:
            return instead
    resume_on = event.resume_on
    failure = Failure(saga.step, FailureReason.REFUSED, detail, event.at, resume_on=resume_on)
    return Decision(replace(saga, failure=failure, waiting_for=None, updated_at=event.at))


def _satisfied(saga: Saga, key: str, at: datetime) -> Decision:
    if saga.waiting_for == key:
        return go(replace(saga, waiting_for=None, updated_at=at))
    if saga.failure is not None and key in saga.failure.resume_on:
        return _resume(saga, at)
    return Decision(saga)


def _resume(saga: Saga, at: datetime) -> Decision:
    resumed = replace(saga, failure=None, waiting_for=None, updated_at=at)
    return _gate(resumed, at) if saga.step is Step.AWAITING_SOW else go(resumed)


def _operator(
    saga: Saga, event: ev.RetryRequested | ev.ResumeRequested | ev.CancelRequested
) -> Decision:
    match event:
        case ev.RetryRequested() if saga.step not in SETTLED and saga.failure is None:
            return go(replace(saga, waiting_for=None, last_error=None, updated_at=event.at))
        case ev.ResumeRequested() if saga.failure is not None:
            return _resume(saga, event.at)
        case ev.CancelRequested() if saga.step in _CANCELLABLE:
            return undo.compensate(saga, event.at, Cause.OPERATOR)
    action = type(event).__name__.removesuffix("Requested").lower()
    raise ActionRefusedError(action, saga.state)
