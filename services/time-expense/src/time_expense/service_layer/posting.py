"""Time entries from the PSA's decisions to the ERP: post, reverse, and say what happened.

Each handler runs in the transaction of its message: the entry's ledger is read (and locked)
once, the ERP write carries an idempotency key derived from the entry and version (so a
redelivery after a crash writes nothing new), and the journal line, the ledger and the
``TimePosted`` event commit together. A lane's batch writes its postings to the ERP in one call
(``write_postings``, deferred to the end of the transaction). A refusal raises the runtime
error that parks the message (waiting for a dependency, or for finance); ``exceptions``
records and announces it in the parking transaction. The ERP refusing a period time-expense
still knows as open places the entry again on the ERP's periods as they are now.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from itertools import groupby
from typing import Any

from tandem_connectors.directory import ErpDirectory, ErpTarget
from tandem_connectors.errors import PeriodClosed
from tandem_connectors.ports import ErpObject, TimeReversal, Written
from tandem_contracts import Envelope, Money, SystemKind
from tandem_contracts.entities import TimeEntry
from tandem_contracts.events import TimeAdjusted, TimeApproved, TimePosted, TimeRejected
from tandem_messaging import HandlerContext, Router
from time_expense.domain import (
    EntryLedger,
    LatePolicy,
    Post,
    PostingRefused,
    Reverse,
    Stage,
    adjusted,
    approved,
    place_in_period,
    rejected,
)
from time_expense.service_layer.failures import as_runtime_error
from time_expense.service_layer.policies import Clock, Policies
from time_expense.service_layer.preparation import (
    Prepared,
    employee_on,
    ensure_periods,
    prepare_posting,
)
from time_expense.service_layer.unit_of_work import AbstractUnitOfWork, JournalLine

__all__ = ["event_version", "handlers", "ledger_after", "write_postings"]

handlers = Router()
_POSTED, _REVERSED = 3, 1


def event_version(ledger_version: int, step: int) -> int:
    """Subject versions of the events about one entry: reversal < failure < posting."""
    return ledger_version * 4 + step


@dataclass(frozen=True)
class _Decided:
    """What a handler decided about an entry, and what it needs to carry it out."""

    envelope: Envelope[Any]
    ctx: HandlerContext[Any]
    uow: AbstractUnitOfWork
    erps: ErpDirectory
    policies: Policies
    clock: Clock


@handlers.handles(TimeApproved)
async def post_approved_time(
    envelope: Envelope[TimeApproved],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    policies: Policies,
    clock: Clock,
) -> None:
    """Post newly approved time (reversing what an earlier approval posted, if it changed)."""
    decided, entry = _Decided(envelope, ctx, uow, erps, policies, clock), envelope.payload.entry
    ledger, commands = approved(await uow.ledgers.entry(entry.id), entry, envelope.subject_version)
    await _carry_out(decided, ledger, commands)
    uow.ledgers.keep(ledger_after(ledger, commands), entry, envelope.data_residency_region)


@handlers.handles(TimeRejected)
async def reverse_rejected_time(
    envelope: Envelope[TimeRejected],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    policies: Policies,
    clock: Clock,
) -> None:
    """Reverse time whose approval was withdrawn; nothing to do if it never posted."""
    decided, rejection = _Decided(envelope, ctx, uow, erps, policies, clock), envelope.payload
    before = await uow.ledgers.entry(rejection.time_entry_id)
    ledger, commands = rejected(before, rejection.time_entry_id, envelope.subject_version)
    await _carry_out(decided, ledger, commands)
    about = _known_entry(before)
    if about is not None:  # never seen before: the inbox keeps older versions out anyway
        uow.ledgers.keep(ledger_after(ledger, commands), about, envelope.data_residency_region)


@handlers.handles(TimeAdjusted)
async def repost_adjusted_time(
    envelope: Envelope[TimeAdjusted],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    policies: Policies,
    clock: Clock,
) -> None:
    """Reverse the original posting and post the replacement, never an in-place edit."""
    decided, adjustment = _Decided(envelope, ctx, uow, erps, policies, clock), envelope.payload
    original = await uow.ledgers.entry(adjustment.original_entry_id)
    replacement = adjustment.replacement
    other = None
    if replacement is not None and replacement.id != adjustment.original_entry_id:
        other = await uow.ledgers.entry(replacement.id)
    touched, commands = adjusted(
        original, adjustment.original_entry_id, replacement, envelope.subject_version, other
    )
    await _carry_out(decided, touched[0], commands)
    for ledger in touched:
        about = _known_entry(ledger) or _known_entry(original)
        if about is not None:
            uow.ledgers.keep(ledger_after(ledger, commands), about, envelope.data_residency_region)


def ledger_after(ledger: EntryLedger, commands: list[Post | Reverse]) -> EntryLedger:
    """The ledger once the ``commands`` about its entry reached the ERP."""
    for command in commands:
        if command.entry.id != ledger.entry_id:
            continue
        ledger = (
            ledger.mark_reversed() if isinstance(command, Reverse) else ledger.mark_posted(command)
        )
    return ledger


def _known_entry(ledger: EntryLedger | None) -> TimeEntry | None:
    """The entry's latest known content (for the ledger row's report columns)."""
    if ledger is None:
        return None
    return ledger.current or (ledger.posted.entry if ledger.posted else None)


async def _carry_out(
    decided: _Decided, ledger: EntryLedger, commands: list[Post | Reverse]
) -> None:
    for command in commands:
        if isinstance(command, Reverse):
            await _reverse(decided, command)
        else:
            await _post(decided, command)
    if ledger.stage in (Stage.REJECTED, Stage.REVERSED) or commands:
        decided.uow.ledgers.resolve("time_entry", ledger.entry_id)


@dataclass(frozen=True)
class _Pending:
    """A posting checked and priced, waiting for its batch's one write to the ERP."""

    decided: _Decided
    target: ErpTarget
    prepared: Prepared
    command: Post


