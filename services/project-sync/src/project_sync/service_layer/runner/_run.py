"""``SagaRunner``: one handling of a saga, from the event to what it writes and announces."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from project_sync.domain.saga import (
    ANNOUNCEMENTS,
    ActivityCounted,
    Decision,
    DependencySatisfied,
    Event,
    Saga,
    Step,
    decide,
    watch,
)
from project_sync.domain.setup import ProjectSetup
from project_sync.service_layer.runner._announcements import envelope
from project_sync.service_layer.runner._steps import run_step
from project_sync.service_layer.unit_of_work import AbstractUnitOfWork, Placement
from tandem_connectors.directory import ErpDirectory, ErpTarget
from tandem_connectors.errors import RequestRejected
from tandem_connectors.ports import AbstractCrm, AbstractPsa
from tandem_contracts.entities import ProjectFlags

__all__ = ["Clock", "SagaRunner"]

Clock = Callable[[], datetime]


@dataclass
class SagaRunner:
    """Carries out sagas' commands in the configured systems (see the package docstring)."""

    erps: ErpDirectory
    psas: Mapping[str, AbstractPsa]
    crms: Mapping[str, AbstractCrm]
    tenant_id: str
    region_of: Callable[[str], str]
    clock: Clock
    time_requires_assignment: bool = False
    """The tenant's projects take time only from assigned workers (``ProjectActivated``)."""

    def flags(self) -> ProjectFlags:
        """What an active project accepts: time and expenses (from assigned workers only,
        when the tenant says so)."""
        return _OPEN.model_copy(update={"time_requires_assignment": self.time_requires_assignment})

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
                await self.uow.publish(await envelope(self.runner, self.uow, saga, command))
                continue
            answer = await run_step(self.runner, self.uow, saga, command)
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


_OPEN = ProjectFlags(time_entry_open=True, expense_entry_open=True)


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
