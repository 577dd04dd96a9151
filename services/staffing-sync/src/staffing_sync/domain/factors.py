"""How well one candidate fits one request, factor by factor, each scored 0 to 1 exactly.

Scores are ``Fraction``s so that ranking never depends on float rounding; each comes with the
sentence a resource manager would say about it. The numbers (role mismatch half marks, location
steps, an allowed intercompany pair at 4/5) are this module's documented judgement, kept here in
one place so that they can be argued with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import TypeVar

from staffing_sync.domain._text import pct
from staffing_sync.domain.staffable import StaffableCost, StaffableResource
from tandem_contracts import Money

__all__ = [
    "Factor",
    "FactorScore",
    "cost_rate_on",
    "cost_score",
    "intercompany_score",
    "location_score",
    "missing_skills",
    "skills_score",
    "utilization_score",
]

ROLE_MISMATCH = Fraction(1, 2)
"""A consultant outside the requested role still counts for half: people do work out of role,
but the rate card prices the role, not the person."""
SAME_REGION_OTHER_COUNTRY = Fraction(3, 4)
OTHER_REGION = Fraction(1, 2)
"""Allowed for ordinary work, but the engagement's data is then processed outside its residency
region (DOMAIN.md §4.7); confidential work excludes it instead."""
ALLOWED_INTERCOMPANY = Fraction(4, 5)
"""An allowed pair still costs a cross-charge at period close (DOMAIN.md §4.5): a same-entity
consultant is preferred, all else equal."""
C = TypeVar("C", bound=StaffableCost)
UNKNOWN = Fraction(1, 2)
"""Neither rewarded nor punished for what nobody knows (no cost or bill rate to compare)."""


class Factor(StrEnum):
    """What a candidate is scored on, in the order the breakdown lists them."""

    SKILLS = "skills"
    AVAILABILITY = "availability"
    COST = "cost"
    LOCATION = "location"
    UTILIZATION = "utilization"
    INTERCOMPANY = "intercompany"


@dataclass(frozen=True)
class FactorScore:
    """One factor's score (0 to 1), its weight in the total, and why."""

    factor: Factor
    score: Fraction
    weight: int
    reason: str


def _held_levels(resource: StaffableResource, on: date) -> dict[str, int]:
    """Skill levels the resource holds on ``on``: a lapsed certification is not held."""
    return {
        rating.skill_id: rating.level
        for rating in resource.skills
        if rating.certified_until is None or rating.certified_until >= on
    }


def missing_skills(
    resource: StaffableResource, required: Iterable[str], on: date
) -> tuple[str, ...]:
    """Required skills the resource does not hold at all on ``on``, sorted."""
    if not required:
        return ()
    held = _held_levels(resource, on)
    return tuple(sorted({skill for skill in required if skill not in held}))


def skills_score(
    resource: StaffableResource, role_id: str, levels: Mapping[str, int], on: date
) -> tuple[Fraction, str]:
    """The role and each required skill count equally; a skill below its level scores
    level/required (level 2 where 4 is asked: half). Missing skills are excluded upstream."""
    held = _held_levels(resource, on)
    role_part = Fraction(1) if resource.primary_role_id == role_id else ROLE_MISMATCH
    parts = [role_part]
    short: list[str] = []
    for skill, needed in sorted(levels.items()):
        level = held.get(skill, 0)
        parts.append(min(Fraction(1), Fraction(level, needed)))
        if level < needed:
            short.append(f"{skill} at {level} of {needed}")
    role_text = (
        "role matches" if role_part == 1 else f"role {resource.primary_role_id}, not {role_id}"
    )
    at_level = len(levels) - len(short)
    text = f"{role_text}; {at_level} of {len(levels)} required skills at level"
    if short:
        text += " (" + ", ".join(short) + ")"
    return sum(parts, Fraction(0)) / len(parts), text


def cost_rate_on(rates: Iterable[C], worker_id: str | None, role_id: str, on: date) -> C | None:
    """The cost rate in force on ``on``: the worker's own, else the role's; the latest start
    (the first listed of equal starts)."""
    own: C | None = None
    role: C | None = None
    for rate in rates:
        if rate.effective_from > on or (rate.effective_to is not None and on > rate.effective_to):
            continue
        if rate.worker_id is not None:
            later = own is None or rate.effective_from > own.effective_from
            if rate.worker_id == worker_id and later:
                own = rate
        elif rate.role_id == role_id and (
            role is None or rate.effective_from > role.effective_from
        ):
            role = rate
    return own or role


def cost_score(
    bill: Money | None,
    cost: Money | None,
    target_margin_pct: int,
    fx_to_bill: Mapping[str, Decimal],
) -> tuple[Fraction, str, bool]:
    """Margin of the bill rate over the cost rate against the target margin: at or above the
    target scores 1, at or below zero scores 0, linear between. Answers (score, reason,
    whether the cost is above the rate)."""
    if bill is None or bill.amount <= 0:
        return UNKNOWN, "no bill rate to compare the cost with", False
    if cost is None:
        return UNKNOWN, f"no cost rate on file; rate {bill}/h", False
    amount = cost.amount
    if cost.currency != bill.currency:
        factor = fx_to_bill.get(cost.currency)
        if factor is None:
            return UNKNOWN, f"cost in {cost.currency}, rate in {bill.currency}: not compared", False
        amount = cost.amount * factor
    margin = (Fraction(bill.amount) - Fraction(amount)) / Fraction(bill.amount)
    target = Fraction(target_margin_pct, 100)
    if target == 0:
        score = Fraction(1) if margin >= 0 else Fraction(0)
    else:
        score = _clamp(margin / target)
    text = f"cost {cost}/h, rate {bill}/h: margin {pct(margin)} (target {target_margin_pct}%)"
    return score, text, margin < 0


def location_score(
    work_country: str, residency_region: str, project_country: str, project_region: str
) -> tuple[Fraction, str]:
    """Same country 1; same residency region 3/4; another region 1/2."""
    if residency_region != project_region:
        return OTHER_REGION, f"residency {residency_region}, project data in {project_region}"
    if work_country != project_country:
        return SAME_REGION_OTHER_COUNTRY, f"works from {work_country}, project in {project_country}"
    return Fraction(1), f"works from {work_country}, as the project"


def utilization_score(utilization: Fraction, target_pct: int) -> tuple[Fraction, str]:
    """Headroom under the utilization target over the dates: 0% booked scores 1, at or over
    target scores 0. A 0% target (not meant to be billable) scores 0."""
    text = f"{pct(utilization)} billable over the dates against a {target_pct}% target"
    if target_pct == 0:
        return Fraction(0), text
    target = Fraction(target_pct, 100)
    return _clamp((target - utilization) / target), text


def intercompany_score(
    worker_entity: str, project_entity: str, allowed: frozenset[tuple[str, str]]
) -> tuple[Fraction, str, bool]:
    """Same legal entity 1; an allowed (employer, project entity) pair 4/5; a pair not allowed
    0 and a warning (DOMAIN.md §7.5). Answers (score, reason, whether not allowed)."""
    if worker_entity == project_entity:
        return Fraction(1), f"employed by {project_entity}, the project's entity", False
    pair = f"intercompany {worker_entity} → {project_entity}"
    if (worker_entity, project_entity) in allowed:
        return ALLOWED_INTERCOMPANY, f"{pair} allowed", False
    return Fraction(0), f"{pair} not allowed", True


def _clamp(value: Fraction | int) -> Fraction:
    return min(Fraction(1), max(Fraction(0), Fraction(value)))
