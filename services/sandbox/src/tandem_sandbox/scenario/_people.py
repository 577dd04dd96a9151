"""Workers (HRIS), their dated cost rates and their bookable resources (RM)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from tandem_contracts.entities import CostRate, EmploymentType, Resource, Worker, WorkerStatus
from tandem_sandbox.scenario._catalog import ENTITIES
from tandem_sandbox.scenario._compensation import cost_rates
from tandem_sandbox.scenario._context import Context, add_months
from tandem_sandbox.scenario._org import Org
from tandem_sandbox.scenario._resources import placeholders, resource_for

__all__ = ["People", "build_people"]

_PRACTICE_WEIGHTS = {"strategy": 15, "data": 28, "cloud": 22, "erp": 25, "security": 10}
_SOURCE_STATUS = {
    WorkerStatus.ACTIVE: "Active",
    WorkerStatus.TERMINATED: "Terminated",
    WorkerStatus.ON_LEAVE: "Leave of Absence",
    WorkerStatus.PRE_HIRE: "Pre-Hire",
}


@dataclass
class _Draft:
    id: str
    entity_id: str
    role_id: str
    practice: str
    number: str
    status: WorkerStatus = WorkerStatus.ACTIVE
    hire: date = date(2020, 1, 1)
    termination: date | None = None
    contractor: bool = False
    manager_id: str | None = None


@dataclass(frozen=True)
class People:
    """Workers, cost rates and resources, with the lookups staffing and time need."""

    workers: tuple[Worker, ...]
    cost_rates: tuple[CostRate, ...]
    resources: tuple[Resource, ...]
    role_of: dict[str, str]
    practice_of: dict[str, str]
    resource_of: dict[str, str]
    rates_of: dict[str, list[CostRate]]
    window: dict[str, tuple[date, date]] = field(default_factory=dict)
    """The days each worker can book time in the month (absent: none)."""


def build_people(ctx: Context, org: Org, consultants: int) -> People:
    """Build ``consultants`` workers across the legal entities, with cost rates and resources."""
    rng = ctx.rng("people")
    drafts = [
        draft
        for spec, count in zip(ENTITIES, _split(consultants), strict=True)
        for draft in _entity_drafts(ctx, org, rng, org.entity_ids[spec.key], count)
    ]
    for draft in drafts:
        _set_lifecycle(ctx, rng, draft)
    workers = tuple(_worker(org, draft) for draft in drafts)
    rates = tuple(rate for d in drafts for rate in _cost_rates(ctx, org, rng, d))
    resources = tuple(
        resource_for(ctx, org, rng, worker, d.role_id, d.practice)
        for worker, d in zip(workers, drafts, strict=True)
    )
    return People(
        workers=workers,
        cost_rates=rates,
        resources=(*resources, *placeholders(ctx, org, rng, len(drafts))),
        role_of={d.id: d.role_id for d in drafts},
        practice_of={d.id: d.practice for d in drafts},
        resource_of={r.worker_id: r.id for r in resources if r.worker_id is not None},
        rates_of={d.id: [r for r in rates if r.worker_id == d.id] for d in drafts},
        window={d.id: w for d in drafts if (w := _window(ctx, d)) is not None},
    )


def _split(total: int) -> list[int]:
    """Share ``total`` out by entity weight, at least two each (a head and one more)."""
    shares = [spec.share * total for spec in ENTITIES]
    counts = [max(2, int(share)) for share in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: int(shares[i]) - shares[i])
    for i in by_remainder[: max(0, total - sum(counts))]:
        counts[i] += 1
    while sum(counts) > total:  # the minimum of two overshot: take back from the largest
        counts[counts.index(max(counts))] -= 1
    return counts


def _entity_drafts(
    ctx: Context, org: Org, rng: random.Random, entity_id: str, count: int
) -> list[_Draft]:
    roles = list(org.role_specs)
    weights = [spec.weight for spec in org.role_specs.values()]
    approvers = [r for r in roles if org.role_specs[r].approver]
    prefix = org.spec(entity_id).key.upper()
    drafts = []
    for n in range(count):
        # The first worker heads the entity, so every timesheet has someone to approve it.
        role = approvers[-1] if n == 0 else rng.choices(roles, weights)[0]
        practice = rng.choices(list(_PRACTICE_WEIGHTS), list(_PRACTICE_WEIGHTS.values()))[0]
        drafts.append(_Draft(ctx.new_id(), entity_id, role, practice, f"{prefix}-{10001 + n}"))
    _set_managers(org, rng, drafts)
    return drafts


def _set_managers(org: Org, rng: random.Random, drafts: list[_Draft]) -> None:
    head, *rest = drafts
    leads = [d for d in rest if org.role_specs[d.role_id].approver]
    for draft in rest:
        peers = [lead for lead in leads if lead.practice == draft.practice]
        # Leads report to the head; others to a lead of their practice, else the head.
        draft.manager_id = head.id if draft in leads or not peers else rng.choice(peers).id


def _set_lifecycle(ctx: Context, rng: random.Random, draft: _Draft) -> None:
    draft.contractor = rng.random() < 0.06
    draft.hire = ctx.month - timedelta(days=rng.randint(60, 3650))
    roll = rng.random()
    if draft.manager_id is None:
        return
    # As of the month's end: a few joined during it, left during or before it, join next month.
    if roll < 0.03:
        draft.hire = rng.choice(ctx.weekdays[3:-5])
    elif roll < 0.05:
        draft.status = WorkerStatus.PRE_HIRE
        draft.hire = add_months(ctx.month, 1) + timedelta(days=rng.randint(0, 20))
    elif roll < 0.08:
        draft.status = WorkerStatus.TERMINATED
        draft.termination = rng.choice(ctx.weekdays[4:-3])
    elif roll < 0.09:
        draft.status = WorkerStatus.TERMINATED
        draft.termination = ctx.month - timedelta(days=rng.randint(5, 40))
    elif roll < 0.11:
        draft.status = WorkerStatus.ON_LEAVE


def _cost_rates(ctx: Context, org: Org, rng: random.Random, draft: _Draft) -> list[CostRate]:
    contract = (draft.hire, draft.termination, draft.contractor)
    return cost_rates(ctx, org, rng, draft.id, draft.role_id, draft.entity_id, contract)


def _window(ctx: Context, draft: _Draft) -> tuple[date, date] | None:
    if draft.status in (WorkerStatus.PRE_HIRE, WorkerStatus.ON_LEAVE):
        return None
    first = max(ctx.month, draft.hire)
    last = min(ctx.month_end, draft.termination or ctx.month_end)
    return (first, last) if first <= last else None


def _worker(org: Org, draft: _Draft) -> Worker:
    spec = org.spec(draft.entity_id)
    return Worker(
        id=draft.id,
        worker_number=draft.number,
        legal_entity_id=draft.entity_id,
        employment_type=EmploymentType.CONTRACTOR if draft.contractor else EmploymentType.EMPLOYEE,
        status=draft.status,
        hire_date=draft.hire,
        termination_date=draft.termination,
        manager_id=draft.manager_id,
        org_unit_id=org.practice_ids[draft.practice],
        work_country=spec.country,
        home_currency=spec.currency,
        source_status=_SOURCE_STATUS[draft.status],
    )
