"""The saga runner: apply an event to an opportunity's saga, carry out what it decides, persist.

**How steps chain.** One handling runs the saga forward as far as it can: the decision's
commands are carried out against the systems one after another, each answer (a step's result,
its refusal, what blocks it) decided at once, and the commands of that decision carried out in
turn, until the saga is settled, held (waiting for a key, failed with a typed reason) or out
of work. The saga, its step visits, its log, the read model and the announcements (outbox)
are then written in the handling's one transaction.

**A crash anywhere** (SIGKILL between two writes, or between the last write and the commit)
leaves the saga as the last committed transaction left it; the message is delivered again,
decided again from that state, and ``work_of`` re-issues the same writes under the same
idempotency keys, which each system answers with the record it already made. Announcements
are only ever written with the state that decided them, so none is lost or doubled. A system
that is down (``SystemUnavailable``) rolls the handling back and holds the lane; the runtime
retries it when the system answers again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from project_sync.domain import validate_setup
from project_sync.domain.keys import customer_key
from project_sync.domain.saga import (
    ANNOUNCEMENTS,
    PROJECT_HAS_ACTIVITY,
    ActivateErp,
    ActivatePsa,
    Activity,
    ActivityCounted,
    Announcement,
    CancelShells,
    CloseForTimeAndFlag,
    CodeWrittenBack,
    Command,
    CountActivity,
    CreateErpShell,
    CreatePsaShell,
    Decision,
    DependencySatisfied,
    ErpActivated,
    ErpShellCreated,
    Event,
    PsaActivated,
    PsaShellCreated,
    PublishActivated,
    PublishClosedForTime,
    PublishProjectCancelled,
    PublishProjectFlagged,
    PublishShellCreated,
    PublishStuck,
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
    decide,
    watch,
)
from project_sync.domain.setup import ProjectSetup
from project_sync.service_layer.unit_of_work import AbstractUnitOfWork, Placement
from tandem_connectors.directory import ErpDirectory, ErpTarget, company_key
from tandem_connectors.errors import RequestRejected
from tandem_connectors.ports import AbstractCrm, AbstractPsa, ErpObject
from tandem_contracts import Envelope, ExternalRef, Producer, SystemKind
from tandem_contracts import Event as ContractEvent
from tandem_contracts.entities import BillingModel, Project, ProjectStatus
from tandem_contracts.events import (
    FinanceFlagReason,
    ProjectActivated,
    ProjectCancelled,
    ProjectClosedForTime,
    ProjectFlaggedForFinance,
    ProjectShellCreated,
    QuoteToCashStuck,
)

__all__ = ["SERVICE", "Clock", "SagaRunner"]

SERVICE = "project-sync"
Clock = Callable[[], datetime]

# A project's announcements, in the order a project lives them: each consumer's inbox sees
# a later fact with a higher subject version.
_PROJECT_VERSIONS = {
    ProjectShellCreated: 1,
    ProjectActivated: 2,
    ProjectClosedForTime: 3,
    ProjectCancelled: 4,
    ProjectFlaggedForFinance: 4,
}


@dataclass
class SagaRunner:
    """Carries out sagas' commands in the configured systems (see the module docstring)."""

    erps: ErpDirectory
    psas: Mapping[str, AbstractPsa]
    crms: Mapping[str, AbstractCrm]
    tenant_id: str
    region_of: Callable[[str], str]
    clock: Clock

    async def apply(
        self,
        uow: AbstractUnitOfWork,
        event: Event,
        *,
        actor: str | None = None,
        why: str | None = None,
    ) -> Saga:
        """Apply ``event`` to its opportunity's latest saga and run it as far as it goes.

        An operator action the state refuses raises ``ActionRefusedError`` (nothing changed).
        """
        before = await uow.sagas.latest(event.opportunity_id)
        decision = decide(before, event)
        run = _Run(self, uow)
        await run.keep(decision, event, before, actor=actor, why=why)
        await run.carry_out(decision)
        await run.save()
        return run.sagas[max(run.sagas)]

    async def release(self, uow: AbstractUnitOfWork, key: str) -> list[str]:
        """Resume every saga held by ``key`` (answer their opportunities)."""
        released = await uow.sagas.held_by(key)
        for opportunity_id in released:
            await self.apply(uow, DependencySatisfied(opportunity_id, self.clock(), key))
        return released

    async def watch(
        self, uow: AbstractUnitOfWork, opportunity_id: str, limits: Mapping[Step, timedelta]
    ) -> bool:
        """Alert once per step visit when the saga is past its step's limit (answer whether
        it alerted now)."""
        saga = await uow.sagas.latest(opportunity_id)
        if saga is None:
            return False
        decision = watch(saga, self.clock(), limits)
        if not decision.commands:
            return False
        run = _Run(self, uow)
        run.sagas[saga.generation] = decision.saga
        run.changed.add(saga.generation)
        detail = {"step": saga.step.value, "since": saga.entered_at.isoformat()}
        run.logs.append((saga.generation, "Stuck", detail, None, None))
        await run.carry_out(decision)
        await run.save()
        return True

    # -- placement ------------------------------------------------------------------------

    def erp_of(self, setup: ProjectSetup) -> ErpTarget:
        """The ERP instance serving the project's selling legal entity."""
        entity = setup.selling_legal_entity_id
        return self.erps.target(entity, self.region_of(entity))

    @property
    def psa_instance(self) -> str:
        """The PSA the projects are delivered in (the first configured)."""
        return sorted(self.psas)[0]

    def placement(self, saga: Saga) -> Placement:
        if saga.setup is None or saga.generation < 1:
            return Placement(None, None)
        try:
            erp = self.erp_of(saga.setup).instance
        except RequestRejected:  # no route (or residency): shown as no instance
            erp = None
        return Placement(erp, self.psa_instance if self.psas else None)


