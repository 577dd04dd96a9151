"""From the PSA's records to canonical events, in arrival order per worker.

Webhooks and polling both *land* a record version once (``adapters.inbound``); duplicates from
either path, or from both, are dropped there. ``publish_landed`` turns landed versions into
``TimeSubmitted`` (a submitted timesheet) / ``TimeApproved`` / ``TimeAdjusted`` /
``TimeRejected`` / ``ExpenseApproved`` envelopes (subject version = the PSA record's version, so
the consumer's inbox drops stale ones) and writes them to the outbox in the same transaction.
A version whose project or worker time-expense does not know yet waits, and so do that
worker's later versions, to keep their order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from tandem_connectors.ports import AbstractPsa, PsaExpense, PsaTimeEntry, PsaTimesheet
from tandem_connectors.xref import CrossReferences
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
    PostingFailureReason,
    TimeAdjusted,
    TimeApproved,
    TimeRejected,
    TimeSubmitted,
)
from tandem_messaging import Outbox
from time_expense.adapters.inbound import Inbound
from time_expense.adapters.reference import ReferenceData

__all__ = ["IngestContext", "publish_landed", "submission_scope", "time_submitted"]

_APPROVER = "psa-approval"
_DECISIONS = frozenset({"approved", "rejected"})
_SUBMITTED = "submitted"


@dataclass(frozen=True)
class IngestContext:
    """Where landed records come from and whose they are."""

    psa: AbstractPsa
    source: str
    tenant_id: str
    outbox: Outbox
    xref: CrossReferences = field(default_factory=CrossReferences)


@dataclass(frozen=True)
class _Known:
    project: Project
    worker: Worker
    region: str


class _Waits(Exception):
    """The record needs reference data time-expense does not have yet."""

    def __init__(self, reason: PostingFailureReason, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")


async def publish_landed(pool: asyncpg.Pool, ingest: IngestContext, limit: int = 2000) -> int:
    """Turn up to ``limit`` landed records into events; answer how many rows were settled."""
    async with pool.acquire() as db, db.transaction():
        inbound, reference = Inbound(db), ReferenceData(db)
        if not await inbound.take_turn(ingest.source):
            return 0  # another replica is ingesting this PSA; it keeps the order
        rows = await inbound.pending(ingest.source, limit)
        memo: dict[tuple[str, str], _Known] = {}  # the same projects and workers recur
        blocked: dict[str, str] = {}  # worker -> why its records wait
        published: list[int] = []
        ignored: list[int] = []
        envelopes: list[Envelope[Any]] = []
        for row in rows:
            record = json.loads(row["payload"])
            worker_key = record.get("resource_id", "")
            if worker_key in blocked:
                if _acted_on(row["record_type"], record.get("status")):  # waits behind the first
                    await inbound.note(row["sequence"], blocked[worker_key])
                continue
            try:
                envelope = await _envelope(ingest, inbound, reference, row, record, memo)
            except _Waits as waiting:
                blocked[worker_key] = str(waiting)
                await inbound.note(row["sequence"], str(waiting))
                continue
            if envelope is None:
                ignored.append(row["sequence"])
            else:
                envelopes.append(envelope)
                published.append(row["sequence"])
        await ingest.outbox.add(db, *envelopes)
        await inbound.settle(published, "published", None)
        await inbound.settle(
            ignored, "ignored", "not a submission or decision time-expense acts on"
        )
    return len(published) + len(ignored)


def _acted_on(record_type: str, status: Any) -> bool:
    """Whether a record version in this status becomes an event (the others are ignored)."""
    return status == _SUBMITTED if record_type == "timesheet" else status in _DECISIONS


async def _envelope(
    ingest: IngestContext,
    inbound: Inbound,
    reference: ReferenceData,
    row: asyncpg.Record,
    record: dict[str, Any],
    memo: dict[tuple[str, str], _Known],
) -> Envelope[Any] | None:
    if row["record_type"] == "timesheet":
        return await _submission(ingest, reference, row, record, memo)
    if row["record_type"] == "expense":
        expense = await ingest.psa.read_expense(record)
        if expense.status != "approved" or expense.worker_id is None:
            return None
        known = await _known(reference, ingest, expense.project_id, expense.worker_id, memo)
        return _wrap(ingest, known, _expense_approved(expense, known), row)
    entry = await ingest.psa.read_time_entry(record)
    if entry.status not in _DECISIONS or entry.worker_id is None:
        return None
    known = await _known(reference, ingest, entry.project_id, entry.worker_id, memo)
    if entry.status == "rejected":
        was = await inbound.was_approved(
            row["source"], "time_entry", entry.external_id, entry.version
        )
        return _wrap(ingest, known, _rejected(entry, known.project.id, was), row)
    canonical = _time_entry(entry, known.worker, known.project)
    if entry.revision > 1 and entry.adjustment_reason:
        event: Event = TimeAdjusted(
            original_entry_id=entry.external_id,
            replacement=canonical,
            reason=entry.adjustment_reason[:500],
            adjusted_at=entry.updated_at,
        )
    else:
        event = TimeApproved(
            entry=canonical,
            approval_version=entry.revision,
            approved_by=_APPROVER,
            approved_at=entry.updated_at,
        )
    return _wrap(ingest, known, event, row)


async def _submission(
    ingest: IngestContext,
    reference: ReferenceData,
    row: asyncpg.Record,
    record: dict[str, Any],
    memo: dict[tuple[str, str], _Known],
) -> Envelope[Any] | None:
    """A submitted timesheet version as ``TimeSubmitted``; other versions are not published.

    Its entries are read as the PSA holds them now: a submitted entry is locked until the
    sheet is decided, so these are the submitted values (unless the sheet was decided and the
    entry adjusted since, which its own ``TimeAdjusted`` says). Every entry's project and the
    worker must be known, else the sheet waits like an entry, and so does the worker's lane.
    """
    sheet = await ingest.psa.read_timesheet(record)
    if sheet.status != _SUBMITTED or sheet.worker_id is None:
        return None
    entries = await ingest.psa.timesheet_entries(sheet)
    if not entries:  # the PSA refuses an empty submission; there would be nothing to announce
        return None
    knowns = [await _known(reference, ingest, e.project_id, sheet.worker_id, memo) for e in entries]
    worker = knowns[0].worker
    placed = [(entry, known.project) for entry, known in zip(entries, knowns, strict=True)]
    projects = {known.project.id: (known.project, known.region) for known in knowns}
    legal_entity_id, region = submission_scope(
        worker,
        list(projects.values()),
        await reference.entity_region(worker.legal_entity_id),
    )
    # One project: the sheet belongs to that project's workflow; several: to none of them.
    if len(projects) == 1:
        [(project, _)] = projects.values()
        correlation_id = project.opportunity_id or project.id
    else:
        correlation_id = sheet.external_id
    return Envelope.new(
        time_submitted(sheet, placed, worker),
        producer=_producer(ingest),
        tenant_id=ingest.tenant_id,
        legal_entity_id=legal_entity_id,
        data_residency_region=region,
        correlation_id=correlation_id,
        subject_version=int(row["version"]),
        idempotency_key=_key(row),
    )


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


async def _known(
    reference: ReferenceData,
    ingest: IngestContext,
    psa_project: str,
    worker_id: str,
    memo: dict[tuple[str, str], _Known],
) -> _Known:
    """The canonical project and worker a PSA record is about, or ``_Waits``."""
    if (psa_project, worker_id) not in memo:
        memo[(psa_project, worker_id)] = await _look_up(reference, ingest, psa_project, worker_id)
    return memo[(psa_project, worker_id)]


async def _look_up(
    reference: ReferenceData, ingest: IngestContext, psa_project: str, worker_id: str
) -> _Known:
    project_id = await ingest.xref.canonical_id(
        reference.connection,
        "project",
        system=SystemKind.PSA.value,
        instance=ingest.source,
        object_type="project",
        external_id=psa_project,
    )
    project = await reference.project(project_id or psa_project)
    worker = await reference.worker(worker_id)
    region = await reference.project_region(project.id) if project else None
    if project is None or region is None:
        raise _Waits(
            PostingFailureReason.PROJECT_UNKNOWN,
            f"PSA project {psa_project} is not an activated project yet",
        )
    if worker is None:
        raise _Waits(
            PostingFailureReason.WORKER_NOT_MAPPED, f"worker {worker_id} is not onboarded yet"
        )
    return _Known(project, worker, region)


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


def _wrap(ingest: IngestContext, known: _Known, event: Event, row: asyncpg.Record) -> Envelope[Any]:
    return Envelope.new(
        event,
        producer=_producer(ingest),
        tenant_id=ingest.tenant_id,
        legal_entity_id=known.project.legal_entity_id,
        data_residency_region=known.region,
        correlation_id=known.project.opportunity_id or known.project.id,
        subject_version=int(row["version"]),
        idempotency_key=_key(row),
    )


def _producer(ingest: IngestContext) -> Producer:
    return Producer(service="time-expense", system=SystemKind.PSA, instance=ingest.source)


def _key(row: asyncpg.Record) -> str:
    """The idempotency key of a landed record version's event."""
    return f"psa:{row['source']}:{row['record_type']}:{row['record_id']}:v{row['version']}"
