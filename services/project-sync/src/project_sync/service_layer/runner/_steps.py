"""A saga's writes and reads in the systems, each answered as the event the saga decides on."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from project_sync.domain import validate_setup
from project_sync.domain.keys import customer_key
from project_sync.domain.saga import (
    PROJECT_HAS_ACTIVITY,
    ActivateErp,
    ActivatePsa,
    Activity,
    ActivityCounted,
    CancelShells,
    CloseForTimeAndFlag,
    CodeWrittenBack,
    Command,
    CountActivity,
    CreateErpShell,
    CreatePsaShell,
    ErpActivated,
    ErpShellCreated,
    Event,
    PsaActivated,
    PsaShellCreated,
    Saga,
    SetupChecked,
    ShellsCancelled,
    ShellsClosedForTime,
    Step,
    StepBlocked,
    StepFailed,
    StepSucceeded,
    ValidateSetup,
    WriteBackCode,
)
from project_sync.service_layer.runner._project import project_of, setup_of
from project_sync.service_layer.unit_of_work import AbstractUnitOfWork
from tandem_connectors.directory import company_key
from tandem_connectors.errors import RequestRejected
from tandem_connectors.ports import ErpObject
from tandem_contracts import SystemKind

if TYPE_CHECKING:
    from project_sync.service_layer.runner._run import SagaRunner

__all__ = ["run_step"]


async def run_step(
    runner: SagaRunner, uow: AbstractUnitOfWork, saga: Saga, command: Command
) -> Event:
    """Carry out ``command`` and answer what came of it: its result, its refusal or what
    blocks it."""
    now = runner.clock()
    opp, gen = saga.opportunity_id, saga.generation
    try:
        return await _call(runner, uow, saga, command, now)
    except _Blocked as blocked:
        return StepBlocked(opp, gen, now, saga.step, blocked.key)
    except RequestRejected as refused:
        reason = str(getattr(refused, "reason", "refused"))
        resume_on: tuple[str, ...] = ()
        if saga.setup is not None and saga.step in (Step.ERP_SHELL, Step.PSA_SHELL):
            resume_on = (customer_key(saga.setup.customer_id),)
        detail = str(refused)[:1000]
        return StepFailed(opp, gen, now, saga.step, False, reason, detail, resume_on)


async def _call(
    runner: SagaRunner, uow: AbstractUnitOfWork, saga: Saga, command: Command, now: datetime
) -> Event:
    opp, gen = saga.opportunity_id, saga.generation
    match command:
        case ValidateSetup(setup=setup):
            reference = await uow.reference.reference_data([setup.customer_id])
            problems = validate_setup(setup, reference)
            return SetupChecked(opp, gen, now, setup, problems)
        case CreateErpShell(project_id=project_id, setup=setup, key=key):
            target = runner.erp_of(setup)
            entity = setup.selling_legal_entity_id
            company = await runner.erps.company(uow.refs, target, entity)
            if company is None:
                raise _Blocked(company_key(target.instance, entity))
            customer = await uow.customers.get(setup.customer_id, lock=False)
            if customer is None or customer.erp_customer_ref is None:
                raise _Blocked(customer_key(setup.customer_id))
            project = project_of(saga, setup, project_id, None)
            written = await target.erp.create_project(
                project, company=company, customer=customer.erp_customer_ref, service=None,
                key=key,
            )  # fmt: skip
            await uow.refs.link("project", project_id, written.ref)
            code = written.code or written.external_id
            return StepSucceeded(opp, gen, now, ErpShellCreated(written.external_id, code))
        case CreatePsaShell(project_id=project_id, setup=setup, project_code=code, key=key):
            psa = runner.psas[runner.psa_instance]
            written = await psa.create_project(project_of(saga, setup, project_id, code), key=key)
            await uow.refs.link("project", project_id, written.ref)
            return StepSucceeded(opp, gen, now, PsaShellCreated(written.external_id))
        case WriteBackCode(opportunity_id=opportunity_id, project_code=code, key=key):
            record = await uow.opportunities.get(opportunity_id)
            if record is None:
                raise _Blocked(f"opportunity:{opportunity_id}")
            crm = runner.crms[record.crm_instance]
            await crm.link_project(record.crm_id, project_code=code, key=key)
            return StepSucceeded(opp, gen, now, CodeWrittenBack())
        case ActivateErp(erp_project_ref=ref, key=key):
            await runner.erp_of(setup_of(saga)).erp.activate_project(ref, key=key)
            return StepSucceeded(opp, gen, now, ErpActivated())
        case ActivatePsa(psa_project_ref=ref, key=key):
            await runner.psas[runner.psa_instance].activate_project(ref, key=key)
            return StepSucceeded(opp, gen, now, PsaActivated())
        case CountActivity():
            return await _count(runner, uow, saga, command, now)
        case CancelShells(erp_project_ref=erp_ref, psa_project_ref=psa_ref):
            try:
                if psa_ref is not None:
                    await runner.psas[runner.psa_instance].cancel_project(
                        psa_ref, key=command.psa_key
                    )
                if erp_ref is not None:
                    cause = saga.compensation.cause.value if saga.compensation else "cancelled"
                    await runner.erp_of(setup_of(saga)).erp.cancel_project(
                        erp_ref, reason=cause, key=command.erp_key
                    )
            except RequestRejected as refused:
                if getattr(refused, "reason", None) != PROJECT_HAS_ACTIVITY:
                    raise
                detail = str(refused)[:1000]
                step = Step.COMPENSATING
                return StepFailed(opp, gen, now, step, False, PROJECT_HAS_ACTIVITY, detail)
            return StepSucceeded(opp, gen, now, ShellsCancelled())
        case CloseForTimeAndFlag(erp_project_ref=erp_ref, psa_project_ref=psa_ref):
            if erp_ref is not None:
                await runner.erp_of(setup_of(saga)).erp.close_project_for_time(
                    erp_ref, closed_from=command.closed_from, key=command.erp_key
                )
            if psa_ref is not None:
                await runner.psas[runner.psa_instance].close_project(psa_ref, key=command.psa_key)
            return StepSucceeded(opp, gen, now, ShellsClosedForTime())
    raise AssertionError(f"no system carries out {command}")  # pragma: no cover


async def _count(
    runner: SagaRunner,
    uow: AbstractUnitOfWork,
    saga: Saga,
    command: CountActivity,
    now: datetime,
) -> Event:
    setup = saga.setup
    erp_ref, psa_ref = command.erp_project_ref, command.psa_project_ref
    target = runner.erp_of(setup) if setup is not None else None
    if erp_ref is None and target is not None:
        found = await target.erp.find(ErpObject.PROJECT, command.erp_shell_key)
        erp_ref = found.external_id if found is not None else None
    psa_name = runner.psa_instance
    if psa_ref is None:
        psa_ref = await uow.refs.external_id(
            "project", command.project_id, system=SystemKind.PSA.value, instance=psa_name,
            object_type="project",
        )  # fmt: skip
    time_entries = expenses = 0
    invoiced = False
    if erp_ref is not None and target is not None:
        erp_activity = await target.erp.project_activity(erp_ref)
        time_entries += erp_activity.time_lines
        expenses += erp_activity.expense_lines
        invoiced = erp_activity.invoiced
    if psa_ref is not None:
        psa_activity = await runner.psas[psa_name].project_activity(psa_ref)
        time_entries += psa_activity.time_entries
        expenses += psa_activity.expenses
    activity = Activity(time_entries=time_entries, expense_entries=expenses, invoiced=invoiced)
    opp, gen = saga.opportunity_id, saga.generation
    return ActivityCounted(opp, gen, now, activity, erp_ref, psa_ref)


class _Blocked(Exception):
    """A step cannot run before ``key`` is released."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key
