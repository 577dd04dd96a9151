"""Approved expenses to the ERP, once each; an expense rejected after approval, reversed.

An expense posts on its expense date under the period policy, in its own currency, and is
converted to the project currency at the expense date with the rate carried (as time's cost
is: DOMAIN.md §4.4). A rejection that arrives after the posting — a downstream refusal, like
NetSuite rejecting an approved report — posts the reversal, never an in-place edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tandem_connectors.directory import ErpDirectory, ErpTarget
from tandem_connectors.ports import ErpObject, ExpensePosting, ExpenseReversal, Written
from tandem_contracts import Envelope, Money, SystemKind
from tandem_contracts.entities import Expense
from tandem_contracts.events import ExpenseApproved, ExpensePosted, ExpenseRejected
from tandem_messaging import HandlerContext, Router
from time_expense.domain import Converted, LatePolicy, Placement, PostingRefused, place_in_period
from time_expense.domain.checks import check_project_open
from time_expense.domain.keys import expense_key, expense_reversal_key
from time_expense.service_layer.failures import as_runtime_error
from time_expense.service_layer.policies import Clock, Policies
from time_expense.service_layer.posting import event_version
from time_expense.service_layer.preparation import employee_on, ensure_periods, erp_work, fx_table
from time_expense.service_layer.unit_of_work import (
    AbstractUnitOfWork,
    ExpenseLedger,
    JournalLine,
)

__all__ = ["handlers"]

handlers = Router()
_REVERSED, _POSTED = 1, 3


@dataclass(frozen=True)
class _Handling:
    """One expense message being handled, and what it is given."""

    envelope: Envelope[Any]
    ctx: HandlerContext[Any]
    uow: AbstractUnitOfWork
    erps: ErpDirectory
    clock: Clock


@handlers.handles(ExpenseApproved)
async def post_approved_expense(
    envelope: Envelope[ExpenseApproved],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    policies: Policies,
    clock: Clock,
) -> None:
    """Post an approved expense. A later approved version of a posted one changes nothing if
    the expense is the same; if it changed, the posting is reversed and the new one posted."""
    expense, version = envelope.payload.expense, envelope.subject_version
    handling = _Handling(envelope, ctx, uow, erps, clock)
    last = await uow.ledgers.expense(expense.id)
    if last is not None and last.version >= version:
        return
    posted = last is not None and last.stage == "posted"
    if last is not None and posted and _same(last.expense, expense):
        await uow.ledgers.save_expense(last.expense, version, "posted")
        return
    target = erps.target(expense.project_legal_entity_id, envelope.data_residency_region)
    try:  # checked before a correction reverses anything: a refusal leaves the ERP as it was
        employee, project, placement, converted = await _checked(
            uow, erps, policies, target, expense
        )
    except PostingRefused as refused:
        raise as_runtime_error(refused) from refused
    if last is not None and posted:
        await _reverse(handling, last, version)  # a correction: reversal, then replacement
    key = expense_key(expense.id, version)
    [written] = await target.erp.post_expenses(
        [ExpensePosting(expense=expense, employee=employee, project=project, key=key)]
    )
    await uow.ledgers.journal(_line(expense, key, "post", target, written, placement))
    await uow.refs.link("expense", expense.id, written.ref)
    await uow.ledgers.save_expense(expense, version, "posted")
    uow.ledgers.resolve("expense", expense.id)
    announced = ExpensePosted(
        expense_id=expense.id, project_id=expense.project_id, erp_ref=written.ref,
        accounting_date=placement.accounting_date, amount=expense.amount,
        project_amount=converted.amount, fx=converted.fx, posted_at=clock(),
        billable=expense.billable, markup_multiplier=expense.markup_multiplier,
        category=expense.category, expense_date=expense.expense_date,
    )  # fmt: skip
    await ctx.publish(announced, subject_version=event_version(version, _POSTED))


def _same(posted: Expense, approved: Expense) -> bool:
    """Whether a newer approval says what the posting said (its status aside)."""
    unposted = {"status", "source_status", "refs"}
    return posted.model_dump(exclude=unposted) == approved.model_dump(exclude=unposted)


async def _checked(
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    policies: Policies,
    target: ErpTarget,
    expense: Expense,
) -> tuple[str, str, Placement, Converted]:
    """The employee and ERP project it books on, where it posts, what it is in the project's
    currency; ``PostingRefused`` when it may not post."""
    found = await uow.reference.project(expense.project_id)
    project = check_project_open(expense.project_id, found, expenses=True)
    employee = await employee_on(
        uow, erps, target.instance, expense.worker_id, expense.expense_date
    )
    erp_project = await erp_work(uow, erps, target, project.id, None)
    on = expense.expense_date
    periods = await ensure_periods(uow, erps, target, project.legal_entity_id, on)
    placement = place_in_period(on, periods, policies.late_time)
    return employee, erp_project, placement, await _converted(uow, expense, project.currency)


async def _converted(uow: AbstractUnitOfWork, expense: Expense, currency: str) -> Converted:
    """The expense in ``currency`` at its date, with the rate used (``fx_rate_missing``)."""
    on = expense.expense_date
    fx = await fx_table(uow, {expense.amount.currency}, currency, on)
    return fx.convert(expense.amount, currency, on)


@handlers.handles(ExpenseRejected)
async def reverse_rejected_expense(
    envelope: Envelope[ExpenseRejected],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    clock: Clock,
) -> None:
    """Reverse a posted expense that was rejected; one never posted just stops waiting (its
    parked approval is an older version of the same subject: the inbox drops it)."""
    rejection, version = envelope.payload, envelope.subject_version
    ledger = await uow.ledgers.expense(rejection.expense_id)
    uow.ledgers.resolve("expense", rejection.expense_id)
    if ledger is not None and ledger.stage == "posted":
        await _reverse(_Handling(envelope, ctx, uow, erps, clock), ledger, version)


async def _reverse(handling: _Handling, ledger: ExpenseLedger, version: int) -> None:
    """Post the reversal of the expense's posting, never an in-place edit; announce it with the
    negated amounts."""
    uow, erps = handling.uow, handling.erps
    original = await uow.ledgers.journal_line(expense_key(ledger.expense.id, ledger.version))
    if original is None:  # the posting never reached the ERP: nothing to undo
        return
    expense, key = ledger.expense, expense_reversal_key(original.key, version)
    target = erps.target(original.legal_entity_id, handling.envelope.data_residency_region)
    periods = await ensure_periods(
        uow, erps, target, original.legal_entity_id, original.accounting_date
    )
    # A correction always goes through: into the original's period, else the first open one.
    placement = place_in_period(original.accounting_date, periods, LatePolicy.POST_TO_NEXT_OPEN)
    dated = expense.model_copy(update={"expense_date": placement.accounting_date})
    written = await target.erp.reverse_expense(
        ExpenseReversal(posted=original.erp_id, expense=dated, key=key)
    )
    await uow.refs.unlink(
        "expense", expense.id, system=SystemKind.ERP.value, instance=target.instance,
        object_type=ErpObject.EXPENSE_LINE.value,
    )  # fmt: skip
    await uow.ledgers.journal(_line(expense, key, "reversal", target, written, placement))
    await uow.ledgers.save_expense(expense, version, "reversed")
    project = await uow.reference.project(expense.project_id)
    converted = await _converted(uow, expense, project.currency) if project else None
    reversed_ = ExpensePosted(
        expense_id=expense.id, project_id=expense.project_id, erp_ref=written.ref,
        accounting_date=placement.accounting_date, amount=_negated(expense.amount),
        project_amount=_negated(converted.amount) if converted else None,
        fx=converted.fx if converted else None, reversal_of=expense.id, posted_at=handling.clock(),
    )  # fmt: skip
    await handling.ctx.publish(reversed_, subject_version=event_version(version, _REVERSED))


def _negated(money: Money) -> Money:
    return Money(amount=-money.amount, currency=money.currency)


def _line(
    expense: Expense,
    key: str,
    kind: str,
    target: ErpTarget,
    written: Written,
    placement: Placement,
) -> JournalLine:
    amount = expense.amount.amount if kind == "post" else -expense.amount.amount
    return JournalLine(
        key=key, subject_type="expense", subject_id=expense.id, kind=kind,
        erp_instance=target.instance, erp_id=written.external_id,
        project_id=expense.project_id, worker_id=expense.worker_id,
        legal_entity_id=expense.project_legal_entity_id, work_date=expense.expense_date,
        accounting_date=placement.accounting_date, late=placement.late, minutes=0,
        bill_amount=None, cost_amount=None, amount=amount, currency=expense.amount.currency,
    )  # fmt: skip
