"""Everything checked and resolved before an entry may post: the ``Prepared`` posting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tandem_connectors.directory import ErpDirectory, ErpTarget, company_key
from tandem_connectors.ports import TimePosting
from tandem_contracts import Money
from tandem_contracts.entities import AccountingPeriod, Project, TimeEntry
from tandem_contracts.events import PostingFailureReason
from time_expense.domain import FxTable, Placement, place_in_period
from time_expense.domain.checks import (
    check_assignment,
    check_employee_on,
    check_intercompany,
    check_project_open_for_time,
    check_within_last_day,
)
from time_expense.domain.errors import DependencyPending
from time_expense.domain.keys import project_in_erp_key
from time_expense.domain.pricing import price_entry
from time_expense.service_layer.policies import Policies
from time_expense.service_layer.unit_of_work import AbstractUnitOfWork

__all__ = [
    "Prepared",
    "employee_on",
    "ensure_periods",
    "erp_work",
    "fx_table",
    "prepare_posting",
]

_PERIOD_LOOKAHEAD_DAYS = 400


@dataclass(frozen=True)
class Prepared:
    """An entry ready to post: priced, placed in a period, with its ERP ids."""

    posting: TimePosting
    project: Project
    placement: Placement
    bill_amount: Money | None
    cost_amount: Money | None
    intercompany: bool


async def prepare_posting(
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    policies: Policies,
    target: ErpTarget,
    entry: TimeEntry,
    key: str,
) -> Prepared:
    """Check, price and place ``entry``; raise ``PostingRefused`` when it may not post.

    Reads go through the unit of work, which remembers them for the transaction (a lane's
    batch is mostly one worker's entries on a few projects).
    """
    reference = uow.reference
    last_day = await reference.last_day(entry.worker_id)
    check_within_last_day(entry.worker_id, entry.work_date, last_day)
    project = check_project_open_for_time(entry, await reference.project(entry.project_id))
    check_assignment(entry, project, await reference.assignments(project.id, entry.worker_id))
    intercompany = check_intercompany(entry, policies.intercompany)
    employee = await employee_on(uow, erps, target.instance, entry.worker_id, entry.work_date)
    work = await erp_work(uow, erps, target, project.id, entry.work_item_id)
    costs = await reference.cost_rates(entry.worker_id)
    currencies = {rate.hourly_cost.currency for rate in costs}
    fx = await fx_table(uow, currencies, project.currency, entry.work_date)
    priced = price_entry(entry, project, await reference.rate_cards(project.currency), costs, fx)
    # Read once per month of work dates; a date the month's periods miss is looked up alone.
    month = entry.work_date.replace(day=1)
    periods = await ensure_periods(uow, erps, target, project.legal_entity_id, month)
    if not _covers(periods, entry.work_date):
        periods = await ensure_periods(uow, erps, target, project.legal_entity_id, entry.work_date)
    placement = place_in_period(entry.work_date, periods, policies.late_time)
    posted_entry = priced.entry.model_copy(update={"accounting_date": placement.accounting_date})
    return Prepared(
        posting=TimePosting(entry=posted_entry, employee=employee, work=work, key=key),
        project=project, placement=placement, bill_amount=priced.bill_amount,
        cost_amount=priced.cost_amount, intercompany=intercompany,
    )  # fmt: skip


async def employee_on(
    uow: AbstractUnitOfWork, erps: ErpDirectory, instance: str, worker_id: str, on: date
) -> str:
    """The worker's ERP employee in ``instance`` on ``on`` (a transfer changes it from its
    effective date); waits while the worker has none there."""
    employments = await uow.reference.employments(worker_id)
    linked = None
    if not any(e.instance == instance for e in employments):  # kept before employments were
        linked = await erps.employee(uow.refs, instance, worker_id)
    return check_employee_on(worker_id, employments, on, instance, linked)


async def erp_work(
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    target: ErpTarget,
    project_id: str,
    work_item_id: str | None,
) -> str:
    """The ERP work a posting books on; waits while the project has none in the ERP."""
    work = await erps.work(uow.refs, target.instance, project_id, work_item_id)
    if work is None:
        raise DependencyPending(
            project_in_erp_key(target.instance, project_id),
            PostingFailureReason.PROJECT_UNKNOWN,
            f"project {project_id} has no project in ERP instance {target.instance}",
        )
    return work


async def fx_table(uow: AbstractUnitOfWork, currencies: set[str], into: str, on: date) -> FxTable:
    """The rates that convert ``currencies`` into ``into`` on ``on``, as time-expense knows them."""
    fx = FxTable()
    for currency in currencies - {into}:
        for rate in await uow.reference.fx_rates(currency, into, on):
            fx.add(rate)
    return fx


async def ensure_periods(
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    target: ErpTarget,
    legal_entity_id: str,
    on: date,
    *,
    refresh: bool = False,
) -> list[AccountingPeriod]:
    """The entity's periods from ``on`` on; read from the ERP when none covers ``on`` yet, or
    always with ``refresh`` (the ERP refused a period they call open: they are stale).

    Waits (``legal-entity-in-erp``) while the ERP has no company for the entity: the directory
    finds it by its key once it is made, or an operator links it.
    """
    reference = uow.reference
    if not refresh:
        periods = await reference.periods(legal_entity_id, on)
        if _covers(periods, on):
            return periods
    company = await erps.company(uow.refs, target, legal_entity_id)
    if company is None:
        raise DependencyPending(
            company_key(target.instance, legal_entity_id),
            PostingFailureReason.PROJECT_UNKNOWN,
            f"legal entity {legal_entity_id} has no company in ERP instance {target.instance}",
        )
    start = on.replace(day=1)
    end = date.fromordinal(start.toordinal() + _PERIOD_LOOKAHEAD_DAYS)
    fetched = await target.erp.list_periods(
        company=company, legal_entity_id=legal_entity_id, start=start, end=end
    )
    kept = {(p.start_date, p.end_date): p for p in await reference.periods(legal_entity_id, start)}
    for period in fetched:
        if kept.get((period.start_date, period.end_date)) != period:  # not rewritten: no lock
            await reference.save_period(period)
    return await reference.periods(legal_entity_id, on)


def _covers(periods: list[AccountingPeriod], on: date) -> bool:
    return any(p.start_date <= on <= p.end_date for p in periods)
