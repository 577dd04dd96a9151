"""Expense lines from client trips: travel, lodging and meals, reimbursed in the home currency."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from tandem_contracts import Money
from tandem_contracts.entities import (
    BillingModel,
    Customer,
    Expense,
    ExpenseStatus,
    Project,
    TimeEntry,
    Worker,
)
from tandem_sandbox.scenario._catalog import USD_VALUE
from tandem_sandbox.scenario._context import Context
from tandem_sandbox.scenario._fx import FxBook

__all__ = ["build_expenses"]

# (category, USD low, USD high): what one line of each kind typically costs.
_TRAVEL = ("travel", 180, 900)
_LOCAL = (("lodging", 140, 320), ("meals", 15, 80), ("travel", 12, 60))
# Reclaimable VAT included in receipts, where the receipt currency implies the rate.
_VAT = {"GBP": Decimal("0.20"), "EUR": Decimal("0.19")}
_STATUSES = (
    ExpenseStatus.APPROVED,
    ExpenseStatus.SUBMITTED,
    ExpenseStatus.REJECTED,
    ExpenseStatus.REIMBURSED,
)


def build_expenses(
    ctx: Context,
    workers: tuple[Worker, ...],
    projects: list[Project],
    customers: tuple[Customer, ...],
    entries: tuple[TimeEntry, ...],
    fx: FxBook,
) -> tuple[Expense, ...]:
    """Send about a third of the booked workers on a 1-4 day trip to one of their projects."""
    rng = ctx.rng("expenses")
    by_project = {p.id: p for p in projects}
    country_of = {c.id: c.country for c in customers}
    days: dict[tuple[str, str], list[date]] = {}
    for entry in entries:
        if by_project[entry.project_id].flags.expense_entry_open:
            days.setdefault((entry.worker_id, entry.project_id), []).append(entry.work_date)
    expenses: list[Expense] = []
    for worker in workers:
        options = sorted(p for w, p in days if w == worker.id)
        if not options or rng.random() >= 0.35:
            continue
        project = by_project[rng.choice(options)]
        trip = sorted(set(days[(worker.id, project.id)]))[: rng.randint(1, 4)]
        abroad = country_of[project.customer_id] != worker.work_country
        expenses += _trip(ctx, rng, fx, worker, project, trip, abroad)
    return tuple(expenses)


def _trip(
    ctx: Context,
    rng: random.Random,
    fx: FxBook,
    worker: Worker,
    project: Project,
    trip: list[date],
    abroad: bool,
) -> list[Expense]:
    report = ctx.new_id()
    status = rng.choices(_STATUSES, (74, 14, 4, 8))[0]
    local = project.currency if abroad else worker.home_currency
    lines = [(trip[0], _TRAVEL, worker.home_currency)]
    lines += [
        (day, kind, local)
        for day in trip
        for kind in _LOCAL
        if kind[0] != "lodging" or day != trip[-1]
    ]
    return [_line(ctx, rng, fx, worker, project, report, status, *line) for line in lines]


def _line(
    ctx: Context,
    rng: random.Random,
    fx: FxBook,
    worker: Worker,
    project: Project,
    report: str,
    status: ExpenseStatus,
    day: date,
    kind: tuple[str, int, int],
    currency: str,
) -> Expense:
    category, low, high = kind
    amount = Money(
        amount=Decimal(rng.randint(low * 100, high * 100)) / 100 / USD_VALUE[currency],
        currency=currency,
    )
    converted = currency != worker.home_currency
    used = fx.used(currency, worker.home_currency, day) if converted else None
    vat = _VAT.get(currency) if category != "travel" else None
    return Expense(
        id=ctx.new_id(),
        report_id=report,
        worker_id=worker.id,
        project_id=project.id,
        project_legal_entity_id=project.legal_entity_id,
        category=category,
        expense_date=day,
        amount=amount,
        reimbursement_amount=(
            Money(amount=amount.amount * used.rate, currency=worker.home_currency)
            if used
            else amount
        ),
        fx=used,
        billable=project.flags.billable and project.billing_model is not BillingModel.FIXED_FEE,
        tax_amount=Money(amount=amount.amount * vat / (1 + vat), currency=currency)
        if vat
        else None,
        receipt_ref=f"rcpt-{rng.getrandbits(48):012x}"
        if amount.amount * USD_VALUE[currency] > 25
        else None,
        status=status,
    )
