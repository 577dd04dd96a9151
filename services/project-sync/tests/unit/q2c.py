"""Quote-to-cash in miniature: events for one opportunity, systems of record that keep each
write under its idempotency key, and a driver that carries out a saga's commands in them."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from project_sync.domain import Problem, ProjectSetup, Sow
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
    Committed,
    CountActivity,
    CreateErpShell,
    CreatePsaShell,
    Decision,
    ErpActivated,
    ErpShellCreated,
    Event,
    Lost,
    PsaActivated,
    PsaShellCreated,
    Reopened,
    Saga,
    SetupChecked,
    ShellsCancelled,
    ShellsClosedForTime,
    SowApproved,
    Step,
    StepFailed,
    StepSucceeded,
    ValidateSetup,
    WriteBackCode,
    decide,
    work_of,
)
from tandem_contracts.entities import BillingModel, ContractStatus

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
OPP = "opp-1"


def at(minutes: float) -> datetime:
    """``minutes`` after the story starts."""
    return T0 + timedelta(minutes=minutes)


def proposed(**changes: Any) -> ProjectSetup:
    """Globex's project as its opportunity proposes it (sold by Acme Germany in EUR)."""
    values: dict[str, Any] = {
        "opportunity_id": OPP,
        "name": "Globex ERP roll-out",
        "selling_legal_entity_id": "le-de",
        "customer_id": "cust-globex",
        "currency": "EUR",
        "rate_card_id": "rc-eur",
    }
    return ProjectSetup(**(values | changes))


def committed(version: int = 1, minutes: float = 0, **changes: Any) -> Committed:
    return Committed(OPP, version, at(minutes), proposed(**changes))


def lost(version: int = 2, minutes: float = 60) -> Lost:
    return Lost(OPP, version, at(minutes), reason="budget cut")


def reopened(version: int = 2, minutes: float = 60) -> Reopened:
    return Reopened(OPP, version, at(minutes))


def sow(version: int = 1, **changes: Any) -> Sow:
    values: dict[str, Any] = {
        "contract_id": "sow-1",
        "version": version,
        "status": ContractStatus.APPROVED,
        "billing_model": BillingModel.TIME_AND_MATERIALS,
        "po_required": True,
        "po_number": "PO-4711",
    }
    return Sow(**(values | changes))


def sow_approved(version: int = 1, minutes: float = 30, **changes: Any) -> SowApproved:
    return SowApproved(OPP, at(minutes), sow(version, **changes))


@dataclass
class Record:
    """A project in a system of record, as created under its key."""

    ref: str
    code: str = ""
    status: str = "shell"


@dataclass
class World:
    """ERP, PSA and CRM that keep every write under its idempotency key (a repeated write
    answers the first record), plus what the saga announced."""

    erp: dict[str, Record] = field(default_factory=dict)
    psa: dict[str, Record] = field(default_factory=dict)
    crm_codes: dict[str, str] = field(default_factory=dict)
    activity: dict[str, Activity] = field(default_factory=dict)  # by ERP project ref
    problems: tuple[Problem, ...] = ()
    announced: list[Announcement] = field(default_factory=list)
    writes: list[Command] = field(default_factory=list)

    def carry_out(self, command: Command, saga: Saga) -> Event | None:
        """Do ``command`` as the adapters will, answering the saga's next event (if any)."""
        opp, gen, now = saga.opportunity_id, saga.generation, saga.updated_at
        if isinstance(command, ValidateSetup):
            return SetupChecked(opp, gen, now, command.setup, self.problems)
        if isinstance(command, ANNOUNCEMENTS):
            self.announced.append(command)
            return None
        self.writes.append(command)
        result: Any
        match command:
            case CreateErpShell(key=key):
                number = len(self.erp) + 1
                made = self.erp.setdefault(key, Record(f"erp-{number}", f"P-{number:04d}"))
                result = ErpShellCreated(made.ref, made.code)
            case CreatePsaShell(key=key):
                result = PsaShellCreated(self.psa.setdefault(key, Record(f"psa-{key}")).ref)
            case WriteBackCode(key=key, project_code=code):
                self.crm_codes[key] = code
                result = CodeWrittenBack()
            case ActivateErp(erp_project_ref=ref):
                self._by_ref(self.erp, ref).status = "active"
                result = ErpActivated()
            case ActivatePsa(psa_project_ref=ref):
                self._by_ref(self.psa, ref).status = "active"
                result = PsaActivated()
            case CountActivity(erp_shell_key=erp_key, psa_shell_key=psa_key):
                erp, psa = self.erp.get(erp_key), self.psa.get(psa_key)
                used = self.activity.get(erp.ref, Activity()) if erp else Activity()
                refs = (erp.ref if erp else None, psa.ref if psa else None)
                return ActivityCounted(opp, gen, now, used, *refs)
            case CancelShells(erp_project_ref=erp_ref, psa_project_ref=psa_ref):
                if erp_ref is not None and self.activity.get(erp_ref, Activity()).any:
                    return StepFailed(opp, gen, now, saga.step, False, PROJECT_HAS_ACTIVITY)
                self._set(erp_ref, psa_ref, "cancelled")
                result = ShellsCancelled()
            case CloseForTimeAndFlag(erp_project_ref=erp_ref, psa_project_ref=psa_ref):
                self._set(erp_ref, psa_ref, "closed")
                result = ShellsClosedForTime()
            case _:
                raise AssertionError(f"no system carries out {command}")
        return StepSucceeded(opp, gen, now, result)

    def log_time(self, erp_ref: str, minutes: int = 60) -> None:
        """Someone books time to the ERP project ``erp_ref``."""
        before = self.activity.get(erp_ref, Activity())
        self.activity[erp_ref] = Activity(time_entries=before.time_entries + 1)

    def _set(self, erp_ref: str | None, psa_ref: str | None, status: str) -> None:
        if erp_ref is not None:
            self._by_ref(self.erp, erp_ref).status = status
        if psa_ref is not None:
            self._by_ref(self.psa, psa_ref).status = status

    @staticmethod
    def _by_ref(records: dict[str, Record], ref: str) -> Record:
        return next(record for record in records.values() if record.ref == ref)


