"""Time entries from the PSA's decisions to the ERP: post, reverse, and say what happened.

Each handler runs in the transaction of its message: the ledger row is locked, the ERP write
carries an idempotency key derived from the entry and version (so a redelivery after a crash
writes nothing new), and the journal line, the ledger and the ``TimePosted`` event commit
together. A refusal raises the runtime error that parks the message (waiting for a dependency,
or for finance); ``exceptions.record_parked`` records and announces it in the parking
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, cast

from tandem_connectors.ports import ErpObject, TimeReversal, Written
from tandem_contracts import Envelope, Money
from tandem_contracts.entities import TimeEntry
from tandem_contracts.events import TimeAdjusted, TimeApproved, TimePosted, TimeRejected
from tandem_messaging import Flush, HandlerContext
from time_expense.adapters.erp import ErpTarget
from time_expense.adapters.ledger import JournalLine, Ledgers
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
from time_expense.service_layer.context import Services
from time_expense.service_layer.failures import as_runtime_error
from time_expense.service_layer.preparation import Prepared, ensure_periods, prepare_posting

__all__ = ["event_version", "on_time_adjusted", "on_time_approved", "on_time_rejected"]

_POSTED, _REVERSED = 3, 1


def event_version(ledger_version: int, step: int) -> int:
    """Subject versions of the events about one entry: reversal < failure < posting."""
    return ledger_version * 4 + step


async def on_time_approved(
    envelope: Envelope[TimeApproved], ctx: HandlerContext[Any], services: Services
) -> None:
    """Post newly approved time (reversing what an earlier approval posted, if it changed)."""
    entry = envelope.payload.entry
    ledger, commands = approved(await _ledger(ctx, entry.id), entry, envelope.subject_version)
    await _carry_out(envelope, ctx, services, ledger, commands)
    _save(ctx, ledger_after(ledger, commands), entry, envelope.data_residency_region)


async def on_time_rejected(
    envelope: Envelope[TimeRejected], ctx: HandlerContext[Any], services: Services
) -> None:
    """Reverse time whose approval was withdrawn; nothing to do if it never posted."""
    rejection = envelope.payload
    before = await _ledger(ctx, rejection.time_entry_id)
    ledger, commands = rejected(before, rejection.time_entry_id, envelope.subject_version)
    await _carry_out(envelope, ctx, services, ledger, commands)
    about = _known_entry(before)
    if about is not None:  # never seen before: the inbox keeps older versions out anyway
        _save(ctx, ledger_after(ledger, commands), about, envelope.data_residency_region)


async def on_time_adjusted(
    envelope: Envelope[TimeAdjusted], ctx: HandlerContext[Any], services: Services
) -> None:
    """Reverse the original posting and post the replacement, never an in-place edit."""
    adjustment = envelope.payload
    original = await _ledger(ctx, adjustment.original_entry_id)
    replacement = adjustment.replacement
    other = None
    if replacement is not None and replacement.id != adjustment.original_entry_id:
        other = await _ledger(ctx, replacement.id)
    touched, commands = adjusted(
        original, adjustment.original_entry_id, replacement, envelope.subject_version, other
    )
    await _carry_out(envelope, ctx, services, touched[0], commands)
    for ledger in touched:
        about = _known_entry(ledger) or _known_entry(original)
        if about is not None:
            _save(ctx, ledger_after(ledger, commands), about, envelope.data_residency_region)


async def _ledger(ctx: HandlerContext[Any], entry_id: str) -> EntryLedger | None:
    """The entry's ledger: as an earlier message of this transaction left it, else as stored
    (and locked for the transaction)."""
    kept = ctx.scope.kept.get(("ledger", entry_id))
    if kept is not None:
        return cast(EntryLedger, kept[0])
    return await Ledgers(ctx.connection).entry(entry_id)


def _save(ctx: HandlerContext[Any], ledger: EntryLedger, about: TimeEntry, region: str) -> None:
    """Save the entry's ledger with the batch's others, before the transaction commits."""
    ctx.scope.kept[("ledger", ledger.entry_id)] = (ledger, about, region)
    ctx.scope.defer("save-ledgers", _save_ledgers(ctx), ledger.entry_id)


def _save_ledgers(ctx: HandlerContext[Any]) -> Flush:
    async def flush(entry_ids: list[Any]) -> None:
        latest = [ctx.scope.kept[("ledger", entry_id)] for entry_id in dict.fromkeys(entry_ids)]
        await Ledgers(ctx.connection).save_entries(latest)

    return flush


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
    envelope: Envelope[Any],
    ctx: HandlerContext[Any],
    services: Services,
    ledger: EntryLedger,
    commands: list[Post | Reverse],
) -> None:
    for command in commands:
        if isinstance(command, Reverse):
            await _reverse(envelope, ctx, services, command)
        else:
            await _post(envelope, ctx, services, command)
    if ledger.stage in (Stage.REJECTED, Stage.REVERSED) or commands:
        ctx.scope.defer("resolve-time-exceptions", _resolve(ctx), ledger.entry_id)


def _resolve(ctx: HandlerContext[Any]) -> Flush:
    """Close the open exceptions of a batch's entries with one statement."""

    async def flush(entry_ids: list[Any]) -> None:
        await Ledgers(ctx.connection).resolve_exceptions("time_entry", entry_ids)

    return flush


@dataclass(frozen=True)
class _Deferred:
    """A posting checked and priced, waiting for its batch's one write to the ERP."""

    ctx: HandlerContext[Any]
    services: Services
    target: ErpTarget
    prepared: Prepared
    command: Post


