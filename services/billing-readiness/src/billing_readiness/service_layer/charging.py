"""Posted time, posted expenses and milestones into charges (DOMAIN.md §2.5, §4.2, §4.5).

A charge is made once per source (its id is the source's and the part's: a redelivered or
replayed ``TimePosted`` adds nothing), priced by the project's terms and what it was charged
before (caps, retainer drawdown), and held by the project's standing holds. A reversal
(``reversal_of``) cancels each charge of the entry by a negative one: netted on the next
invoice while the original is not invoiced, credited once it is. Approved billable time the
ERP has not acknowledged yet is remembered, so that a period is not invoiced without it; time
refused on the way (``TimePostingFailed``) holds the project as a business exception until it
posts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billing_readiness.domain import (
    ChargeLine,
    CurrencyMismatch,
    Ledger,
    MilestoneUndated,
    MissingRate,
    PostedExpense,
    PostedTime,
    charge_expense,
    charge_id,
    charge_milestone,
    charge_time,
    reverse_charge,
)
from billing_readiness.service_layer.dependencies import Dependencies
from billing_readiness.service_layer.keys import waiting_for_contract, waiting_for_project
from billing_readiness.service_layer.standing import (
    charging_by_standing,
    in_handler,
    restate,
    standing_of,
)
from billing_readiness.service_layer.unit_of_work import AbstractUnitOfWork, KnownProject
from tandem_contracts import Envelope, Money
from tandem_contracts.entities import BillingModel, Charge, ChargeStatus
from tandem_contracts.events import (
    ChargeCreated,
    ExpensePosted,
    MilestoneCompleted,
    TimeApproved,
    TimePosted,
    TimePostingFailed,
)
from tandem_messaging import HandlerContext, PermanentError, Router
from tandem_pricing import RateQuery, resolve_bill_rate

__all__ = ["announce_created", "handlers"]

handlers = Router()

_LEDGERED = frozenset({BillingModel.CAPPED_TM, BillingModel.RETAINER})
_QUANTUM = Decimal("0.000001")  # a charge's quantity on the wire: six places (amount is exact)


async def announce_created(
    ctx: HandlerContext[Any], line: ChargeLine, contract: str | None
) -> None:
    """``ChargeCreated`` for a new charge (its status: held, ready or non-billable)."""
    status = (
        ChargeStatus.NON_BILLABLE
        if not line.billable
        else ChargeStatus.HOLD
        if line.holds
        else ChargeStatus.READY
    )
    charge = Charge(
        id=line.id, project_id=line.project_id, contract_id=contract, source=line.source,
        source_ids=(line.source_id,), quantity=line.quantity.quantize(_QUANTUM),
        rate=line.rate, amount=line.amount, bill_date=line.bill_date,
        billing_period=line.period,
        hold_reason=",".join(sorted(h.value for h in line.holds)) or None,
        intercompany=line.intercompany, status=status,
    )  # fmt: skip
    await ctx.publish(ChargeCreated(charge=charge), subject_version=1)


@handlers.handles(TimeApproved)
async def remember_approved(
    envelope: Envelope[TimeApproved], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Billable time approved: its period waits for its posting, and until then it is worth
    its minutes at the bill rate frozen on approval (leakage reports it, when it lingers).
    An approval delivered after the entry's charges stand (it rides the entry's lane, its
    posting the project's) waits for nothing."""
    entry = envelope.payload.entry
    if not entry.billable or await _generation(uow, entry.id) is None:
        return
    await uow.pending.approved(
        entry.id, entry.project_id, entry.work_date, envelope.payload.approved_at
    )
    if entry.bill_rate is not None:
        minutes = entry.rounded_minutes or entry.duration_minutes
        rate = entry.bill_rate
        worth = Money(amount=minutes * rate.amount / 60, currency=rate.currency)
        await uow.pending.value(entry.id, worth)


@handlers.handles(TimePostingFailed)
async def remember_refused(
    envelope: Envelope[TimePostingFailed],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    deps: Dependencies,
) -> None:
    """Time refused on its way to the ERP: a business exception holds the project."""
    failed = envelope.payload
    if failed.retryable:
        return  # it will post, or fail for good
    await uow.pending.failed(
        failed.time_entry_id, failed.project_id, failed.failed_at.date(), failed.reason.value,
        failed.failed_at,
    )  # fmt: skip
    await restate(uow, in_handler(ctx), failed.project_id, deps)


