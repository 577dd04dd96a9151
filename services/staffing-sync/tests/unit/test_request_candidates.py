"""Requests and options (slice 5): the read model's rows as the domain's candidates and demand,
the narrowing asked of the query, and what is kept of a ranking (pure, no database)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from staffing_sync.domain import ExclusionCode, Factor, booking_of, rank_options
from staffing_sync.service_layer.candidates import (
    UNKNOWN_COUNTRY,
    candidate_of,
    candidate_query,
    demand_of,
    excluded_record,
    explain_unknown_skills,
    option_record,
    policy_of,
)
from staffing_sync.service_layer.unit_of_work import CandidateRow, KnownProject
from tandem_contracts import Money
from tandem_contracts.entities import (
    Assignment,
    AssignmentStatus,
    BillingModel,
    BookingType,
    CostRate,
    EmploymentType,
    Project,
    ProjectStatus,
    RateCard,
    RateCardScope,
    RateCardStatus,
    RateCardVersion,
    ResourceRequest,
    ResourceRequestStatus,
    RoleRate,
    Worker,
    WorkerStatus,
)

ROLE = "consultant"
START, END = date(2026, 3, 2), date(2026, 3, 13)  # two working weeks
REGIONS = {"le-de": "eu", "le-us": "us"}


def worker(worker_id: str, entity: str = "le-de", **more: object) -> Worker:
    values: dict[str, object] = {
        "id": worker_id, "worker_number": f"W-{worker_id}", "legal_entity_id": entity,
        "employment_type": EmploymentType.EMPLOYEE, "status": WorkerStatus.ACTIVE,
        "hire_date": date(2025, 1, 6), "work_country": "DE", "home_currency": "EUR",
    }  # fmt: skip
    return Worker.model_validate(values | more)


def booked(worker_id: str, minutes_per_day: int, status: AssignmentStatus) -> Assignment:
    return Assignment(
        id=f"a-{worker_id}", project_id="p-other", resource_id=f"psa-r-{worker_id}",
        worker_id=worker_id, role_id=ROLE, start_date=START, end_date=END,
        minutes_per_day=minutes_per_day, total_minutes=minutes_per_day * 10,
        booking_type=BookingType.HARD, status=status,
    )  # fmt: skip


def cost(worker_id: str, amount: str) -> CostRate:
    return CostRate(
        worker_id=worker_id, hourly_cost=Money.of(amount, "EUR"), effective_from=date(2025, 1, 6)
    )


def row(worker_id: str, *, entity: str = "le-de", **more: object) -> CandidateRow:
    return CandidateRow(
        worker(worker_id, entity, **more), ROLE, f"psa-r-{worker_id}", (cost(worker_id, "60"),)
    )


def request(*skills: str, rate: str | None = None) -> ResourceRequest:
    return ResourceRequest(
        id="rq-1", project_id="p-1", role_id=ROLE, required_skill_ids=skills, minutes=4800,
        start_date=START, end_date=END, status=ResourceRequestStatus.READY_TO_STAFF,
        proposed_rate=Money.of(rate, "EUR") if rate else None,
    )  # fmt: skip


def project() -> KnownProject:
    p = Project(
        id="p-1", name="Rollout", customer_id="c-1", legal_entity_id="le-de", currency="EUR",
        billing_model=BillingModel.TIME_AND_MATERIALS, status=ProjectStatus.ACTIVE,
    )  # fmt: skip
    return KnownProject(p, "eu", 1)


def card(rate: str, effective_from: date = date(2026, 1, 1)) -> RateCard:
    version = RateCardVersion(
        version=1, effective_from=effective_from,
        role_rates=(RoleRate(role_id=ROLE, bill_rate=Money.of(rate, "EUR")),),
    )  # fmt: skip
    return RateCard(
        id="card-p1", name="p1", currency="EUR", scope=RateCardScope(project_id="p-1"),
        versions=(version,), status=RateCardStatus.PUBLISHED,
    )  # fmt: skip


def test_a_row_is_a_candidate_at_the_configured_capacity_with_its_bookings() -> None:
    # Only live assignments are read (the read model's query filters them: see
    # tests/integration/test_candidates_read_model.py).
    confirmed = booking_of(booked("w-1", 240, AssignmentStatus.CONFIRMED))
    assert confirmed is not None
    candidate = candidate_of(
        CandidateRow(worker("w-1"), ROLE, "psa-r-w-1", (cost("w-1", "60"),), (confirmed,)),
        capacity_minutes_per_day=420, region_of=REGIONS.__getitem__,
    )  # fmt: skip

    assert candidate.resource.id == "psa-r-w-1"
    assert candidate.resource.capacity_minutes_per_week == 2100
    assert candidate.resource.skills == ()  # skills are not known: none made up
    assert candidate.residency_region == "eu"
    assert candidate.bookings == (confirmed,)
    assert candidate.cost_rates == (cost("w-1", "60"),)


def test_a_worker_on_leave_is_not_bookable() -> None:
    candidate = candidate_of(row("w-1", status=WorkerStatus.ON_LEAVE), 480, REGIONS.__getitem__)

    assert candidate.resource.bookable is False


def test_the_bill_rate_is_resolved_from_the_kept_cards_on_the_start_date() -> None:
    demand = demand_of(request(rate="90"), project(), [card("150")], {"le-de": "DE"})

    assert demand.rate == Money.of("150", "EUR")
    assert (demand.legal_entity_id, demand.country, demand.residency_region) == (
        "le-de", "DE", "eu",
    )  # fmt: skip


def test_without_a_card_in_force_the_request_s_own_rate_stands() -> None:
    later = card("150", effective_from=date(2026, 6, 1))

    demand = demand_of(request(rate="90"), project(), [later], {})

    assert demand.rate == Money.of("90", "EUR")
    assert demand.country == UNKNOWN_COUNTRY


def test_the_query_narrows_by_role_and_allowed_entities_only_when_asked() -> None:
    pairs = frozenset({("le-us", "le-de"), ("le-de", "le-fr")})

    wide = candidate_query(request(), project(), same_role_only=False,
                           allowed_entities_only=False, intercompany_pairs=pairs)  # fmt: skip
    narrow = candidate_query(request(), project(), same_role_only=True,
                             allowed_entities_only=True, intercompany_pairs=pairs)  # fmt: skip

    assert (wide.role_id, wide.entities) == (None, None)
    assert (wide.start_date, wide.end_date) == (START, END)
    assert (narrow.role_id, narrow.entities) == (ROLE, ("le-de", "le-us"))


def test_built_candidates_rank_the_freer_worker_first_and_explain_it() -> None:
    half = booking_of(booked("w-busy", 240, AssignmentStatus.CONFIRMED))
    assert half is not None
    busy = CandidateRow(worker("w-busy"), ROLE, "psa-r-w-busy", (cost("w-busy", "60"),), (half,))
    rows = [busy, row("w-free")]
    demand = demand_of(request(), project(), [card("150")], {"le-de": "DE"})

    ranking = rank_options(
        demand, [candidate_of(r, 480, REGIONS.__getitem__) for r in rows], policy_of(frozenset())
    )

    assert [o.worker_id for o in ranking.options] == ["w-free", "w-busy"]
    assert ranking.options[0].score_of(Factor.AVAILABILITY) == 1
    kept = option_record(ranking.options[1])
    assert kept["available_minutes"] == 2400
    assert kept["proposed_rate"] == {"amount": "150.00", "currency": "EUR"}
    assert [f["factor"] for f in kept["breakdown"]] == [str(f) for f in Factor]
    assert kept["reasons"][0].startswith("ranked 2 of 2")
    assert any("below rank 1 on availability" in r for r in kept["reasons"])


def test_a_required_skill_excludes_everyone_as_skills_unknown() -> None:
    demand = demand_of(request("python"), project(), [], {})

    ranking = explain_unknown_skills(
        rank_options(demand, [candidate_of(row("w-1"), 480, REGIONS.__getitem__)])
    )

    assert ranking.options == ()
    [excluded] = excluded_record(ranking)
    assert excluded["worker_id"] == "w-1"
    assert excluded["reasons"] == [
        {"code": ExclusionCode.SKILL_MISSING.value, "reason": "skills unknown: lacks python"}
    ]


def test_an_intercompany_worker_is_an_option_warned_unless_the_pair_is_allowed() -> None:
    demand = demand_of(request(), project(), [card("150")], {"le-de": "DE"})
    candidate = candidate_of(row("w-us", entity="le-us"), 480, REGIONS.__getitem__)

    refused = rank_options(demand, [candidate], policy_of(frozenset()))
    allowed = rank_options(demand, [candidate], policy_of(frozenset({("le-us", "le-de")})))

    assert option_record(refused.options[0])["warnings"] == ["intercompany_not_allowed"]
    assert option_record(allowed.options[0])["warnings"] == []


def test_the_same_rows_in_any_order_keep_the_same_proposal() -> None:
    rows = [row(f"w-{n}", hire_date=date(2026, 3, 2 + n)) for n in range(5)]
    demand = demand_of(request(), project(), [card("150")], {"le-de": "DE"})

    def kept(order: list[CandidateRow]) -> list[dict[str, Any]]:
        ranking = rank_options(demand, [candidate_of(r, 480, REGIONS.__getitem__) for r in order])
        return [option_record(o) for o in ranking.options]

    assert kept(rows) == kept(list(reversed(rows)))
    assert [o["worker_id"] for o in kept(rows)] == [f"w-{n}" for n in range(5)]
    assert Decimal(str(kept(rows)[0]["breakdown"][1]["score"])) == 1
