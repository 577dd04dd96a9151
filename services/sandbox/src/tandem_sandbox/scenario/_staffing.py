"""Assignments: who works on what, including cross-entity (intercompany) staffing."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from tandem_contracts.entities import (
    Assignment,
    AssignmentApproval,
    AssignmentStatus,
    BookingType,
    Project,
    ProjectStatus,
    Resource,
)
from tandem_sandbox.scenario._compensation import effective
from tandem_sandbox.scenario._context import Context
from tandem_sandbox.scenario._people import People
from tandem_sandbox.scenario._portfolio import Portfolio
from tandem_sandbox.scenario._ratecards import RateBook

__all__ = ["Staffing", "build_staffing"]

_DELIVERING = (ProjectStatus.ACTIVE, ProjectStatus.COMPLETED)


@dataclass(frozen=True)
class Staffing:
    """Assignments plus, per worker, the ones that can carry time in the month."""

    assignments: tuple[Assignment, ...]
    of_worker: dict[str, list[Assignment]]


def build_staffing(ctx: Context, people: People, portfolio: Portfolio, book: RateBook) -> Staffing:
    """Staff every available worker on 1-3 delivering projects, and each of those at least once."""
    rng = ctx.rng("staffing")
    live = [p for p in portfolio.projects if p.status in _DELIVERING and _overlap(ctx, p)]
    picks: dict[str, list[Project]] = {w: [] for w in people.window}
    for project in live:
        manager = project.project_manager_id
        if manager in picks and _fits(people, manager, project):
            picks[manager].append(project)
    entity_of = {w.id: w.legal_entity_id for w in people.workers}
    for worker_id, chosen in picks.items():
        want = rng.choices((1, 2, 3), (35, 45, 20))[0]
        while len(chosen) < want and (pool := _pool(people, worker_id, live, chosen)):
            weights = [
                (12 if p.legal_entity_id == entity_of[worker_id] else 1)
                * (3 if portfolio.practice_of[p.id] == people.practice_of[worker_id] else 1)
                for p in pool
            ]
            chosen.append(rng.choices(pool, weights)[0])
    _cover_unstaffed(rng, people, live, picks, entity_of)
    assignments = [
        _assignment(ctx, rng, people, portfolio, book, w, p, len(chosen))
        for w, chosen in picks.items()
        for p in chosen
    ]
    assignments += _proposals(ctx, people, portfolio)
    of_worker: dict[str, list[Assignment]] = {}
    for a in assignments:
        if a.worker_id is not None:
            of_worker.setdefault(a.worker_id, []).append(a)
    return Staffing(tuple(assignments), of_worker)


def _pool(
    people: People, worker_id: str, live: list[Project], chosen: list[Project]
) -> list[Project]:
    taken = {p.id for p in chosen}
    return [p for p in live if p.id not in taken and _fits(people, worker_id, p)]


def _overlap(ctx: Context, project: Project) -> bool:
    start, end = project.start_date or ctx.month, project.end_date or ctx.month_end
    return start <= ctx.month_end and end >= ctx.month


def _fits(people: People, worker_id: str, project: Project) -> bool:
    first, last = people.window[worker_id]
    return (project.start_date or first) <= last and (project.end_date or last) >= first


def _cover_unstaffed(
    rng: random.Random,
    people: People,
    live: list[Project],
    picks: dict[str, list[Project]],
    entity_of: dict[str, str],
) -> None:
    staffed = {p.id for chosen in picks.values() for p in chosen}
    for project in live:
        if project.id in staffed:  # ids, not models: model equality compares every field
            continue
        fits = [w for w in picks if _fits(people, w, project) and len(picks[w]) < 3]
        local = [w for w in fits if entity_of[w] == project.legal_entity_id] or fits
        if local:
            picks[rng.choice(local)].append(project)


def _assignment(
    ctx: Context,
    rng: random.Random,
    people: People,
    portfolio: Portfolio,
    book: RateBook,
    worker_id: str,
    project: Project,
    load: int,
) -> Assignment:
    first, last = people.window[worker_id]
    start = max(
        project.start_date or first,
        first if first > ctx.month else first - timedelta(days=rng.randint(0, 90)),
    )
    end = min(
        project.end_date or last,
        last if last < ctx.month_end else last + timedelta(days=rng.randint(30, 180)),
    )
    role = people.role_of[worker_id]
    card, level = portfolio.card_of[project.id]
    bill, source = book.rate(card, level, role, start)
    cost = effective(people.rates_of[worker_id], start)
    per_day = 480 // load // 15 * 15
    return Assignment(
        id=ctx.new_id(),
        project_id=project.id,
        resource_id=people.resource_of[worker_id],
        worker_id=worker_id,
        role_id=role,
        start_date=start,
        end_date=end,
        total_minutes=per_day * _weekdays(start, end),
        minutes_per_day=per_day,
        booking_type=BookingType.HARD if rng.random() < 0.92 else BookingType.SOFT,
        bill_rate=bill,
        rate_source=source,
        cost_rate=cost.hourly_cost if cost else None,
        billable=project.flags.billable,
        status=_status(ctx, start, end),
    )


def _proposals(ctx: Context, people: People, portfolio: Portfolio) -> list[Assignment]:
    """Soft-book placeholder resources against the demand of planned projects."""
    holders: dict[str, Resource] = {
        r.primary_role_id: r for r in people.resources if r.worker_id is None
    }
    proposals = []
    for request in portfolio.resource_requests:
        holder = holders.get(request.role_id)
        if holder is None or request.project_id is None:
            continue
        proposals.append(
            Assignment(
                id=ctx.new_id(),
                project_id=request.project_id,
                resource_id=holder.id,
                role_id=request.role_id,
                start_date=request.start_date,
                end_date=request.end_date,
                total_minutes=request.minutes,
                booking_type=BookingType.SOFT,
                approval_status=AssignmentApproval.PENDING,
                bill_rate=request.proposed_rate,
                status=AssignmentStatus.PROPOSED,
            )
        )
    return proposals


def _status(ctx: Context, start: date, end: date) -> AssignmentStatus:
    if start > ctx.month_end:
        return AssignmentStatus.CONFIRMED
    return AssignmentStatus.COMPLETED if end < ctx.month_end else AssignmentStatus.ACTIVE


def _weekdays(start: date, end: date) -> int:
    days = (end - start).days + 1
    full, rest = divmod(days, 7)
    return full * 5 + sum((start + timedelta(days=full * 7 + n)).weekday() < 5 for n in range(rest))
