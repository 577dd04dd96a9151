"""From the PSA's records to canonical events, in arrival order per worker.

Webhooks and polling both *land* a record version once (``adapters.inbound``); duplicates from
either path, or from both, are dropped there. ``publish_landed`` turns landed versions into
``TimeApproved`` / ``TimeAdjusted`` / ``TimeRejected`` / ``ExpenseApproved`` envelopes (subject
version = the PSA record's version, so the consumer's inbox drops stale ones) and writes them to
the outbox in the same transaction. A version whose project or worker time-expense does not know
yet waits, and so do that worker's later versions, to keep their order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from tandem_connectors.ports import AbstractPsa, PsaExpense, PsaTimeEntry
from tandem_connectors.xref import CrossReferences
from tandem_contracts import Envelope, Event, Producer, SystemKind
from tandem_contracts.entities import (
    Expense,
    ExpenseStatus,
    Project,
    TimeEntry,
    TimeEntryStatus,
    Worker,
)
from tandem_contracts.events import (
    ExpenseApproved,
    PostingFailureReason,
    TimeAdjusted,
    TimeApproved,
    TimeRejected,
)
from tandem_messaging import Outbox
from time_expense.adapters.inbound import Inbound
from time_expense.adapters.reference import ReferenceData

__all__ = ["IngestContext", "publish_landed"]

_APPROVER = "psa-approval"
_DECISIONS = frozenset({"approved", "rejected"})


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


async def publish_landed(pool: asyncpg.Pool, ingest: IngestContext, limit: int = 500) -> int:
    """Turn up to ``limit`` landed records into events; answer how many rows were settled."""
    async with pool.acquire() as db, db.transaction():
        inbound, reference = Inbound(db), ReferenceData(db)
        rows = await inbound.pending(limit)
        memo: dict[tuple[str, str], _Known] = {}  # the same projects and workers recur
        blocked: dict[str, str] = {}  # worker -> why its records wait
        published: list[int] = []
        ignored: list[int] = []
        envelopes: list[Envelope[Any]] = []
        for row in rows:
            record = json.loads(row["payload"])
            worker_key = record.get("resource_id", "")
            if worker_key in blocked:
                if record.get("status") in _DECISIONS:  # a decision waits behind the first
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
        await inbound.settle(ignored, "ignored", "not a decision time-expense acts on")
    return len(published) + len(ignored)


async def _envelope(
    ingest: IngestContext,
    inbound: Inbound,
    reference: ReferenceData,
    row: asyncpg.Record,
    record: dict[str, Any],
    memo: dict[tuple[str, str], _Known],
) -> Envelope[Any] | None:
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
    canonical = _time_entry(entry, known)
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


def _time_entry(entry: PsaTimeEntry, known: _Known) -> TimeEntry:
    return TimeEntry(
        id=entry.external_id,
        timesheet_id=entry.timesheet_id,
        worker_id=known.worker.id,
        worker_legal_entity_id=known.worker.legal_entity_id,
        project_id=known.project.id,
        project_legal_entity_id=known.project.legal_entity_id,
        work_item_id=entry.task_id,
        role_id=entry.role_id,
        work_date=entry.work_date,
        duration_minutes=entry.minutes,
        billable=entry.billable,
        notes=entry.notes,
        status=TimeEntryStatus.APPROVED,
        source_status=entry.status,
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
        producer=Producer(service="time-expense", system=SystemKind.PSA, instance=ingest.source),
        tenant_id=ingest.tenant_id,
        legal_entity_id=known.project.legal_entity_id,
        data_residency_region=known.region,
        correlation_id=known.project.opportunity_id or known.project.id,
        subject_version=int(row["version"]),
        idempotency_key=f"psa:{row['source']}:{row['record_type']}:{row['record_id']}:v{row['version']}",
    )