async def _post(decided: _Decided, command: Post) -> None:
    """Check and price the entry now; write it with the rest of the lane's batch."""
    entry, envelope = command.entry, decided.envelope
    target = decided.erps.target(entry.project_legal_entity_id, envelope.data_residency_region)
    try:
        prepared = await prepare_posting(
            decided.uow, decided.erps, decided.policies, target, entry, command.key
        )
    except PostingRefused as refused:
        raise as_runtime_error(refused) from refused
    decided.ctx.scope.defer(write_postings, _Pending(decided, target, prepared, command))


async def write_postings(batch: list[_Pending]) -> None:
    """One ERP write per instance for a batch's postings; then their journal lines and
    cross-references (one statement each) and each one's ``TimePosted``."""
    by_instance = sorted(batch, key=lambda pending: pending.target.instance)  # stable: in order
    for _, group in groupby(by_instance, key=lambda pending: pending.target.instance):
        pending, written = await _post_time(list(group))
        uow = pending[0].decided.uow
        pairs = list(zip(pending, written, strict=True))
        await uow.ledgers.journal(*(_journal_line(item, line) for item, line in pairs))
        await uow.refs.link_many("time_entry", [(i.command.entry.id, w.ref) for i, w in pairs])
        for item, line in pairs:
            await _announce_posting(item, line)


async def _post_time(pending: list[_Pending]) -> tuple[list[_Pending], list[Written]]:
    """Write ``pending`` to their ERP in one call; answer the postings written (a lone one
    perhaps placed again) and the ERP's record of each.

    The ERP refusing a lone posting's period says the periods time-expense knows are stale: read
    them again and place the entry again (the late-time policy decides: later, or held until the
    period reopens). A batch is redone one message at a time by the runtime instead.
    """
    erp = pending[0].target.erp
    try:
        return pending, await erp.post_time([p.prepared.posting for p in pending])
    except PeriodClosed as closed:
        if len(pending) > 1:
            raise
        refused = closed
    [item] = pending
    again = await _placed_again(item)
    if again.prepared.placement.accounting_date == item.prepared.placement.accounting_date:
        raise refused  # the ERP refuses a period its own periods call open: for finance
    return [again], await erp.post_time([again.prepared.posting])


async def _placed_again(item: _Pending) -> _Pending:
    """``item`` prepared again on its entity's periods as read from the ERP now."""
    decided, target, command = item.decided, item.target, item.command
    entity = item.prepared.project.legal_entity_id
    uow, erps = decided.uow, decided.erps
    try:
        await ensure_periods(uow, erps, target, entity, command.entry.work_date, refresh=True)
        prepared = await prepare_posting(
            uow, erps, decided.policies, target, command.entry, command.key
        )
    except PostingRefused as refused:
        raise as_runtime_error(refused) from refused
    return replace(item, prepared=prepared)


