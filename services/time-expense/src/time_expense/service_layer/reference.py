"""What other contexts tell time-expense: each fact kept, the postings waiting on it released.

A worker's employments are kept with the ERP employee each is: the hire's from its start date,
a transfer's (a new legal entity) from its effective date, so time posts to the employee of
the entity the worker was in on the work date. The employee of a transfer is upserted here
under ``employee_key(worker, entity)``, as onboarding upserts the first (staffing-sync writes
the same keys, so both find one record, whichever comes first). The worker's last day (HR's
``WorkerTerminated``, or a termination date on the worker) is kept: time after it is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from tandem_connectors.directory import ErpDirectory, company_key, employee_key
from tandem_connectors.ports import ErpObject
from tandem_contracts import Envelope, SystemKind
from tandem_contracts.entities import CostRate, PeriodStatus, Worker
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
    WorkerTerminated,
    WorkerUpdated,
)
from tandem_messaging import DependencyMissing, HandlerContext, Router
from time_expense.domain.checks import Employment
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
    await uow.reference.save_last_day(worker.id, worker.termination_date)
    rates = [onboarded.cost_rate] if onboarded.cost_rate else []
    for rate in rates:
        await uow.reference.save_cost_rate(rate)
    await _employ(envelope, ctx, uow, erps, worker, onboarded.start_date, rates)


@handlers.handles(WorkerUpdated)
async def follow_worker(
    envelope: Envelope[WorkerUpdated],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
) -> None:
    """Keep the worker's new state and last day; on a transfer, make and link its employee of
    the new entity, which its time dated from the effective date posts to."""
    updated = envelope.payload
    worker, before = updated.worker, await uow.reference.worker(updated.worker.id)
    await uow.reference.save_worker(worker)
    await uow.reference.save_last_day(worker.id, worker.termination_date)
    if before is not None and before.legal_entity_id == worker.legal_entity_id:
        return
    # Its onboarding never reached time-expense: this version is its hire.
    starts_on = worker.hire_date if before is None else updated.effective_date
    rates = await uow.reference.cost_rates(worker.id)
    await _employ(envelope, ctx, uow, erps, worker, starts_on, rates, before)


@handlers.handles(WorkerTerminated)
async def keep_last_day(
    envelope: Envelope[WorkerTerminated], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Keep the worker's last day: its time dated after it is refused from now on."""
    terminated = envelope.payload
    await uow.reference.save_last_day(terminated.worker_id, terminated.last_day)
    worker = await uow.reference.worker(terminated.worker_id)
    if worker is not None:
        ended = worker.model_copy(update={"termination_date": terminated.last_day})
        await uow.reference.save_worker(ended)


async def _employ(
    envelope: Envelope[Any],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    worker: Worker,
    starts_on: date,
    rates: Sequence[CostRate],
    before: Worker | None = None,
) -> None:
    """Upsert the worker's employee of its entity's company, keep it as the employment from
    ``starts_on`` and link it as the worker's employee there (in place of an older one)."""
    entity = worker.legal_entity_id
    target = erps.target(entity, envelope.data_residency_region)
    company = await erps.company(uow.refs, target, entity)
    if company is None:
        raise DependencyMissing(
            company_key(target.instance, entity),
            f"legal entity {entity} has no company in {target.instance}",
        )
    employments = await uow.reference.employments(worker.id)
    linked = await erps.employee(uow.refs, target.instance, worker.id)
    if before is not None and linked is not None and not employments:
        # Linked before employments were kept: its time before the transfer stays its.
        kept = Employment(before.legal_entity_id, before.hire_date, target.instance, linked)
        await uow.reference.save_employment(worker.id, kept)
        employments = [kept]
    # The entity of hire keeps the plain key, as staffing-sync writes it.
    hired_in = employments[0].legal_entity_id if employments else (before or worker).legal_entity_id
    key = employee_key(worker.id, None if entity == hired_in else entity)
    written = await target.erp.upsert_employee(worker, rates, company=company, key=key)
    if linked is not None and linked != written.external_id:  # the new entity's employee
        await uow.refs.unlink(
            "worker", worker.id, system=SystemKind.ERP.value, instance=target.instance,
            object_type=ErpObject.EMPLOYEE.value,
        )  # fmt: skip
    await uow.refs.link("worker", worker.id, written.ref)
    employment = Employment(entity, starts_on, target.instance, written.external_id)
    await uow.reference.save_employment(worker.id, employment)
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
