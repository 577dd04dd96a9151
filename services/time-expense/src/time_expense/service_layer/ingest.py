"""From the PSA's records to canonical events, in arrival order per worker.

Webhooks and polling both *land* a record version once (``tandem_connectors.landing``); the
kit's ingestion pass (``tandem_connectors.inbound.publish_landed``) hands each landed version, in
arrival order, to ``PsaIngestion``, which makes it ``TimeSubmitted`` (a submitted timesheet) /
``TimeApproved`` / ``TimeAdjusted`` / ``TimeRejected`` / ``ExpenseApproved`` /
``ExpenseRejected`` (subject version = the PSA record's version, so the consumer's inbox drops
stale ones), written to the outbox in the pass's transaction. A version whose project or worker
time-expense does not know yet waits, and so do that worker's later versions, to keep their
order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tandem_connectors.inbound import Feed, Inbound, RecordWaits
from tandem_connectors.landing import Landed
from tandem_connectors.ports import AbstractPsa, PsaExpense, PsaTimeEntry, PsaTimesheet
from tandem_contracts import Envelope, Event, Producer, SystemKind
from tandem_contracts.entities import (
    Expense,
    ExpenseStatus,
    Project,
    TimeEntry,
    TimeEntryStatus,
    Timesheet,
    TimesheetStatus,
    Worker,
)
from tandem_contracts.events import (
    ExpenseApproved,
    ExpenseRejected,
    PostingFailureReason,
    TimeAdjusted,
    TimeApproved,
    TimeRejected,
    TimeSubmitted,
)
from time_expense.domain.checks import employment_on
from time_expense.service_layer.unit_of_work import AbstractUnitOfWork

__all__ = ["PSA_INBOUND", "PsaIngestion", "submission_scope", "time_submitted"]

PSA = SystemKind.PSA.value
# Timesheets first: a submission read in the same pass as its entries' decisions lands first.
PSA_INBOUND = Inbound(
    system=PSA,
    feeds=(
        Feed("timesheets", "timesheet"),
        Feed("time-entries", "time_entry"),
        Feed("expenses", "expense"),
    ),
    webhook_subjects=frozenset({"timesheet", "time_entry", "expense"}),
)
_APPROVER = "psa-approval"
_DECISIONS = frozenset({"approved", "rejected"})
_SUBMITTED = "submitted"


@dataclass(frozen=True)
class _Known:
    project: Project
    worker: Worker
    region: str


@dataclass
class PsaIngestion:
    """One ingestion pass over one PSA instance's landed records (``Ingestion``)."""

    uow: AbstractUnitOfWork
    psa: AbstractPsa
    source: str
    tenant_id: str
    _known: dict[tuple[str, str], _Known] = field(default_factory=dict)
    """The same projects and workers recur in a pass."""

    def order_key(self, landed: Landed) -> str:
        """A record's worker orders it."""
        return str(landed.record.get("resource_id", ""))

    def acts_on(self, landed: Landed) -> bool:
        """Whether a version in this status becomes an event."""
        status = landed.record.get("status")
        return status == _SUBMITTED if landed.record_type == "timesheet" else status in _DECISIONS

    async def translate(self, landed: Landed) -> Sequence[Envelope[Any]]:
        """The event a landed version becomes (none for versions not acted on)."""
        if landed.record_type == "timesheet":
            return await self._submission(landed)
        if landed.record_type == "expense":
            return await self._expense(landed)
        return await self._time_entry(landed)

    async def _time_entry(self, landed: Landed) -> list[Envelope[Any]]:
        entry = await self.psa.read_time_entry(landed.record)
        if entry.status not in _DECISIONS or entry.worker_id is None:
            return []
        known = await self._look_up(entry.project_id, entry.worker_id)
        if entry.status == "rejected":
            was = await self._was_approved(landed)
            return [self._wrap(known, _rejected(entry, known.project.id, was), landed)]
        canonical = _time_entry(entry, known.worker, known.project).model_copy(
            update={"worker_legal_entity_id": await self._entity_on(known.worker, entry.work_date)}
        )
        if entry.revision > 1 and entry.adjustment_reason:
            event: Event = TimeAdjusted(
                original_entry_id=entry.external_id, replacement=canonical,
                reason=entry.adjustment_reason[:500], adjusted_at=entry.updated_at,
            )  # fmt: skip
        else:
            event = TimeApproved(
                entry=canonical, approval_version=entry.revision, approved_by=_APPROVER,
                approved_at=entry.updated_at,
            )  # fmt: skip
        return [self._wrap(known, event, landed)]

    async def _entity_on(self, worker: Worker, on: date) -> str:
        """The legal entity the worker was employed in on ``on``: time dated before a
        transfer is the old entity's."""
        employment = employment_on(await self.uow.reference.employments(worker.id), on)
        return employment.legal_entity_id if employment else worker.legal_entity_id

    async def _expense(self, landed: Landed) -> list[Envelope[Any]]:
        expense = await self.psa.read_expense(landed.record)
        if expense.worker_id is None or expense.status not in _DECISIONS:
            return []
        known = await self._look_up(expense.project_id, expense.worker_id)
        if expense.status == "approved":
            return [self._wrap(known, _expense_approved(expense, known), landed)]
        if not await self._was_approved(landed):
            return []  # rejected before it was ever approved: nothing was posted
        rejected = ExpenseRejected(
            expense_id=expense.external_id, project_id=known.project.id,
            worker_id=known.worker.id, was_approved=True, reason=None,
            rejected_at=expense.updated_at,
        )  # fmt: skip
        return [self._wrap(known, rejected, landed)]

    async def _was_approved(self, landed: Landed) -> bool:
        earlier = await self.uow.landing.earlier_published(
            landed.system, landed.instance, landed.record_type, landed.record_id, landed.version
        )
        return any(record.get("status") == "approved" for record in earlier)

    async def _submission(self, landed: Landed) -> list[Envelope[Any]]:
        """A submitted timesheet version as ``TimeSubmitted``; other versions are not published.

        Its entries are read as the PSA holds them now: a submitted entry is locked until the
        sheet is decided, so these are the submitted values (unless the sheet was decided and
        the entry adjusted since, which its own ``TimeAdjusted`` says). Every entry's project and
        the worker must be known, else the sheet waits like an entry, and so does the worker's
        lane.
        """
        sheet = await self.psa.read_timesheet(landed.record)
        if sheet.status != _SUBMITTED or sheet.worker_id is None:
            return []
        entries = await self.psa.timesheet_entries(sheet)
        if not entries:  # the PSA refuses an empty submission; nothing to announce
            return []
        knowns = [await self._look_up(e.project_id, sheet.worker_id) for e in entries]
        worker = knowns[0].worker
        placed = [(entry, known.project) for entry, known in zip(entries, knowns, strict=True)]
        projects = {known.project.id: (known.project, known.region) for known in knowns}
        legal_entity_id, region = submission_scope(
            worker,
            list(projects.values()),
            await self.uow.reference.entity_region(worker.legal_entity_id),
        )
        # One project: the sheet belongs to that project's workflow; several: to none of them.
        if len(projects) == 1:
            [(project, _)] = projects.values()
            correlation_id = project.opportunity_id or project.id
        else:
            correlation_id = sheet.external_id
        envelope = Envelope.new(
            time_submitted(sheet, placed, worker), producer=self._producer(),
            tenant_id=self.tenant_id, legal_entity_id=legal_entity_id,
            data_residency_region=region, correlation_id=correlation_id,
            subject_version=landed.version, idempotency_key=_key(landed),
        )  # fmt: skip
        return [envelope]

    async def _look_up(self, psa_project: str, worker_id: str) -> _Known:
        """The canonical project and worker a PSA record is about, or ``RecordWaits``."""
        if (psa_project, worker_id) not in self._known:
            self._known[(psa_project, worker_id)] = await self._read(psa_project, worker_id)
        return self._known[(psa_project, worker_id)]

    async def _read(self, psa_project: str, worker_id: str) -> _Known:
        reference = self.uow.reference
        project_id = await self.uow.refs.canonical_id(
            "project", system=PSA, instance=self.source, object_type="project",
            external_id=psa_project,
        )  # fmt: skip
        project = await reference.project(project_id or psa_project)
        worker = await reference.worker(worker_id)
        region = await reference.project_region(project.id) if project else None
        if project is None or region is None:
            raise RecordWaits(
                f"{PostingFailureReason.PROJECT_UNKNOWN.value}: PSA project {psa_project} is "
                "not an activated project yet"
            )
        if worker is None:
            raise RecordWaits(
                f"{PostingFailureReason.WORKER_NOT_MAPPED.value}: worker {worker_id} is not "
                "onboarded yet"
            )
        return _Known(project, worker, region)

    def _wrap(self, known: _Known, event: Event, landed: Landed) -> Envelope[Any]:
        return Envelope.new(
            event, producer=self._producer(), tenant_id=self.tenant_id,
            legal_entity_id=known.project.legal_entity_id, data_residency_region=known.region,
            correlation_id=known.project.opportunity_id or known.project.id,
            subject_version=landed.version, idempotency_key=_key(landed),
        )  # fmt: skip

    def _producer(self) -> Producer:
        return Producer(service="time-expense", system=SystemKind.PSA, instance=self.source)