@handlers.handles(TimePosted)
async def charge_posted_time(
    envelope: Envelope[TimePosted],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    deps: Dependencies,
) -> None:
    """Charge a posted entry (or reverse the charges of a reversed one)."""
    posted = envelope.payload
    known = await _project(uow, posted.project_id)
    was_exception = await uow.pending.posted(posted.time_entry_id) is not None
    await charging_by_standing(uow, known, restating=was_exception)
    if posted.reversal_of is not None:
        await _reverse(uow, ctx, known, posted.reversal_of, posted.time_entry_id,
                       posted.accounting_date)  # fmt: skip
    elif (generation := await _generation(uow, posted.time_entry_id)) is not None:
        time = PostedTime(
            time_entry_id=posted.time_entry_id, project_id=posted.project_id,
            worker_id=posted.worker_id, work_date=posted.work_date,
            accounting_date=posted.accounting_date, minutes=posted.duration_minutes,
            billable=posted.billable if posted.billable is not None else bool(posted.bill_amount),
            bill_rate=posted.bill_rate, bill_amount=posted.bill_amount,
            cost_amount=posted.cost_amount, worker_entity=posted.worker_legal_entity_id,
            project_entity=posted.project_legal_entity_id,
        )  # fmt: skip
        standing = await standing_of(uow, known.terms.project_id, deps)
        ledger = await _ledger(uow, known)
        try:
            lines = charge_time(time, known.terms, ledger, deps.policy, standing)
        except (MissingRate, CurrencyMismatch) as refused:
            raise PermanentError(refused.code, str(refused)) from refused
        added = await uow.charges.add(_regenerated(lines, generation))
        for line in added:
            await announce_created(ctx, line, known.terms.contract_id)
        await _standard(uow, known, posted, added)
    if was_exception:
        await restate(uow, in_handler(ctx), posted.project_id, deps)


@handlers.handles(ExpensePosted)
async def charge_posted_expense(
    envelope: Envelope[ExpensePosted],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    deps: Dependencies,
) -> None:
    """Charge a posted rebillable expense (or reverse the charges of a reversed one)."""
    posted = envelope.payload
    known = await _project(uow, posted.project_id)
    if posted.reversal_of is not None:
        await _reverse(uow, ctx, known, posted.reversal_of, posted.expense_id,
                       posted.accounting_date)  # fmt: skip
        return
    generation = await _generation(uow, posted.expense_id)
    if generation is None:
        return  # charged, and standing
    amount = posted.project_amount or posted.amount
    expense = PostedExpense(
        expense_id=posted.expense_id, project_id=posted.project_id,
        expense_date=posted.expense_date or posted.accounting_date, amount=amount,
        billable=bool(posted.billable), markup=posted.markup_multiplier or Decimal(1),
        category=posted.category,
    )  # fmt: skip
    if amount.currency != known.terms.currency:
        raise PermanentError(
            "currency_mismatch",
            f"expense {posted.expense_id} is in {amount.currency}, its project in "
            f"{known.terms.currency}, and no converted amount came with it",
        )
    await charging_by_standing(uow, known)
    standing = await standing_of(uow, known.terms.project_id, deps)
    ledger = await _ledger(uow, known)
    lines = charge_expense(expense, known.terms, ledger, deps.policy, standing)
    for line in await uow.charges.add(_regenerated(lines, generation)):
        await announce_created(ctx, line, known.terms.contract_id)


@handlers.handles(MilestoneCompleted)
async def charge_milestone_reached(
    envelope: Envelope[MilestoneCompleted],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    deps: Dependencies,
) -> None:
    """Charge a milestone when its trigger says so (completed, or approved for billing)."""
    milestone = envelope.payload.milestone
    known = await _project(uow, milestone.project_id)
    await charging_by_standing(uow, known)
    standing = await standing_of(uow, known.terms.project_id, deps)
    on = envelope.payload.completed_at.date()
    try:
        lines = charge_milestone(milestone, known.terms, standing, on=on)
    except (MilestoneUndated, CurrencyMismatch) as refused:
        raise PermanentError(refused.code, str(refused)) from refused
    for line in await uow.charges.add(lines):
        await announce_created(ctx, line, known.terms.contract_id)


