"""What other contexts tell time-expense: each fact kept, the postings waiting on it released."""

from __future__ import annotations

from typing import Any

from tandem_contracts import Envelope, SystemKind
from tandem_contracts.entities import PeriodStatus
from tandem_contracts.events import (
    AssignmentCancelled,
    AssignmentConfirmed,
    ConsultantOnboarded,
    CostRateChanged,
    PeriodClosed,
    ProjectActivated,
    ProjectClosedForTime,
    RateCardPublished,
)
from tandem_messaging import DependencyMissing, HandlerContext
from time_expense.adapters.reference import ReferenceData
from time_expense.domain.checks import assignment_key, project_key, worker_key
from time_expense.service_layer.context import Services

__all__ = [
    "on_assignment_cancelled",
    "on_assignment_confirmed",
    "on_consultant_onboarded",
    "on_cost_rate_changed",
    "on_period_closed",
    "on_project_activated",
    "on_project_closed_for_time",
    "on_rate_card_published",
]


async def on_project_activated(
    envelope: Envelope[ProjectActivated], ctx: HandlerContext[Any], services: Services
) -> None:
    """Open the project for time; link its ERP project; release the entries waiting on it."""
    project = envelope.payload.project
    await ReferenceData(ctx.connection).save_project(project, envelope.data_residency_region)
    for ref in project.refs:  # its ERP project (to post on) and PSA project (to ingest from)
        await services.erps.xref.link(ctx.connection, "project", project.id, ref)
        if ref.system is SystemKind.ERP:
            ctx.satisfy(f"project-in-erp:{ref.instance}:{project.id}")
    ctx.satisfy(project_key(project.id))


async def on_project_closed_for_time(
    envelope: Envelope[ProjectClosedForTime], ctx: HandlerContext[Any], services: Services
) -> None:
    """Close the project for new time (already approved entries are refused from now on)."""
    reference = ReferenceData(ctx.connection)
    project = await reference.project(envelope.payload.project_id)
    if project is not None:
        flags = project.flags.model_copy(update={"time_entry_open": False})
        await reference.save_project(project.model_copy(update={"flags": flags}))


async def on_assignment_confirmed(
    envelope: Envelope[AssignmentConfirmed], ctx: HandlerContext[Any], services: Services
) -> None:
    """Keep the assignment; release the worker's entries waiting for one on that project."""
    assignment = envelope.payload.assignment
    await ReferenceData(ctx.connection).save_assignment(assignment)
    if assignment.worker_id is not None:
        ctx.satisfy(assignment_key(assignment.project_id, assignment.worker_id))


async def on_assignment_cancelled(
    envelope: Envelope[AssignmentCancelled], ctx: HandlerContext[Any], services: Services
) -> None:
    """Mark the assignment cancelled."""
    await ReferenceData(ctx.connection).cancel_assignment(envelope.payload.assignment_id)


async def on_rate_card_published(
    envelope: Envelope[RateCardPublished], ctx: HandlerContext[Any], services: Services
) -> None:
    """Keep the published card (never re-rating time already approved)."""
    published = envelope.payload
    await ReferenceData(ctx.connection).save_rate_card(
        published.rate_card, published.published_version
    )


async def on_cost_rate_changed(
    envelope: Envelope[CostRateChanged], ctx: HandlerContext[Any], services: Services
) -> None:
    """Keep the worker's new dated cost rate."""
    await ReferenceData(ctx.connection).save_cost_rate(envelope.payload.cost_rate)


async def on_consultant_onboarded(
    envelope: Envelope[ConsultantOnboarded], ctx: HandlerContext[Any], services: Services
) -> None:
    """Make the worker an ERP employee of its entity; release the entries waiting on it."""
    onboarded, db = envelope.payload, ctx.connection
    worker = onboarded.worker
    await ReferenceData(db).save_worker(worker)
    rates = [onboarded.cost_rate] if onboarded.cost_rate else []
    for rate in rates:
        await ReferenceData(db).save_cost_rate(rate)
    target = services.erps.target(worker.legal_entity_id, envelope.data_residency_region)
    company = await services.erps.company(db, target.instance, worker.legal_entity_id)
    if company is None:
        raise DependencyMissing(
            f"legal-entity-in-erp:{target.instance}:{worker.legal_entity_id}",
            f"legal entity {worker.legal_entity_id} has no company in {target.instance}",
        )
    written = await target.erp.upsert_employee(
        worker, rates, company=company, key=f"employee:{worker.id}"
    )
    await services.erps.xref.link(db, "worker", worker.id, written.ref)
    ctx.satisfy(worker_key(worker.id, target.instance))


async def on_period_closed(
    envelope: Envelope[PeriodClosed], ctx: HandlerContext[Any], services: Services
) -> None:
    """Record the closed period: later postings dated in it follow the late-time policy."""
    period = envelope.payload.period
    if period.status is PeriodStatus.OPEN:
        period = period.model_copy(update={"status": PeriodStatus.CLOSED})
    await ReferenceData(ctx.connection).save_period(period)
