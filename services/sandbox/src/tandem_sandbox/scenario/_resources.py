"""Bookable resources: one per worker with rated skills, plus unnamed placeholders."""

from __future__ import annotations

import random
from datetime import timedelta

from tandem_contracts.entities import Resource, SkillRating, Worker, WorkerStatus
from tandem_sandbox.scenario._context import Context
from tandem_sandbox.scenario._org import Org

__all__ = ["placeholders", "resource_for"]

# Seniority by role name drives skill levels and how much of the week is meant to be billable.
_SENIORITY = {
    "Analyst": 1, "Consultant": 2, "Senior Consultant": 3, "Manager": 3, "Senior Manager": 4,
    "Director": 4, "Partner": 5, "Solution Architect": 4, "Data Scientist": 3,
    "Cloud Engineer": 3, "Project Manager": 3,
}  # fmt: skip
_UTILIZATION = {1: 85, 2: 85, 3: 80, 4: 65, 5: 35}
_WEEK_MINUTES = {"GB": 2250, "DE": 2400, "US": 2400, "IN": 2700, "SG": 2640}


def resource_for(
    ctx: Context, org: Org, rng: random.Random, worker: Worker, role_id: str, practice: str
) -> Resource:
    """Return the worker's resource: role, 3-6 skill ratings, capacity and utilization target."""
    seniority = _SENIORITY[org.role_specs[role_id].name]
    week = _WEEK_MINUTES.get(worker.work_country, 2400)
    if rng.random() < 0.05:
        week = week * 3 // 5  # part-time
    return Resource(
        id=ctx.new_id(),
        worker_id=worker.id,
        primary_role_id=role_id,
        skills=_ratings(ctx, org, rng, practice, seniority),
        capacity_minutes_per_week=week,
        utilization_target_pct=_UTILIZATION[seniority],
        bookable=worker.status not in (WorkerStatus.TERMINATED, WorkerStatus.ON_LEAVE),
    )


def placeholders(ctx: Context, org: Org, rng: random.Random, workers: int) -> list[Resource]:
    """Return unnamed resources (no worker) that demand is planned against before staffing."""
    roles = sorted(org.role_specs, key=lambda role: org.role_specs[role].weight, reverse=True)
    return [
        Resource(id=ctx.new_id(), primary_role_id=roles[n % 5], utilization_target_pct=0)
        for n in range(max(3, workers // 30))
    ]


def _ratings(
    ctx: Context, org: Org, rng: random.Random, practice: str, seniority: int
) -> tuple[SkillRating, ...]:
    own = [s for s, p in org.skill_practice.items() if p == practice]
    other = [s for s, p in org.skill_practice.items() if p != practice]
    picked = rng.sample(own, min(len(own), rng.randint(2, 4))) + rng.sample(
        other, rng.randint(1, 2)
    )
    return tuple(
        SkillRating(
            skill_id=skill,
            level=max(1, min(5, seniority + rng.randint(-1, 1) + (skill in own))),
            certified_until=(
                ctx.month + timedelta(days=rng.randint(60, 900))
                if skill in org.certifications
                else None
            ),
        )
        for skill in picked
    )