def submission_scope(
    worker: Worker, projects: Sequence[tuple[Project, str]], worker_entity_region: str | None
) -> tuple[str, str]:
    """The (legal entity, residency region) of a timesheet's ``TimeSubmitted``.

    A timesheet is the worker's, and its entries may span projects of several entities
    (intercompany time), so the envelope is the **worker's legal entity** and its region: the
    region of the worker's entity's projects among the sheet's, else as time-expense knows it
    from that entity's other projects (``worker_entity_region``). When it knows none (every
    entry intercompany and no project of the worker's entity activated yet), the first entry's
    project's entity and region, so the routing key never pairs an entity with another's
    region. ``projects`` are the sheet's projects with their regions, in entry order.
    """
    for project, region in projects:
        if project.legal_entity_id == worker.legal_entity_id:
            return worker.legal_entity_id, region
    if worker_entity_region is not None:
        return worker.legal_entity_id, worker_entity_region
    first, region = projects[0]
    return first.legal_entity_id, region


def time_submitted(
    sheet: PsaTimesheet, placed: Sequence[tuple[PsaTimeEntry, Project]], worker: Worker
) -> TimeSubmitted:
    """A submitted PSA timesheet and its entries (each with its canonical project) as
    ``TimeSubmitted``; the entries are ``submitted``, as the sheet's submission made them."""
    return TimeSubmitted(
        timesheet=Timesheet(
            id=sheet.external_id,
            worker_id=worker.id,
            period_start=sheet.period_start,
            period_end=sheet.period_end,
            status=TimesheetStatus.SUBMITTED,
            source_status=sheet.status,
        ),
        entries=tuple(
            _time_entry(entry, worker, project, TimeEntryStatus.SUBMITTED, sheet.status)
            for entry, project in placed
        ),
        submitted_at=sheet.updated_at,
    )