def _journal_line(item: _Pending, written: Written) -> JournalLine:
    entry, prepared, command = item.command.entry, item.prepared, item.command
    return JournalLine(
        key=command.key, subject_type="time_entry", subject_id=entry.id, kind="post",
        erp_instance=item.target.instance, erp_id=written.external_id,
        project_id=entry.project_id, worker_id=entry.worker_id,
        legal_entity_id=entry.project_legal_entity_id, work_date=entry.work_date,
        accounting_date=prepared.placement.accounting_date, late=prepared.placement.late,
        minutes=entry.duration_minutes,
        bill_amount=prepared.bill_amount.amount if prepared.bill_amount else None,
        cost_amount=prepared.cost_amount.amount if prepared.cost_amount else None,
        amount=None, currency=prepared.project.currency,
    )  # fmt: skip


async def _announce_posting(item: _Pending, written: Written) -> None:
    prepared, command = item.prepared, item.command
    entry = prepared.posting.entry  # as priced: the bill rate frozen with its source
    posted = TimePosted(
        time_entry_id=entry.id, project_id=entry.project_id, worker_id=entry.worker_id,
        erp_ref=written.ref, work_date=entry.work_date,
        accounting_date=prepared.placement.accounting_date,
        late_posting=prepared.placement.late, duration_minutes=entry.duration_minutes,
        bill_amount=prepared.bill_amount, cost_amount=prepared.cost_amount,
        posted_at=item.decided.clock(), billable=entry.billable, bill_rate=entry.bill_rate,
        role_id=entry.role_id, worker_legal_entity_id=entry.worker_legal_entity_id,
        project_legal_entity_id=entry.project_legal_entity_id,
    )  # fmt: skip
    await item.decided.ctx.publish(posted, subject_version=event_version(command.version, _POSTED))


async def _reverse(decided: _Decided, command: Reverse) -> None:
    uow, erps, envelope = decided.uow, decided.erps, decided.envelope
    await decided.ctx.scope.flush()  # the posting it reverses may be waiting in this batch
    original = await uow.ledgers.journal_line(command.posted_key)
    if original is None:  # the posting it reverses never reached the ERP: nothing to undo
        return
    entry = command.entry
    target = erps.target(original.legal_entity_id, envelope.data_residency_region)
    employee = await _reversed_employee(decided, target, original)
    work = await erps.work(uow.refs, target.instance, original.project_id, entry.work_item_id)
    periods = await ensure_periods(
        uow, erps, target, original.legal_entity_id, original.accounting_date
    )
    # A correction always goes through: into the original's period, else the first open one.
    placement = place_in_period(original.accounting_date, periods, LatePolicy.POST_TO_NEXT_OPEN)
    written = await target.erp.reverse_time(
        TimeReversal(
            posted=original.erp_id,
            entry=entry.model_copy(update={"accounting_date": placement.accounting_date}),
            employee=employee,
            work=work or "",
            key=command.key,
        )
    )
    # The entry no longer stands for the reversed line (the journal keeps both lines).
    await uow.refs.unlink(
        "time_entry", entry.id, system=SystemKind.ERP.value, instance=written.ref.instance,
        object_type=ErpObject.TIME_LINE.value,
    )  # fmt: skip
    await uow.ledgers.journal(
        replace(
            original,
            key=command.key,
            kind="reversal",
            erp_id=written.external_id,
            accounting_date=placement.accounting_date,
            late=placement.late,
            minutes=-original.minutes,
            bill_amount=_negated(original.bill_amount),
            cost_amount=_negated(original.cost_amount),
        )
    )
    posted = TimePosted(
        time_entry_id=entry.id, project_id=original.project_id, worker_id=original.worker_id,
        erp_ref=written.ref, work_date=original.work_date,
        accounting_date=placement.accounting_date, late_posting=placement.late,
        duration_minutes=original.minutes,
        bill_amount=_money(original.bill_amount, original.currency),
        cost_amount=_money(original.cost_amount, original.currency),
        reversal_of=entry.id, posted_at=decided.clock(),
    )  # fmt: skip
    await decided.ctx.publish(posted, subject_version=event_version(command.version, _REVERSED))


async def _reversed_employee(decided: _Decided, target: ErpTarget, original: JournalLine) -> str:
    """The employee the reversed line was posted to (by its work date), or "" when the worker
    has none mapped any more (the ERP reverses the line it names)."""
    try:
        return await employee_on(
            decided.uow, decided.erps, target.instance, original.worker_id, original.work_date
        )
    except PostingRefused:
        return ""


def _negated(amount: Decimal | None) -> Decimal | None:
    return -amount if amount is not None else None


def _money(amount: Decimal | None, currency: str) -> Money | None:
    return Money(amount=amount, currency=currency) if amount is not None else None