async def _generation(uow: AbstractUnitOfWork, source_id: str) -> str | None:
    """Which posting of the source this is: None when its charges stand already (a
    redelivery, or a producer's repeat: a split by a cap or a retainer was decided on the
    ledger before its own charges and is not decided again); "" for its first; "#n" for a
    replacement posted after its charges were reversed (a correction keeps the entry's id)."""
    existing = [c.line for c in await uow.charges.of_source(source_id)]
    if _unreversed(existing):
        return None
    originals = sum(1 for line in existing if line.reverses is None)
    return f"#{originals}" if originals else ""


def _unreversed(charges: list[ChargeLine]) -> list[ChargeLine]:
    """The charges among a source's that no reversal among them cancels (reversals aside)."""
    reversed_ids = {line.reverses for line in charges if line.reverses}
    return [line for line in charges if line.reverses is None and line.id not in reversed_ids]


def _regenerated(lines: list[ChargeLine], generation: str) -> list[ChargeLine]:
    """A replacement's charges, ids apart from the reversed generation's."""
    if not generation:
        return lines
    return [
        line._replace(id=charge_id(line.source, line.source_id, f"{line.id}{generation}"))
        for line in lines
    ]


async def _standard(
    uow: AbstractUnitOfWork, known: KnownProject, posted: TimePosted, added: list[ChargeLine]
) -> None:
    """Record the rate card's rate of the entry's role at its work date beside its customer
    charges, when the entry was billed below it (leakage: ``below_rate_card``)."""
    terms = known.terms
    if posted.role_id is None or posted.bill_rate is None:
        return
    query = RateQuery(
        project_id=terms.project_id, account_id=terms.customer_id, role_id=posted.role_id,
        currency=terms.currency, on=posted.work_date, org_unit_ids=known.org_unit_ids,
    )  # fmt: skip
    resolved = resolve_bill_rate(await uow.rate_cards.of_currency(terms.currency), query)
    if resolved is None or resolved.rate.amount <= posted.bill_rate.amount:
        return
    ids = [line.id for line in added if not line.intercompany and line.billable]
    if ids:
        await uow.charges.set_standard_rate(ids, resolved.rate)


async def _ledger(uow: AbstractUnitOfWork, known: KnownProject) -> Ledger:
    """What the project was charged so far, where its model needs it (a cap, a retainer): a
    plain T&M or fixed-fee project's charges do not depend on it, and its sum grows through
    the month."""
    terms = known.terms
    if terms.model in _LEDGERED:
        return await uow.charges.ledger(terms.project_id, terms.currency)
    nothing = Money(amount=Decimal(0), currency=terms.currency)
    return Ledger(billed_within_cap=nothing, retainer_drawn=nothing)


async def _project(uow: AbstractUnitOfWork, project_id: str) -> KnownProject:
    """The project's terms; waits while the project is not active, or names a contract not
    kept yet (the contract and the project come on different lanes: time charged before its
    contract would miss its cap, fee or PO)."""
    known = await uow.projects.get(project_id)
    if known is None:
        raise waiting_for_project(project_id)
    if not known.contract_known and known.terms.contract_id is not None:
        raise waiting_for_contract(project_id, known.terms.contract_id)
    return known


async def _reverse(
    uow: AbstractUnitOfWork,
    ctx: HandlerContext[Any],
    known: KnownProject,
    source_id: str,
    reversal_source: str,
    on: Any,
) -> None:
    """A negative charge for each charge of ``source_id`` not reversed yet."""
    charges = [c.line for c in await uow.charges.of_source(source_id)]
    lines = [
        reverse_charge(line, reversal_source_id=reversal_source, on=on)
        for line in _unreversed(charges)
    ]
    for line in await uow.charges.add(lines):
        await announce_created(ctx, line, known.terms.contract_id)