def _time_entry(
    entry: PsaTimeEntry,
    worker: Worker,
    project: Project,
    status: TimeEntryStatus = TimeEntryStatus.APPROVED,
    source_status: str | None = None,
) -> TimeEntry:
    return TimeEntry(
        id=entry.external_id,
        timesheet_id=entry.timesheet_id,
        worker_id=worker.id,
        worker_legal_entity_id=worker.legal_entity_id,
        project_id=project.id,
        project_legal_entity_id=project.legal_entity_id,
        work_item_id=entry.task_id,
        role_id=entry.role_id,
        work_date=entry.work_date,
        duration_minutes=entry.minutes,
        billable=entry.billable,
        notes=entry.notes,
        status=status,
        source_status=source_status or entry.status,
    )


def _rejected(entry: PsaTimeEntry, project_id: str, was_approved: bool) -> TimeRejected:
    return TimeRejected(
        time_entry_id=entry.external_id,
        timesheet_id=entry.timesheet_id,
        worker_id=entry.worker_id or "",
        project_id=project_id,
        was_approved=was_approved,
        rejected_at=entry.updated_at,
    )


def _expense_approved(expense: PsaExpense, known: _Known) -> ExpenseApproved:
    return ExpenseApproved(
        expense=Expense(
            id=expense.external_id,
            worker_id=known.worker.id,
            project_id=known.project.id,
            project_legal_entity_id=known.project.legal_entity_id,
            category=expense.category,
            expense_date=expense.expense_date,
            amount=expense.amount,
            billable=expense.billable,
            markup_multiplier=expense.markup_multiplier,
            receipt_ref=expense.receipt_ref,
            status=ExpenseStatus.APPROVED,
            source_status=expense.status,
        ),
        approved_by=_APPROVER,
        approved_at=expense.updated_at,
    )


def _key(landed: Landed) -> str:
    """The idempotency key of a landed record version's event."""
    return f"psa:{landed.instance}:{landed.record_type}:{landed.record_id}:v{landed.version}"
