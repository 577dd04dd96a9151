"""From staffing-sync's read model to the domain's ranking inputs, and from a ranking to what is
kept of it: pure mapping, tested without a database.

What the read model does not hold is not made up: skills are in no event staffing-sync
consumes, so a candidate's skills are **unknown** (a request naming required skills excludes
everyone with the reason ``skills unknown``); capacity is the configured minutes per working
day (the PSA resource staffing-sync writes has that capacity); calendars and time off are not
kept (weekdays, no holidays); only bookings announced confirmed (hard) take time, soft ones are
not kept. A project's country is its legal entity's, when configured (``entity_countries``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from staffing_sync.domain import (
    Candidate,
    Demand,
    ExclusionCode,
    Option,
    Ranking,
    StaffingPolicy,
)
from staffing_sync.domain._text import two_places
from staffing_sync.domain.staffable import BenchResource
from staffing_sync.service_layer.unit_of_work import CandidateQuery, CandidateRow, KnownProject
from tandem_contracts.entities import (
    RateCard,
    Resource,
    ResourceRequest,
    WorkerStatus,
)
from tandem_pricing import RateQuery, resolve_bill_rate

__all__ = [
    "UNKNOWN_COUNTRY",
    "candidate_of",
    "candidate_query",
    "demand_of",
    "excluded_record",
    "explain_unknown_skills",
    "option_record",
    "policy_of",
    "project_known_key",
]

UNKNOWN_COUNTRY = "unknown"
"""The project's country when its legal entity's is not configured: no worker matches it."""
WORKING_DAYS = 5
UTILIZATION_TARGET_PCT: int = Resource.model_fields["utilization_target_pct"].default
"""A resource's target when none is known: the canonical ``Resource``'s default."""


def project_known_key(project_id: str) -> str:
    """The dependency key released when the project is activated here."""
    return f"project-active:{project_id}"


def candidate_query(
    request: ResourceRequest,
    project: KnownProject,
    *,
    same_role_only: bool,
    allowed_entities_only: bool,
    intercompany_pairs: frozenset[tuple[str, str]],
) -> CandidateQuery:
    """The narrowing of ``request``'s candidates the settings ask for."""
    entities = None
    if allowed_entities_only:
        entity = project.project.legal_entity_id
        allowed = {employer for employer, to in intercompany_pairs if to == entity}
        entities = tuple(sorted({entity, *allowed}))
    role = request.role_id if same_role_only else None
    return CandidateQuery(request.start_date, request.end_date, role, entities)


def candidate_of(
    row: CandidateRow, capacity_minutes_per_day: int, region_of: Callable[[str], str]
) -> Candidate:
    """The row as a candidate: its resource at the configured capacity and the canonical
    default utilization target, bookable unless on leave (as staffing-sync writes it in the
    PSA), no skills known."""
    worker = row.worker
    resource = BenchResource(
        id=row.resource_id, primary_role_id=row.role_id,
        capacity_minutes_per_week=capacity_minutes_per_day * WORKING_DAYS,
        bookable=worker.status is not WorkerStatus.ON_LEAVE,
        utilization_target_pct=UTILIZATION_TARGET_PCT,
    )  # fmt: skip
    return Candidate(
        resource=resource, worker=worker, residency_region=region_of(worker.legal_entity_id),
        bookings=row.bookings, cost_rates=row.cost_rates,
    )  # fmt: skip


def demand_of(
    request: ResourceRequest,
    project: KnownProject,
    cards: Iterable[RateCard],
    entity_countries: Mapping[str, str],
) -> Demand:
    """The request with its project's entity, country and region, and the bill rate resolved
    from the kept cards for the role on the start date (none: the request's own rate)."""
    p = project.project
    query = RateQuery(
        project_id=p.id, account_id=p.customer_id, role_id=request.role_id,
        currency=p.currency, on=request.start_date, org_unit_ids=frozenset(p.org_unit_ids),
    )  # fmt: skip
    resolved = resolve_bill_rate(cards, query)
    return Demand(
        request=request, legal_entity_id=p.legal_entity_id,
        country=entity_countries.get(p.legal_entity_id, UNKNOWN_COUNTRY),
        residency_region=project.region, bill_rate=resolved.rate if resolved else None,
    )  # fmt: skip


def explain_unknown_skills(ranking: Ranking) -> Ranking:
    """Say that a required skill excluded a candidate because no skills are known, not
    because they lack it."""
    excluded = tuple(
        replace(e, reasons=tuple(
            (code, f"skills unknown: {text}") if code is ExclusionCode.SKILL_MISSING
            else (code, text)
            for code, text in e.reasons
        ))
        for e in ranking.excluded
    )  # fmt: skip
    return replace(ranking, excluded=excluded)


def policy_of(intercompany_pairs: frozenset[tuple[str, str]]) -> StaffingPolicy:
    """The ranking policy: the domain's defaults, the configured intercompany pairs."""
    return StaffingPolicy(intercompany_pairs=intercompany_pairs)


def option_record(option: Option) -> dict[str, Any]:
    """An option as kept and shown: score, breakdown, free minutes, rate, warnings, reasons."""
    rate = option.proposed_rate
    return {
        "rank": option.rank, "resource_id": option.resource_id,
        "worker_id": option.worker_id, "fit_score": option.fit_score,
        "available_minutes": option.available_minutes,
        "proposed_rate": rate.model_dump(mode="json") if rate else None,
        "breakdown": [
            {"factor": str(f.factor), "score": two_places(f.score), "weight": f.weight,
             "reason": f.reason}
            for f in option.factors
        ],
        "warnings": [str(w) for w in option.warnings],
        "reasons": list(option.reasons),
    }  # fmt: skip


def excluded_record(ranking: Ranking) -> list[dict[str, Any]]:
    """Each candidate left out, with every reason (code and sentence)."""
    return [
        {"resource_id": e.resource_id, "worker_id": e.worker_id,
         "reasons": [{"code": str(code), "reason": text} for code, text in e.reasons]}
        for e in ranking.excluded
    ]  # fmt: skip