async def _post(
    envelope: Envelope[Any], ctx: HandlerContext[Any], services: Services, command: Post
) -> None:
    """Check and price the entry now; write it with the rest of the lane's batch."""
    entry, db = command.entry, ctx.connection
    target = services.erps.target(entry.project_legal_entity_id, envelope.data_residency_region)
    try:
        prepared = await prepare_posting(db, services, target, entry, command.key, ctx.scope.memo)
    except PostingRefused as refused:
        raise as_runtime_error(refused) from refused
    deferred = _Deferred(ctx, services, target, prepared, command)
    ctx.scope.defer(f"erp-time:{target.instance}", _write_postings, deferred)


async def _write_postings(batch: list[Any]) -> None:
    """One ERP write for a batch's postings; then their journal lines and cross-references
    (one statement each) and each one's ``TimePosted``."""
    deferred: list[_Deferred] = batch
    target, db = deferred[0].target, deferred[0].ctx.connection
    written = await target.erp.post_time([d.prepared.posting for d in deferred])
    pairs = list(zip(deferred, written, strict=True))
    await Ledgers(db).journal(*(_journal_line(item, line) for item, line in pairs))
    links = [(item.command.entry.id, line.ref) for item, line in pairs]
    await deferred[0].services.erps.xref.link_many(db, "time_entry", links)
    for item, line in pairs:
        await _announce_posting(item, line)


def _journal_line(item: _Deferred, written: Written) -> JournalLine:
    entry, prepared, command = item.command.entry, item.prepared, item.command
    return JournalLine(
        key=command.key,
        subject_type="time_entry",
        subject_id=entry.id,
        kind="post",
        erp_instance=item.target.instance,
        erp_id=written.external_id,
        project_id=entry.project_id,
        worker_id=entry.worker_id,
        legal_entity_id=entry.project_legal_entity_id,
        work_date=entry.work_date,
        accounting_date=prepared.placement.accounting_date,
        late=prepared.placement.late,
        minutes=entry.duration_minutes,
        bill_amount=prepared.bill_amount.amount if prepared.bill_amount else None,
        cost_amount=prepared.cost_amount.amount if prepared.cost_amount else None,
        amount=None,
        currency=prepared.project.currency,
    )


async def _announce_posting(item: _Deferred, written: Written) -> None:
    entry, prepared, command = item.command.entry, item.prepared, item.command
    posted = TimePosted(
        time_entry_id=entry.id,
        project_id=entry.project_id,
        worker_id=entry.worker_id,
        erp_ref=written.ref,
        work_date=entry.work_date,
        accounting_date=prepared.placement.accounting_date,
        late_posting=prepared.placement.late,
        duration_minutes=entry.duration_minutes,
        bill_amount=prepared.bill_amount,
        cost_amount=prepared.cost_amount,
        posted_at=item.services.clock(),
    )
    await item.ctx.publish(posted, subject_version=event_version(command.version, _POSTED))


async def _reverse(
    envelope: Envelope[Any], ctx: HandlerContext[Any], services: Services, command: Reverse
) -> None:
    await ctx.scope.flush()  # the posting it reverses may be waiting in this batch
    db = ctx.connection
    ledgers = Ledgers(db)
    original = await ledgers.journal_line(command.posted_key)
    if original is None:  # the posting it reverses never reached the ERP: nothing to undo
        return
    entry = command.entry
    target = services.erps.target(original.legal_entity_id, envelope.data_residency_region)
    employee = await services.erps.employee(db, target.instance, original.worker_id)
    work = await services.erps.work(db, target.instance, original.project_id, entry.work_item_id)
    periods = await ensure_periods(
        db, services, target, original.legal_entity_id, original.accounting_date
    )
    # A correction always goes through: into the original's period, else the first open one.
    placement = place_in_period(original.accounting_date, periods, LatePolicy.POST_TO_NEXT_OPEN)
    reversal = TimeReversal(
        posted=original.erp_id,
        entry=entry.model_copy(update={"accounting_date": placement.accounting_date}),
        employee=employee or "",
        work=work or "",
        key=command.key,
    )
    written = await target.erp.reverse_time(reversal)
    # The entry no longer stands for the reversed line (the journal keeps both lines).
    await services.erps.xref.unlink(
        db,
        "time_entry",
        entry.id,
        system=written.ref.system.value,
        instance=written.ref.instance,
        object_type=ErpObject.TIME_LINE.value,
    )
    await ledgers.journal(
        replace(
            original,
            key=command.key,
            kind="reversal",
            erp_id=written.external_id,
            accounting_date=placement.accounting_date,
            late=placement.late,
            minutes=-original.minutes,
            bill_amount=-original.bill_amount if original.bill_amount is not None else None,
            cost_amount=-original.cost_amount if original.cost_amount is not None else None,
        )
    )
    posted = TimePosted(
        time_entry_id=entry.id,
        project_id=original.project_id,
        worker_id=original.worker_id,
        erp_ref=written.ref,
        work_date=original.work_date,
        accounting_date=placement.accounting_date,
        late_posting=placement.late,
        duration_minutes=original.minutes,
        bill_amount=_money(original.bill_amount, original.currency),
        cost_amount=_money(original.cost_amount, original.currency),
        reversal_of=entry.id,
        posted_at=services.clock(),
    )
    await ctx.publish(posted, subject_version=event_version(command.version, _REVERSED))


def _money(amount: Decimal | None, currency: str) -> Money | None:
    return Money(amount=amount, currency=currency) if amount is not None else None
