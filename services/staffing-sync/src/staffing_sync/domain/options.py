"""Rank candidates for a resource request: scored, explained, reproducible (issue 15).

A candidate is **excluded**, with every reason at once, when they cannot be staffed at all: a
placeholder or unbookable resource, a worker not employed during the dates, a required skill not
held (decided: a missing skill excludes rather than penalises, because a resource manager cannot
staff a Java request with someone who has no Java however free they are; a skill held *below*
the level asked is a penalty instead), a worker resident outside the project's region on
confidential work (DOMAIN.md §4.7), or no free minute over the dates. The cheap checks run
first, availability only for the remaining, so a large bench stays fast.

Everyone else is an **option**, scored per factor (``factors``) and weighted (``policy``). The
order is total score, then the factor scores compared in their listed order (so that a candidate
at least as good on every factor and better on one always ranks first, even where a weight of 0
makes their totals equal), then worker and resource id: the same inputs give the same ranking
in any input order.

A bench of thousands is ranked without a rational sum per candidate: each factor's score (and
its sentence) is worked out once per distinct input (a bench has few distinct cost rates,
locations, entities and roles), each candidate's total is first summed in floating point, and
only the candidates whose float total is within ``_FLOAT_SLACK`` of the last option's are
ordered exactly. A float total is off by far less than the slack, so every candidate that can
rank among the options is ordered exactly, and the options are the ones exact ranking of the
whole bench gives (``test_staffing_ranking_properties`` checks it against a plain sort).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from functools import cache
from typing import NamedTuple

from staffing_sync.domain._text import hours, pct, two_places
from staffing_sync.domain.availability import (
    Availability,
    Booking,
    TimeOff,
    WorkCalendar,
    availability_of,
)
from staffing_sync.domain.factors import (
    Factor,
    FactorScore,
    cost_rate_on,
    cost_score,
    intercompany_score,
    location_score,
    missing_skills,
    skills_score,
    utilization_score,
)
from staffing_sync.domain.policy import StaffingPolicy
from staffing_sync.domain.staffable import StaffableCost, StaffableResource, StaffableWorker
from tandem_contracts import Money
from tandem_contracts.entities import ResourceRequest, WorkerStatus

__all__ = [
    "Candidate",
    "Demand",
    "Exclusion",
    "ExclusionCode",
    "Option",
    "Ranking",
    "StaffingWarning",
    "rank_options",
]


@dataclass(frozen=True)
class Demand:
    """A request with what ranking it needs that the request does not carry: the project's
    legal entity, country and residency region, whether the work is confidential, the bill rate
    resolved at the start date (None: the request's ``proposed_rate``), the minimum level per
    required skill (default 1) and conversion factors into the bill currency at the start date.
    """

    request: ResourceRequest
    legal_entity_id: str
    country: str
    residency_region: str
    confidential: bool = False
    bill_rate: Money | None = None
    skill_levels: Mapping[str, int] = field(default_factory=dict)
    fx_to_bill: Mapping[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if any(not 1 <= level <= 5 for level in self.skill_levels.values()):
            raise ValueError("a skill level asked is 1 (aware) to 5 (expert)")

    @property
    def rate(self) -> Money | None:
        """The bill rate the options are costed against."""
        return self.bill_rate or self.request.proposed_rate

    @property
    def levels(self) -> dict[str, int]:
        """Every required skill with its minimum level."""
        return {s: self.skill_levels.get(s, 1) for s in self.request.required_skill_ids}


class Candidate(NamedTuple):
    """A resource, its worker (None: a placeholder), the residency region of the worker's
    employer, and what takes their time. ``calendar`` None: the resource's weekly capacity over
    five days; either way the worker's hire and last day bound it. A named tuple: built for
    every worker on the bench per request."""

    resource: StaffableResource
    worker: StaffableWorker | None
    residency_region: str
    calendar: WorkCalendar | None = None
    time_off: tuple[TimeOff, ...] = ()
    bookings: tuple[Booking, ...] = ()
    cost_rates: tuple[StaffableCost, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        """The stable tie-break: worker id, then resource id."""
        return (self.worker.id if self.worker else "", self.resource.id)


_Order = tuple[Fraction, tuple[Fraction, ...], tuple[str, str]]
_Scored = tuple[_Order, "Candidate", Availability, list[FactorScore], list["StaffingWarning"]]
_Rough = tuple[float, list[FactorScore], list["StaffingWarning"], "Candidate", Availability]
_FLOAT_SLACK = 1e-9
"""How far below the last option's float total a candidate is still ordered exactly: factor
scores lie in 0..1 and weights are whole numbers, so a float total is off by ~1e-15."""


class ExclusionCode(StrEnum):
    """Why a candidate is not an option."""

    PLACEHOLDER = "placeholder"
    NOT_BOOKABLE = "not_bookable"
    NOT_EMPLOYED = "not_employed"
    SKILL_MISSING = "skill_missing"
    RESIDENCY = "residency"
    NO_AVAILABILITY = "no_availability"


class StaffingWarning(StrEnum):
    """What a resource manager should know before confirming an option."""

    INTERCOMPANY_NOT_ALLOWED = "intercompany_not_allowed"
    COST_ABOVE_RATE = "cost_above_rate"


@dataclass(frozen=True)
class Exclusion:
    """A candidate left out, and every reason why."""

    resource_id: str
    worker_id: str | None
    reasons: tuple[tuple[ExclusionCode, str], ...]


@dataclass(frozen=True)
class Option:
    """A ranked candidate: total (0 to 1), the breakdown, free minutes, warnings, and
    ``standing``: why it ranks where it does (its headline, what the option above has over it).
    """

    rank: int
    resource_id: str
    worker_id: str | None
    total: Fraction
    factors: tuple[FactorScore, ...]
    available_minutes: int
    proposed_rate: Money | None
    warnings: tuple[StaffingWarning, ...]
    standing: tuple[str, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        """Every sentence: the standing, then each factor's with its score and weight."""
        factors = (
            f"{f.factor} {two_places(f.score)} (weight {f.weight}): {f.reason}"
            for f in self.factors
        )
        return (*self.standing, *factors)

    @property
    def fit_score(self) -> int:
        """The total as a whole number out of 100, rounded half up."""
        return math.floor(self.total * 100 + Fraction(1, 2))

    def score_of(self, factor: Factor) -> Fraction:
        """This option's score on ``factor``."""
        return next(f.score for f in self.factors if f.factor is factor)


@dataclass(frozen=True)
class Ranking:
    """The options for a request, best first, and who was left out."""

    request_id: str
    options: tuple[Option, ...]
    excluded: tuple[Exclusion, ...]


def rank_options(
    demand: Demand, candidates: Iterable[Candidate], policy: StaffingPolicy | None = None
) -> Ranking:
    """Rank ``candidates`` for ``demand`` (the same inputs, in any order, rank the same)."""
    policy = policy or StaffingPolicy()
    ordered = sorted(candidates, key=lambda c: c.key)
    if len({c.resource.id for c in ordered}) != len(ordered):
        raise ValueError("each resource is a candidate once")
    scorer = _Scorer(demand, policy)
    rough: list[_Rough] = []
    excluded: list[Exclusion] = []
    for candidate in ordered:
        worker, reasons = candidate.worker, _cheap_exclusions(demand, candidate)
        availability = None if reasons else _availability(demand, candidate, policy)
        if availability is not None and availability.available_minutes == 0:
            reasons = [(ExclusionCode.NO_AVAILABILITY, "no free minute over the dates")]
        if reasons or availability is None or worker is None:
            worker_id = worker.id if worker else None
            excluded.append(Exclusion(candidate.resource.id, worker_id, tuple(reasons)))
            continue
        rough.append((*scorer.score(candidate, worker, availability), candidate, availability))
    scored: list[_Scored] = []
    exact: dict[tuple[int, ...], tuple[Fraction, tuple[Fraction, ...]]] = {}
    for _, factors, warnings, candidate, availability in _contenders(rough, policy.max_options):
        # Factor scores are the scorer's shared objects: equal scores, one exact sum.
        same = tuple(map(id, factors))
        if same not in exact:
            exact[same] = (-_total(factors, policy), tuple(-f.score for f in factors))
        scored.append(((*exact[same], candidate.key), candidate, availability, factors, warnings))
    scored.sort(key=lambda entry: entry[0])
    options: list[Option] = []
    for rank, entry in enumerate(scored[: policy.max_options], start=1):
        above = options[-1] if options else None
        options.append(_option(rank, len(rough), entry, above, demand, policy))
    return Ranking(demand.request.id, tuple(options), tuple(excluded))


def _contenders(rough: list[_Rough], size: int) -> list[_Rough]:
    """The candidates whose float total is within the slack of the ``size``-th best: all that
    can rank among the first ``size`` once ordered exactly."""
    if len(rough) <= size:
        return rough
    last = sorted((entry[0] for entry in rough), reverse=True)[size - 1]
    return [entry for entry in rough if entry[0] >= last - _FLOAT_SLACK]


def _option(
    rank: int,
    of: int,
    entry: _Scored,
    above: Option | None,
    demand: Demand,
    policy: StaffingPolicy,
) -> Option:
    """The option at ``rank``, standing explained against the option just above it."""
    _, candidate, availability, factors, warnings = entry
    standing = [_headline(rank, of, factors, policy)]
    if above is not None:
        standing.append(_versus(above, factors))
    return Option(
        rank,
        candidate.resource.id,
        candidate.worker.id if candidate.worker else None,
        _total(factors, policy),
        tuple(factors),
        availability.available_minutes,
        demand.rate,
        tuple(warnings),
        tuple(standing),
    )


def _cheap_exclusions(demand: Demand, candidate: Candidate) -> list[tuple[ExclusionCode, str]]:
    request, worker, resource = demand.request, candidate.worker, candidate.resource
    if worker is None:
        return [(ExclusionCode.PLACEHOLDER, "a placeholder is the demand, not a candidate")]
    reasons = []
    if not resource.bookable:
        reasons.append((ExclusionCode.NOT_BOOKABLE, "resource is not bookable"))
    last_day = worker.termination_date
    if (
        worker.status is WorkerStatus.TERMINATED
        or (last_day is not None and last_day < request.start_date)
        or worker.hire_date > request.end_date
    ):
        span = f"{request.start_date} to {request.end_date}"
        reasons.append((ExclusionCode.NOT_EMPLOYED, f"not employed from {span}"))
    missing = missing_skills(resource, request.required_skill_ids, request.start_date)
    if missing:
        reasons.append((ExclusionCode.SKILL_MISSING, "lacks " + ", ".join(missing)))
    if demand.confidential and candidate.residency_region != demand.residency_region:
        where = f"stays in {demand.residency_region}; resident in {candidate.residency_region}"
        reasons.append((ExclusionCode.RESIDENCY, f"confidential work {where}"))
    return reasons


def _availability(demand: Demand, candidate: Candidate, policy: StaffingPolicy) -> Availability:
    worker, resource = candidate.worker, candidate.resource
    calendar = candidate.calendar or _weekly(resource.capacity_minutes_per_week)
    request = demand.request
    return availability_of(
        calendar,
        request.start_date,
        request.end_date,
        time_off=candidate.time_off,
        bookings=candidate.bookings,
        soft_booking_pct=policy.soft_booking_pct,
        employed_from=worker.hire_date if worker else None,
        employed_to=worker.termination_date if worker else None,
    )


@cache
def _weekly(minutes_per_week: int) -> WorkCalendar:
    return WorkCalendar.weekly(minutes_per_week)


_Memo = tuple[FactorScore, float, bool]
"""A factor's score with its sentence, its weighted score as a float, and whether it warns."""


class _Scorer:
    """Each factor of one demand, scored once per distinct input (see the module's note): one
    table per factor, looked up first and computed only on a miss."""

    def __init__(self, demand: Demand, policy: StaffingPolicy) -> None:
        self.demand, self.policy = demand, policy
        self.levels = sorted(demand.levels.items())
        self.skills: dict[tuple[str, tuple[int, ...]], _Memo] = {}
        self.free: dict[int, _Memo] = {}
        self.costs: dict[object, _Memo] = {}
        self.places: dict[tuple[str, str], _Memo] = {}
        self.busy: dict[tuple[int, int, int], _Memo] = {}
        self.pairs: dict[str, _Memo] = {}

    def score(
        self, candidate: Candidate, worker: StaffableWorker, availability: Availability
    ) -> tuple[float, list[FactorScore], list[StaffingWarning]]:
        """The candidate's float total, its factors in the breakdown's order, its warnings."""
        resource = candidate.resource
        skills_key = (resource.primary_role_id, self._held(resource) if self.levels else ())
        skills = self.skills.get(skills_key) or self._skills(skills_key, resource)
        free = self.free.get(availability.available_minutes) or self._free(availability)
        cost = cost_rate_on(candidate.cost_rates, worker.id, resource.primary_role_id,
                            self.demand.request.start_date)  # fmt: skip
        hourly = cost.hourly_cost if cost else None
        cost_key = (hourly.amount, hourly.currency) if hourly else None
        money = self.costs.get(cost_key) or self._cost(cost_key, hourly)
        place_key = (worker.work_country, candidate.residency_region)
        place = self.places.get(place_key) or self._place(place_key)
        busy_key = (availability.billable_centi, availability.net_capacity,
                    resource.utilization_target_pct)  # fmt: skip
        busy = self.busy.get(busy_key) or self._busy(busy_key, availability)
        pair = self.pairs.get(worker.legal_entity_id) or self._pair(worker.legal_entity_id)
        warnings = []
        if money[2]:
            warnings.append(StaffingWarning.COST_ABOVE_RATE)
        if pair[2]:
            warnings.append(StaffingWarning.INTERCOMPANY_NOT_ALLOWED)
        total = skills[1] + free[1] + money[1] + place[1] + busy[1] + pair[1]
        return total, [skills[0], free[0], money[0], place[0], busy[0], pair[0]], warnings

    def _held(self, resource: StaffableResource) -> tuple[int, ...]:
        on = self.demand.request.start_date
        ratings = {
            r.skill_id: r.level
            for r in resource.skills
            if r.certified_until is None or r.certified_until >= on
        }
        return tuple(ratings.get(skill, 0) for skill, _ in self.levels)

    def _kept(self, factor: Factor, score: Fraction, text: str, warns: bool = False) -> _Memo:
        weight = self.policy.weights.of(factor)
        return FactorScore(factor, score, weight, text), float(score) * weight, warns

    def _skills(self, key: tuple[str, tuple[int, ...]], resource: StaffableResource) -> _Memo:
        request = self.demand.request
        score, text = skills_score(resource, request.role_id, self.demand.levels,
                                   request.start_date)  # fmt: skip
        self.skills[key] = found = self._kept(Factor.SKILLS, score, text)
        return found

    def _free(self, availability: Availability) -> _Memo:
        asked, free = self.demand.request.minutes, availability.available_minutes
        coverage = availability.coverage(asked)
        text = f"{hours(free)} free of {hours(asked)} asked ({pct(coverage)})"
        self.free[free] = found = self._kept(Factor.AVAILABILITY, coverage, text)
        return found

    def _cost(self, key: object, hourly: Money | None) -> _Memo:
        demand = self.demand
        score, text, above = cost_score(
            demand.rate, hourly, self.policy.target_margin_pct, demand.fx_to_bill
        )
        self.costs[key] = found = self._kept(Factor.COST, score, text, above)
        return found

    def _place(self, key: tuple[str, str]) -> _Memo:
        country, region = key
        score, text = location_score(
            country, region, self.demand.country, self.demand.residency_region
        )
        self.places[key] = found = self._kept(Factor.LOCATION, score, text)
        return found

    def _busy(self, key: tuple[int, int, int], availability: Availability) -> _Memo:
        score, text = utilization_score(availability.utilization, key[2])
        self.busy[key] = found = self._kept(Factor.UTILIZATION, score, text)
        return found

    def _pair(self, entity: str) -> _Memo:
        score, text, refused = intercompany_score(
            entity, self.demand.legal_entity_id, self.policy.intercompany_pairs
        )
        self.pairs[entity] = found = self._kept(Factor.INTERCOMPANY, score, text, refused)
        return found


def _total(factors: Iterable[FactorScore], policy: StaffingPolicy) -> Fraction:
    return sum((f.score * f.weight for f in factors), Fraction(0)) / policy.weights.total


def _headline(rank: int, of: int, factors: list[FactorScore], policy: StaffingPolicy) -> str:
    best = max(factors, key=lambda f: (f.score * f.weight, -list(Factor).index(f.factor)))
    points = _total(factors, policy) * 100
    return f"ranked {rank} of {of} with {_points(points)}/100; strongest on {best.factor}"


def _versus(above: Option, factors: list[FactorScore]) -> str:
    """Where the option ranked just above gains its points over this one."""
    gaps = [
        (mine.weight * (theirs.score - mine.score), mine.factor)
        for theirs, mine in zip(above.factors, factors, strict=True)
        if theirs.score > mine.score and mine.weight
    ]
    if not gaps:
        return f"below rank {above.rank} on the tie-break only"
    gaps.sort(key=lambda gap: -gap[0])
    return f"below rank {above.rank} on " + ", ".join(str(factor) for _, factor in gaps)


def _points(points: Fraction) -> str:
    return str(math.floor(points + Fraction(1, 2)))
