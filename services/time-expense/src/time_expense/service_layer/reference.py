"""What other contexts tell time-expense: each fact kept, the postings waiting on it released."""

from __future__ import annotations

from typing import Any

from tandem_connectors.directory import ErpDirectory, company_key, employee_key
from tandem_contracts import Envelope, SystemKind
from tandem_contracts.entities import PeriodStatus
from tandem_contracts.events import (
    AssignmentCancelled,
    AssignmentConfirmed,
    ConsultantOnboarded,
    CostRateChanged,
    PeriodClosed,
    PeriodReopened,
    ProjectActivated,
    ProjectClosedForTime,
    RateCardPublished,
)
from tandem_messaging import DependencyMissing, HandlerContext, Router
from time_expense.domain.keys import (
    assignment_key,
    period_open_key,
    project_in_erp_key,
    project_key,
    worker_key,
)
from time_expense.service_layer.unit_of_work import AbstractUnitOfWork

__all__ = ["handlers"]

handlers = Router()


@handlers.handles(ProjectActivated)
async def open_project(
    envelope: Envelope[ProjectActivated], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Open the project for time; link its ERP project; release the entries waiting on it."""
    project = envelope.payload.project
    await uow.reference.save_project(project, envelope.data_residency_region)
    for ref in project.refs:  # its ERP project (to post on) and PSA project (to ingest from)
        await uow.refs.link("project", project.id, ref)
        if ref.system is SystemKind.ERP:
            ctx.satisfy(project_in_erp_key(ref.instance, project.id))
    ctx.satisfy(project_key(project.id))


@handlers.handles(ProjectClosedForTime)
async def close_project_for_time(
    envelope: Envelope[ProjectClosedForTime], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Close the project for new time (already approved entries are refused from now on)."""
    project = await uow.reference.project(envelope.payload.project_id)
    if project is not None:
        flags = project.flags.model_copy(update={"time_entry_open": False})
        await uow.reference.save_project(project.model_copy(update={"flags": flags}))


@handlers.handles(AssignmentConfirmed)
async def keep_assignment(
    envelope: Envelope[AssignmentConfirmed], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Keep the assignment; release the worker's entries waiting for one on that project."""
    assignment = envelope.payload.assignment
    await uow.reference.save_assignment(assignment)
    if assignment.worker_id is not None:
        ctx.satisfy(assignment_key(assignment.project_id, assignment.worker_id))


@handlers.handles(AssignmentCancelled)
async def cancel_assignment(
    envelope: Envelope[AssignmentCancelled], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Mark the assignment cancelled."""
    await uow.reference.cancel_assignment(envelope.payload.assignment_id)


@handlers.handles(RateCardPublished)
async def keep_rate_card(
    envelope: Envelope[RateCardPublished], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Keep the published card (never re-rating time already approved)."""
    published = envelope.payload
    await uow.reference.save_rate_card(published.rate_card, published.published_version)


@handlers.handles(CostRateChanged)
async def keep_cost_rate(
    envelope: Envelope[CostRateChanged], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Keep the worker's new dated cost rate."""
    await uow.reference.save_cost_rate(envelope.payload.cost_rate)


@handlers.handles(ConsultantOnboarded)
async def make_employee(
    envelope: Envelope[ConsultantOnboarded],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
) -> None:
    """Make the worker an ERP employee of its entity; release the entries waiting on it."""
    onboarded = envelope.payload
    worker = onboarded.worker
    await uow.reference.save_worker(worker)
    rates = [onboarded.cost_rate] if onboarded.cost_rate else []
    for rate in rates:
        await uow.reference.save_cost_rate(rate)
    target = erps.target(worker.legal_entity_id, envelope.data_residency_region)
    company = await erps.company(uow.refs, target, worker.legal_entity_id)
    if company is None:
        raise DependencyMissing(
            company_key(target.instance, worker.legal_entity_id),
            f"legal entity {worker.legal_entity_id} has no company in {target.instance}",
        )
    written = await target.erp.upsert_employee(
        worker, rates, company=company, key=employee_key(worker.id)
    )
    await uow.refs.link("worker", worker.id, written.ref)
    ctx.satisfy(worker_key(worker.id, target.instance))


@handlers.handles(PeriodClosed)
async def close_period(
    envelope: Envelope[PeriodClosed], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Record the closed period: later postings dated in it follow the late-time policy."""
    period = envelope.payload.period
    if period.status is PeriodStatus.OPEN:
        period = period.model_copy(update={"status": PeriodStatus.CLOSED})
    await uow.reference.save_period(period)


@handlers.handles(PeriodReopened)
async def reopen_period(
    envelope: Envelope[PeriodReopened], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Record the reopened period; release what was held for finance until it reopened."""
    period = envelope.payload.period.model_copy(update={"status": PeriodStatus.OPEN})
    await uow.reference.save_period(period)
    ctx.satisfy(period_open_key(period.legal_entity_id, period.start_date))
