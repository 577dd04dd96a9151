"""Each project's phases, tasks and billing milestones."""

from __future__ import annotations

import random
from datetime import date, timedelta

from tandem_contracts import Money
from tandem_contracts.entities import (
    BillingModel,
    Milestone,
    MilestoneStatus,
    MilestoneTrigger,
    Project,
    WorkItem,
    WorkItemStatus,
    WorkItemType,
)
from tandem_sandbox.scenario._catalog import NON_BILLABLE_TASK, PHASES, TASKS
from tandem_sandbox.scenario._context import Context

__all__ = ["plan_work"]


def plan_work(
    ctx: Context, rng: random.Random, project: Project, service_item: str
) -> tuple[list[WorkItem], list[Milestone]]:
    """Return a project's phases with their tasks, and milestones if it bills by them."""
    start, end = project.start_date or ctx.month, project.end_date or ctx.month_end
    names = PHASES[: rng.randint(2, 4)]
    span = (end - start) / len(names)
    items: list[WorkItem] = []
    for n, name in enumerate(names):
        first, last = start + span * n, start + span * (n + 1) - timedelta(days=1)
        phase = WorkItem(
            id=ctx.new_id(),
            project_id=project.id,
            type=WorkItemType.PHASE,
            name=name,
            start_date=first,
            due_date=max(first, last),
            status=_status(ctx, first, last),
        )
        items.append(phase)
        items += _tasks(ctx, rng, phase, service_item)
    milestones = (
        _milestones(ctx, rng, project, items)
        if project.billing_model in (BillingModel.MILESTONE, BillingModel.FIXED_FEE)
        else []
    )
    return items, milestones


def _tasks(ctx: Context, rng: random.Random, phase: WorkItem, service_item: str) -> list[WorkItem]:
    names = rng.sample(TASKS, rng.randint(2, 4))
    if rng.random() < 0.15:
        names.append(NON_BILLABLE_TASK)
    return [
        WorkItem(
            id=ctx.new_id(),
            project_id=phase.project_id,
            parent_id=phase.id,
            type=WorkItemType.TASK,
            name=name,
            planned_minutes=rng.randint(5, 60) * 480,
            start_date=phase.start_date,
            due_date=phase.due_date,
            billable=name != NON_BILLABLE_TASK,
            service_item_ref=service_item,
            status=phase.status,
        )
        for name in names
    ]


def _status(ctx: Context, first: date, last: date) -> WorkItemStatus:
    if last < ctx.month:
        return WorkItemStatus.COMPLETED
    return WorkItemStatus.STARTED if first <= ctx.month_end else WorkItemStatus.NOT_STARTED


def _milestones(
    ctx: Context, rng: random.Random, project: Project, items: list[WorkItem]
) -> list[Milestone]:
    phases = [item for item in items if item.type is WorkItemType.PHASE]
    value = project.budget.amount or Money.of(0, project.currency)
    share = (
        value.times(1)
        if not phases
        else Money(amount=value.amount / len(phases), currency=value.currency)
    )
    trigger = (
        MilestoneTrigger.ON_APPROVAL
        if project.billing_model is BillingModel.MILESTONE
        else MilestoneTrigger.ON_DATE
    )
    result = []
    for phase in phases:
        done = phase.status is WorkItemStatus.COMPLETED
        result.append(
            Milestone(
                id=ctx.new_id(),
                project_id=project.id,
                work_item_id=phase.id,
                name=f"{phase.name} sign-off",
                amount=share,
                billing_trigger=trigger,
                planned_date=phase.due_date,
                actual_date=phase.due_date if done else None,
                status=MilestoneStatus.BILLED if done else MilestoneStatus.OPEN,
            )
        )
    return result
