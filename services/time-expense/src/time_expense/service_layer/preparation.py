"""Everything checked and resolved before an entry may post: the ``Prepared`` posting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from tandem_connectors.ports import TimePosting
from tandem_contracts import Money
from tandem_contracts.entities import AccountingPeriod, Project, TimeEntry
from tandem_contracts.events import PostingFailureReason
from tandem_messaging import DbConnection
from time_expense.adapters.erp import ErpTarget
from time_expense.adapters.reference import ReferenceData
from time_expense.domain import FxTable, Placement, place_in_period
from time_expense.domain.checks import (
    check_assignment,
    check_intercompany,
    check_project_open_for_time,
    check_worker_mapped,
)
from time_expense.domain.errors import DependencyPending
from time_expense.domain.pricing import price_entry
from time_expense.service_layer.context import Services

__all__ = ["Prepared", "ensure_periods", "prepare_posting"]

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
    db: DbConnection,
    services: Services,
    target: ErpTarget,
    entry: TimeEntry,
    key: str,
    memo: dict[Any, Any] | None = None,
) -> Prepared:
    """Check, price and place ``entry``; raise ``PostingRefused`` when it may not post.

    ``memo`` shares what was read with the other entries of the same transaction (a lane's
    batch is mostly one worker's entries on a few projects).
    """
    reference = ReferenceData(db)
    shared = memo if memo is not None else {}

    async def once(name: str, *args: Any) -> Any:
        if (name, *args) not in shared:
            shared[(name, *args)] = await _READERS[name](reference, services, db, *args)
        return shared[(name, *args)]

    project = check_project_open_for_time(entry, await once("project", entry.project_id))
    check_assignment(entry, project, await once("assignments", project.id, entry.worker_id))
    intercompany = check_intercompany(entry, services.policies.intercompany)
    mapped = await once("employee", target.instance, entry.worker_id)
    employee = check_worker_mapped(entry.worker_id, mapped, target.instance)
    work = await once("work", target.instance, project.id, entry.work_item_id)
    if work is None:
        raise DependencyPending(
            f"project-in-erp:{target.instance}:{project.id}",
            PostingFailureReason.PROJECT_UNKNOWN,
            f"project {project.id} has no project in ERP instance {target.instance}",
        )
    costs = await once("costs", entry.worker_id)
    fx = FxTable()
    for currency in {rate.hourly_cost.currency for rate in costs} - {project.currency}:
        for rate in await once("fx", currency, project.currency, entry.work_date):
            fx.add(rate)
    priced = price_entry(entry, project, await once("cards", project.currency), costs, fx)
    # Read once per month of work dates; a date the month's periods miss is looked up alone.
    periods = await once("periods", target, project.legal_entity_id, entry.work_date.replace(day=1))
    if not _covers(periods, entry.work_date):
        periods = await ensure_periods(
            db, services, target, project.legal_entity_id, entry.work_date
        )
    placement = place_in_period(entry.work_date, periods, services.policies.late_time)
    posted_entry = priced.entry.model_copy(update={"accounting_date": placement.accounting_date})
    return Prepared(
        posting=TimePosting(entry=posted_entry, employee=employee, work=work, key=key),
        project=project,
        placement=placement,
        bill_amount=priced.bill_amount,
        cost_amount=priced.cost_amount,
        intercompany=intercompany,
    )


async def ensure_periods(
    db: DbConnection, services: Services, target: ErpTarget, legal_entity_id: str, on: date
) -> list[AccountingPeriod]:
    """The entity's periods from ``on`` on; read from the ERP when none covers ``on`` yet."""
    reference = ReferenceData(db)
    periods = await reference.periods(legal_entity_id, on)
    if _covers(periods, on):
        return periods
    company = await services.erps.company(db, target.instance, legal_entity_id)
    if company is None:
        raise DependencyPending(
            f"legal-entity-in-erp:{target.instance}:{legal_entity_id}",
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


Reader = Callable[..., Awaitable[Any]]
_READERS: dict[str, Reader] = {
    "project": lambda r, s, db, project: r.project(project),
    "assignments": lambda r, s, db, project, worker: r.assignments(project, worker),
    "employee": lambda r, s, db, instance, worker: s.erps.employee(db, instance, worker),
    "work": lambda r, s, db, instance, project, item: s.erps.work(db, instance, project, item),
    "costs": lambda r, s, db, worker: r.cost_rates(worker),
    "fx": lambda r, s, db, base, quote, on: r.fx_rates(base, quote, on),
    "cards": lambda r, s, db, currency: r.rate_cards(currency),
    "periods": lambda r, s, db, target, entity, on: ensure_periods(db, s, target, entity, on),
}