class _Run:
    """One handling's sagas (by generation), what to log and what to announce."""

    def __init__(self, runner: SagaRunner, uow: AbstractUnitOfWork) -> None:
        self.runner = runner
        self.uow = uow
        self.sagas: dict[int, Saga] = {}
        self.changed: set[int] = set()
        self.logs: list[tuple[int, str, dict[str, Any], str | None, str | None]] = []

    async def keep(
        self,
        decision: Decision,
        event: Event,
        before: Saga | None,
        *,
        actor: str | None = None,
        why: str | None = None,
    ) -> None:
        if decision.ended is not None:
            self.sagas[decision.ended.generation] = decision.ended
            self.changed.add(decision.ended.generation)
        saga = decision.saga
        self.sagas[saga.generation] = saga
        if saga != before or decision.commands or actor is not None:
            self.changed.add(saga.generation)
            self.logs.append((saga.generation, type(event).__name__, _detail(event), actor, why))

    async def carry_out(self, decision: Decision) -> None:
        queue = deque((decision.saga.generation, command) for command in decision.commands)
        while queue:
            generation, command = queue.popleft()
            saga = self.sagas[generation]
            if isinstance(command, ANNOUNCEMENTS):
                await self.uow.publish(self._envelope(saga, command))
                continue
            answer = await self._do(saga, command)
            following = decide(saga, answer)
            await self.keep(following, answer, saga)
            queue.extend((following.saga.generation, next_) for next_ in following.commands)

    async def save(self) -> None:
        today = self.runner.clock().date()
        for generation in sorted(self.changed):
            saga = self.sagas[generation]
            placement = self.runner.placement(saga)
            await self.uow.sagas.save(saga, placement)
            await self.uow.projects.keep(saga, placement.erp_instance, today)
        for generation, event, detail, actor, why in self.logs:
            await self.uow.sagas.log(self.sagas[generation], event, detail, actor, why)

    # -- the systems ----------------------------------------------------------------------

    async def _do(self, saga: Saga, command: Command) -> Event:
        now = self.runner.clock()
        opp, gen = saga.opportunity_id, saga.generation
        try:
            return await self._call(saga, command, now)
        except _Blocked as blocked:
            return StepBlocked(opp, gen, now, saga.step, blocked.key)
        except RequestRejected as refused:
            reason = str(getattr(refused, "reason", "refused"))
            resume_on: tuple[str, ...] = ()
            if saga.setup is not None and saga.step in (Step.ERP_SHELL, Step.PSA_SHELL):
                resume_on = (customer_key(saga.setup.customer_id),)
            detail = str(refused)[:1000]
            return StepFailed(opp, gen, now, saga.step, False, reason, detail, resume_on)

    async def _call(self, saga: Saga, command: Command, now: datetime) -> Event:
        opp, gen, runner = saga.opportunity_id, saga.generation, self.runner
        match command:
            case ValidateSetup(setup=setup):
                reference = await self.uow.reference.reference_data([setup.customer_id])
                problems = validate_setup(setup, reference)
                return SetupChecked(opp, gen, now, setup, problems)
            case CreateErpShell(project_id=project_id, setup=setup, key=key):
                target = runner.erp_of(setup)
                entity = setup.selling_legal_entity_id
                company = await runner.erps.company(self.uow.refs, target, entity)
                if company is None:
                    raise _Blocked(company_key(target.instance, entity))
                customer = await self.uow.customers.get(setup.customer_id, lock=False)
                if customer is None or customer.erp_customer_ref is None:
                    raise _Blocked(customer_key(setup.customer_id))
                project = _project(saga, setup, project_id, None)
                written = await target.erp.create_project(
                    project, company=company, customer=customer.erp_customer_ref, service=None,
                    key=key,
                )  # fmt: skip
                await self.uow.refs.link("project", project_id, written.ref)
                code = written.code or written.external_id
                return StepSucceeded(opp, gen, now, ErpShellCreated(written.external_id, code))
            case CreatePsaShell(project_id=project_id, setup=setup, project_code=code, key=key):
                psa = runner.psas[runner.psa_instance]
                written = await psa.create_project(_project(saga, setup, project_id, code), key=key)
                await self.uow.refs.link("project", project_id, written.ref)
                return StepSucceeded(opp, gen, now, PsaShellCreated(written.external_id))
            case WriteBackCode(opportunity_id=opportunity_id, project_code=code, key=key):
                record = await self.uow.opportunities.get(opportunity_id)
                if record is None:
                    raise _Blocked(f"opportunity:{opportunity_id}")
                crm = runner.crms[record.crm_instance]
                await crm.link_project(record.crm_id, project_code=code, key=key)
                return StepSucceeded(opp, gen, now, CodeWrittenBack())
            case ActivateErp(erp_project_ref=ref, key=key):
                await runner.erp_of(_setup(saga)).erp.activate_project(ref, key=key)
                return StepSucceeded(opp, gen, now, ErpActivated())
            case ActivatePsa(psa_project_ref=ref, key=key):
                await runner.psas[runner.psa_instance].activate_project(ref, key=key)
                return StepSucceeded(opp, gen, now, PsaActivated())
            case CountActivity():
                return await self._count(saga, command, now)
            case CancelShells(erp_project_ref=erp_ref, psa_project_ref=psa_ref):
                try:
                    if psa_ref is not None:
                        await runner.psas[runner.psa_instance].cancel_project(
                            psa_ref, key=command.psa_key
                        )
                    if erp_ref is not None:
                        cause = saga.compensation.cause.value if saga.compensation else "cancelled"
                        await runner.erp_of(_setup(saga)).erp.cancel_project(
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
                    await runner.erp_of(_setup(saga)).erp.close_project_for_time(
                        erp_ref, closed_from=command.closed_from, key=command.erp_key
                    )
                if psa_ref is not None:
                    await runner.psas[runner.psa_instance].close_project(
                        psa_ref, key=command.psa_key
                    )
                return StepSucceeded(opp, gen, now, ShellsClosedForTime())
        raise AssertionError(f"no system carries out {command}")  # pragma: no cover

    async def _count(self, saga: Saga, command: CountActivity, now: datetime) -> Event:
        runner, setup = self.runner, saga.setup
        erp_ref, psa_ref = command.erp_project_ref, command.psa_project_ref
        target = runner.erp_of(setup) if setup is not None else None
        if erp_ref is None and target is not None:
            found = await target.erp.find(ErpObject.PROJECT, command.erp_shell_key)
            erp_ref = found.external_id if found is not None else None
        psa_name = runner.psa_instance
        if psa_ref is None:
            psa_ref = await self.uow.refs.external_id(
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

    # -- announcements --------------------------------------------------------------------

    def _envelope(self, saga: Saga, command: Announcement) -> Envelope[Any]:
        now, setup = self.runner.clock(), saga.setup
        # The project's records, so that consumers (time-expense) post on the ERP project
        # and take the PSA project's time as this project's.
        refs = {"refs": self._refs(saga)}
        event: ContractEvent
        match command:
            case PublishShellCreated(project_id=project_id, project_code=code):
                shell = _project(saga, _setup(saga), project_id, code)
                event = ProjectShellCreated(project=shell.model_copy(update=refs))
            case PublishActivated(project_id=project_id):
                project = _project(saga, _setup(saga), project_id, saga.project_code)
                active = project.model_copy(
                    update={"status": ProjectStatus.ACTIVE, "start_date": now.date(), **refs}
                )
                event = ProjectActivated(project=active, activated_at=now)
            case PublishClosedForTime(project_id=project_id, closed_from=closed_from):
                event = ProjectClosedForTime(
                    project_id=project_id, closed_from=closed_from, reason=command.reason[:500],
                    closed_at=now,
                )  # fmt: skip
            case PublishProjectCancelled(project_id=project_id, opportunity_id=opportunity_id):
                event = ProjectCancelled(
                    project_id=project_id, opportunity_id=opportunity_id,
                    reason=command.cause.value, refs=self._refs(saga), cancelled_at=now,
                )  # fmt: skip
            case PublishProjectFlagged(project_id=project_id, opportunity_id=opportunity_id):
                detail = (
                    f"the opportunity's project {saga.project_code or project_id} had time or "
                    f"charges: closed for time and kept ({command.reason.value})"
                )
                event = ProjectFlaggedForFinance(
                    project_id=project_id, opportunity_id=opportunity_id,
                    reason=FinanceFlagReason(command.reason.value), detail=detail,
                    flagged_at=now,
                )  # fmt: skip
            case PublishStuck():
                event = QuoteToCashStuck(
                    opportunity_id=command.opportunity_id,
                    project_id=saga.project_id if saga.generation >= 1 else None,
                    step=command.step.value, since=command.since,
                    waiting_for=(command.waiting_for or None) and command.waiting_for[:200],
                    reason=(command.reason or None) and (command.reason or "")[:500],
                    detected_at=max(now, command.since),
                )  # fmt: skip
        entity = setup.selling_legal_entity_id if setup is not None else "unknown"
        if isinstance(event, QuoteToCashStuck):
            version = saga.generation * 10_000 + len(saga.history)
        else:
            version = _PROJECT_VERSIONS[type(event)]
        return Envelope.new(
            event, producer=Producer(service=SERVICE, system=type(event).system_of_record),
            tenant_id=self.runner.tenant_id, legal_entity_id=entity,
            data_residency_region=self.runner.region_of(entity),
            correlation_id=saga.opportunity_id, subject_version=version,
            idempotency_key=command.key,
        )  # fmt: skip

    def _refs(self, saga: Saga) -> tuple[ExternalRef, ...]:
        refs = []
        placement = self.runner.placement(saga)
        if saga.erp_project_ref and placement.erp_instance:
            refs.append(_ref(SystemKind.ERP, placement.erp_instance, saga.erp_project_ref))
        if saga.psa_project_ref and placement.psa_instance:
            refs.append(_ref(SystemKind.PSA, placement.psa_instance, saga.psa_project_ref))
        return tuple(refs)


class _Blocked(Exception):
    """A step cannot run before ``key`` is released."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _setup(saga: Saga) -> ProjectSetup:
    """The saga's set-up: every step past validation has one."""
    if saga.setup is None:
        raise ValueError(f"the saga of {saga.opportunity_id} has no set-up at {saga.step}")
    return saga.setup


def _ref(system: SystemKind, instance: str, external_id: str) -> ExternalRef:
    return ExternalRef(
        system=system, instance=instance, object_type="project", external_id=external_id
    )


def _project(saga: Saga, setup: ProjectSetup, project_id: str, code: str | None) -> Project:
    sow = saga.sow
    model = sow.billing_model if sow is not None and sow.billing_model else None
    return Project(
        id=project_id,
        code=code,
        name=setup.name[:200],
        customer_id=setup.customer_id,
        contract_id=sow.contract_id if sow is not None else None,
        opportunity_id=saga.opportunity_id,
        legal_entity_id=setup.selling_legal_entity_id,
        currency=setup.currency,
        billing_model=model or BillingModel.TIME_AND_MATERIALS,
        rate_card_id=setup.rate_card_id,
        status=ProjectStatus.SHELL,
    )


def _detail(event: Event) -> dict[str, Any]:
    """What the log keeps of an event: its plain fields and, for a result, what it was."""
    detail: dict[str, Any] = {}
    for name in ("version", "key", "reason", "detail", "transient"):
        value = getattr(event, name, None)
        if value is not None:
            detail[name] = value
    result = getattr(event, "result", None)
    if result is not None:
        detail["result"] = type(result).__name__
        for name in ("erp_project_ref", "project_code", "psa_project_ref"):
            if (value := getattr(result, name, None)) is not None:
                detail[name] = value
    problems = getattr(event, "problems", None)
    if problems:
        detail["problems"] = [problem.code.value for problem in problems]
    if isinstance(event, ActivityCounted):
        detail["activity"] = {
            "time_entries": event.activity.time_entries,
            "expense_entries": event.activity.expense_entries,
            "invoiced": event.activity.invoiced,
        }
    return detail