@dataclass
class Driver:
    """Keeps the opportunity's sagas by generation, as the service's table will, and runs
    each decision's commands in the world until nothing is left to do."""

    world: World = field(default_factory=World)
    sagas: dict[int, Saga] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    lost_answers: list[Event] = field(default_factory=list)

    @property
    def saga(self) -> Saga:
        """The latest generation."""
        return self.sagas[max(self.sagas)]

    def step(self) -> Step:
        """The latest generation's step (a call, so type checkers do not pin it down)."""
        return self.saga.step

    def current(self) -> Saga | None:
        return self.sagas[max(self.sagas)] if self.sagas else None

    def hear(self, event: Event, *, carry_out: bool = True, crash: Crash | None = None) -> Decision:
        """Decide ``event`` (a result goes to its own generation) and carry out the rest,
        unless the service ``crash``es on the way."""
        generation = getattr(event, "generation", None)
        saga = self.sagas.get(generation) if generation is not None else self.current()
        decision = decide(saga, event)
        self._keep(decision)
        if carry_out:
            self._run(decision.saga.generation, decision.commands, crash)
        return decision

    def resume(self) -> None:
        """After a crash: every saga's current work is issued again."""
        for generation, saga in sorted(self.sagas.items()):
            self._run(generation, work_of(saga))

    def _keep(self, decision: Decision) -> None:
        self.decisions.append(decision)
        if decision.ended is not None:
            self.sagas[decision.ended.generation] = decision.ended
        self.sagas[decision.saga.generation] = decision.saga

    def _run(
        self, generation: int, commands: tuple[Command, ...], crash: Crash | None = None
    ) -> None:
        queue = deque((generation, command) for command in commands)
        done = 0
        while queue:
            generation, command = queue.popleft()
            writes = not isinstance(command, ANNOUNCEMENTS)
            if crash is not None and done == crash.after and writes:
                self._die(generation, command, queue, crash)
                return
            done += writes
            answer = self.world.carry_out(command, self.sagas[generation])
            if answer is None:
                continue
            decision = decide(self.sagas[generation], answer)
            self._keep(decision)
            queue.extend((decision.saga.generation, next_) for next_ in decision.commands)

    def _die(self, generation: int, command: Command, queue: deque[Any], crash: Crash) -> None:
        if crash.lands:  # the write reached its system; the answer never reached us
            answer = self.world.carry_out(command, self.sagas[generation])
            if answer is not None:
                self.lost_answers.append(answer)
        for _, rest in queue:  # announcements were in the outbox with their state
            if isinstance(rest, ANNOUNCEMENTS):
                self.world.announced.append(rest)


@dataclass(frozen=True)
class Crash:
    """The service dies after ``after`` writes; the next one reaches its system if ``lands``."""

    after: int
    lands: bool = True
