"""Staffing options factor by factor, with figures a resource manager would check by hand.

The request throughout: a Senior Consultant with Python and dbt for 40 hours over the fortnight
of 2 to 13 March 2026, on a project of the German entity (residency ``eu``), at 150 EUR/h.
A free consultant there has 80 hours.
"""

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

import pytest

from staffing_sync.domain import (
    Booking,
    Candidate,
    Demand,
    ExclusionCode,
    Factor,
    Ranking,
    StaffingPolicy,
    StaffingWarning,
    TimeOff,
    Weights,
    options_proposed,
    rank_options,
)
from tandem_contracts import Money
from tandem_contracts.entities import (
    BookingType,
    CostRate,
    EmploymentType,
    Resource,
    ResourceRequest,
    ResourceRequestStatus,
    SkillRating,
    Worker,
    WorkerStatus,
)

START, END = date(2026, 3, 2), date(2026, 3, 13)
ROLE = "role-senior"
REQUEST = ResourceRequest(
    id="req-1",
    project_id="prj-1",
    role_id=ROLE,
    required_skill_ids=("python", "dbt"),
    minutes=40 * 60,
    start_date=START,
    end_date=END,
    status=ResourceRequestStatus.READY_TO_STAFF,
)
DEMAND = Demand(
    REQUEST,
    legal_entity_id="le-de",
    country="DE",
    residency_region="eu",
    bill_rate=Money.of("150.00", "EUR"),
)


def candidate(name: str = "a", **changes: object) -> Candidate:
    """A free, fully skilled, Berlin-based Senior Consultant of the German entity, at 60 EUR/h."""
    worker = Worker(
        id=f"wrk-{name}",
        worker_number=f"W-{name}",
        legal_entity_id="le-de",
        employment_type=EmploymentType.EMPLOYEE,
        status=WorkerStatus.ACTIVE,
        hire_date=date(2020, 1, 1),
        work_country="DE",
        home_currency="EUR",
    )
    resource = Resource(
        id=f"res-{name}",
        worker_id=worker.id,
        primary_role_id=ROLE,
        skills=(SkillRating(skill_id="python", level=4), SkillRating(skill_id="dbt", level=3)),
    )
    cost = CostRate(
        worker_id=worker.id, hourly_cost=Money.of("60.00", "EUR"), effective_from=date(2026, 1, 1)
    )
    base = Candidate(resource, worker, "eu", cost_rates=(cost,))
    worker_changes = {k[7:]: v for k, v in changes.items() if k.startswith("worker_")}
    resource_changes = {k[9:]: v for k, v in changes.items() if k.startswith("resource_")}
    rest = {k: v for k, v in changes.items() if not k.startswith(("worker_", "resource_"))}
    return base._replace(
        worker=worker.model_copy(update=worker_changes),
        resource=resource.model_copy(update=resource_changes),
        **rest,  # type: ignore[arg-type]
    )


def ranked(*candidates: Candidate, demand: Demand = DEMAND, **policy: object) -> Ranking:
    return rank_options(demand, candidates, StaffingPolicy(**policy))  # type: ignore[arg-type]


def only(ranking: Ranking, factor: Factor) -> Fraction:
    (option,) = ranking.options
    return option.score_of(factor)


def exclusion_codes(ranking: Ranking) -> list[set[ExclusionCode]]:
    return [{code for code, _ in e.reasons} for e in ranking.excluded]


def test_a_perfect_candidate_scores_100_with_every_factor_explained() -> None:
    (option,) = ranked(candidate()).options
    assert option.fit_score == 100
    assert [f.factor for f in option.factors] == list(Factor)
    assert option.available_minutes == 80 * 60
    assert option.reasons[0] == "ranked 1 of 1 with 100/100; strongest on skills"
    assert "availability 1.00 (weight 25): 80 h free of 40 h asked (200%)" not in option.reasons
    assert "availability 1.00 (weight 25): 80 h free of 40 h asked (100%)" in option.reasons


# Skills


def test_a_skill_below_the_level_asked_costs_in_proportion() -> None:
    # dbt at 3 where 4 is asked: (role 1 + python 1 + dbt 3/4) / 3.
    demand = replace(DEMAND, skill_levels={"python": 4, "dbt": 4})
    assert only(ranked(candidate(), demand=demand), Factor.SKILLS) == Fraction(11, 12)
    # A level above 5 cannot be held: refused rather than never matched.
    with pytest.raises(ValueError, match="level"):
        replace(DEMAND, skill_levels={"dbt": 6})


def test_another_role_counts_for_half_of_its_part() -> None:
    other_role = candidate(resource_primary_role_id="role-manager")
    # (role 1/2 + python 1 + dbt 1) / 3.
    assert only(ranked(other_role), Factor.SKILLS) == Fraction(5, 6)


def test_a_missing_required_skill_or_a_lapsed_certification_excludes() -> None:
    no_dbt = candidate("b", resource_skills=(SkillRating(skill_id="python", level=5),))
    lapsed = candidate(
        "c",
        resource_skills=(
            SkillRating(skill_id="python", level=5),
            SkillRating(skill_id="dbt", level=5, certified_until=date(2026, 2, 28)),
        ),
    )
    ranking = ranked(no_dbt, lapsed)
    assert ranking.options == ()
    assert exclusion_codes(ranking) == [{ExclusionCode.SKILL_MISSING}] * 2
    assert ranking.excluded[0].reasons[0][1] == "lacks dbt"


# Availability


def test_availability_is_the_share_of_the_requested_hours_free() -> None:
    # Booked 6 of 8 hours a day: 20 hours free of the 40 asked.
    busy = candidate(bookings=(Booking(START, END, BookingType.HARD, minutes_per_day=360),))
    (option,) = ranked(busy).options
    assert option.score_of(Factor.AVAILABILITY) == Fraction(1, 2)
    assert option.available_minutes == 20 * 60


def test_a_fully_booked_or_absent_consultant_is_not_an_option() -> None:
    booked = candidate("b", bookings=(Booking(START, END, BookingType.HARD, minutes_per_day=480),))
    on_leave = candidate("c", time_off=tuple(TimeOff(date(2026, 3, d), 480) for d in range(2, 14)))
    ranking = ranked(booked, on_leave)
    assert exclusion_codes(ranking) == [{ExclusionCode.NO_AVAILABILITY}] * 2


# Cost against the rate


@pytest.mark.parametrize(
    ("cost", "score"),
    [
        ("60.00", Fraction(1)),  # 60% margin, above the 40% target
        ("90.00", Fraction(1)),  # exactly 40%
        ("105.00", Fraction(3, 4)),  # 30% of a 40% target
        ("150.00", Fraction(0)),  # no margin at all
    ],
)
def test_cost_scores_the_margin_against_the_target(cost: str, score: Fraction) -> None:
    rate = CostRate(worker_id="wrk-a", hourly_cost=Money.of(cost, "EUR"), effective_from=START)
    assert only(ranked(candidate(cost_rates=(rate,))), Factor.COST) == score


def test_the_cost_rate_in_force_on_the_start_date_is_used() -> None:
    rates = (
        CostRate(
            worker_id="wrk-a",
            hourly_cost=Money.of("60.00", "EUR"),
            effective_from=date(2025, 1, 1),
            effective_to=date(2026, 3, 1),
        ),
        CostRate(worker_id="wrk-a", hourly_cost=Money.of("105.00", "EUR"), effective_from=START),
        CostRate(role_id=ROLE, hourly_cost=Money.of("10.00", "EUR"), effective_from=START),
    )
    assert only(ranked(candidate(cost_rates=rates)), Factor.COST) == Fraction(3, 4)


def test_a_cost_above_the_rate_is_a_warning() -> None:
    rate = CostRate(worker_id="wrk-a", hourly_cost=Money.of("160.00", "EUR"), effective_from=START)
    (option,) = ranked(candidate(cost_rates=(rate,))).options
    assert option.score_of(Factor.COST) == 0
    assert option.warnings == (StaffingWarning.COST_ABOVE_RATE,)


def test_a_cost_in_another_currency_is_converted_or_left_neutral() -> None:
    rate = CostRate(worker_id="wrk-a", hourly_cost=Money.of("75.00", "GBP"), effective_from=START)
    pounds = candidate(cost_rates=(rate,))
    assert only(ranked(pounds), Factor.COST) == Fraction(1, 2)
    # 75 GBP at 1.2 is 90 EUR: exactly the 40% target.
    converted = replace(DEMAND, fx_to_bill={"GBP": Decimal("1.2")})
    assert only(ranked(pounds, demand=converted), Factor.COST) == 1


def test_no_cost_rate_or_no_bill_rate_is_neutral() -> None:
    assert only(ranked(candidate(cost_rates=())), Factor.COST) == Fraction(1, 2)
    unpriced = replace(DEMAND, bill_rate=None)
    assert only(ranked(candidate(), demand=unpriced), Factor.COST) == Fraction(1, 2)


# Location and residency


def test_location_prefers_the_projects_country_then_its_region() -> None:
    paris = candidate(worker_work_country="FR")
    new_york = candidate(worker_work_country="US", residency_region="us")
    assert only(ranked(candidate()), Factor.LOCATION) == 1
    assert only(ranked(paris), Factor.LOCATION) == Fraction(3, 4)
    assert only(ranked(new_york), Factor.LOCATION) == Fraction(1, 2)


def test_confidential_work_excludes_a_consultant_resident_elsewhere() -> None:
    confidential = replace(DEMAND, confidential=True)
    ranking = ranked(candidate("a"), candidate("b", residency_region="us"), demand=confidential)
    assert [o.worker_id for o in ranking.options] == ["wrk-a"]
    assert exclusion_codes(ranking) == [{ExclusionCode.RESIDENCY}]


# Utilization target


def test_utilization_prefers_headroom_under_the_target() -> None:
    # 24 of 80 hours billable (30%) against a 75% target: 45 of 75 points of headroom.
    booked = Booking(START, END, BookingType.HARD, total_minutes=24 * 60)
    assert only(ranked(candidate(bookings=(booked,))), Factor.UTILIZATION) == Fraction(3, 5)
    # Internal work is not utilization.
    internal = booked._replace(billable=False)
    assert only(ranked(candidate(bookings=(internal,))), Factor.UTILIZATION) == 1
    # Already at 80%: no headroom left.
    over = Booking(START, END, BookingType.HARD, total_minutes=64 * 60)
    assert only(ranked(candidate(bookings=(over,))), Factor.UTILIZATION) == 0


# Intercompany


def test_intercompany_is_a_warning_and_a_penalty_unless_the_pair_is_allowed() -> None:
    london = candidate(worker_legal_entity_id="le-uk")
    (option,) = ranked(london).options
    assert option.score_of(Factor.INTERCOMPANY) == 0
    assert option.warnings == (StaffingWarning.INTERCOMPANY_NOT_ALLOWED,)
    allowed = ranked(london, intercompany_pairs=frozenset({("le-uk", "le-de")}))
    assert only(allowed, Factor.INTERCOMPANY) == Fraction(4, 5)
    assert allowed.options[0].warnings == ()
    # Pairs are directional: the German entity lending to the UK does not allow this.
    reverse = ranked(london, intercompany_pairs=frozenset({("le-de", "le-uk")}))
    assert only(reverse, Factor.INTERCOMPANY) == 0


# Who is not a candidate at all


def test_placeholders_unbookable_and_people_not_employed_are_excluded() -> None:
    placeholder = candidate("a")._replace(worker=None)
    unbookable = candidate("b", resource_bookable=False)
    left = candidate("c", worker_termination_date=date(2026, 2, 27))
    not_yet = candidate(
        "d", worker_hire_date=date(2026, 3, 16), worker_status=WorkerStatus.PRE_HIRE
    )
    ranking = ranked(placeholder, unbookable, left, not_yet)
    assert ranking.options == ()
    assert {e.resource_id: {c for c, _ in e.reasons} for e in ranking.excluded} == {
        "res-a": {ExclusionCode.PLACEHOLDER},
        "res-b": {ExclusionCode.NOT_BOOKABLE},
        "res-c": {ExclusionCode.NOT_EMPLOYED},
        "res-d": {ExclusionCode.NOT_EMPLOYED},
    }


def test_a_hire_starting_mid_request_offers_the_days_from_the_hire_date() -> None:
    starter = candidate(worker_hire_date=date(2026, 3, 9), worker_status=WorkerStatus.PRE_HIRE)
    (option,) = ranked(starter).options
    assert option.available_minutes == 40 * 60


def test_every_reason_is_given_at_once() -> None:
    everything = candidate(resource_bookable=False, resource_skills=(), residency_region="us")
    ranking = ranked(everything, demand=replace(DEMAND, confidential=True))
    assert exclusion_codes(ranking) == [
        {ExclusionCode.NOT_BOOKABLE, ExclusionCode.SKILL_MISSING, ExclusionCode.RESIDENCY}
    ]


# Ranking, weights and the event


def test_the_ranking_explains_what_the_option_above_has_over_each() -> None:
    busy = candidate("a", bookings=(Booking(START, END, BookingType.HARD, minutes_per_day=360),))
    free = candidate("b")
    first, second = ranked(busy, free).options
    assert (first.worker_id, second.worker_id) == ("wrk-b", "wrk-a")
    assert second.standing[1] == "below rank 1 on availability, utilization"


def test_equal_candidates_rank_by_worker_id() -> None:
    ranking = ranked(candidate("c"), candidate("a"), candidate("b"))
    assert [o.worker_id for o in ranking.options] == ["wrk-a", "wrk-b", "wrk-c"]
    assert ranking.options[1].standing[1] == "below rank 1 on the tie-break only"


def test_weights_decide_between_a_cheap_consultant_and_a_free_one() -> None:
    cheap_busy = candidate(
        "a", bookings=(Booking(START, END, BookingType.HARD, minutes_per_day=360),)
    )
    costly = CostRate(
        worker_id="wrk-b", hourly_cost=Money.of("135.00", "EUR"), effective_from=START
    )
    dear_free = candidate("b", cost_rates=(costly,))
    by_default = ranked(cheap_busy, dear_free)
    assert [o.worker_id for o in by_default.options] == ["wrk-b", "wrk-a"]
    cost_first = Weights(skills=10, availability=5, cost=70, location=5, utilization=5)
    by_cost = ranked(cheap_busy, dear_free, weights=cost_first)
    assert [o.worker_id for o in by_cost.options] == ["wrk-a", "wrk-b"]


def test_a_proposal_carries_the_best_options_only() -> None:
    ranking = ranked(*(candidate(str(n)) for n in range(5)), max_options=3)
    assert [o.rank for o in ranking.options] == [1, 2, 3]
    assert ranking.options[0].standing[0].startswith("ranked 1 of 5")


def test_the_ranking_maps_onto_the_canonical_event() -> None:
    london = candidate("b", worker_legal_entity_id="le-uk")
    at = datetime(2026, 2, 20, 9, 0, tzinfo=UTC)
    event = options_proposed(ranked(candidate("a"), london), at)
    assert event.request_id == "req-1"
    assert [(o.worker_id, o.fit_score) for o in event.options] == [("wrk-a", 100), ("wrk-b", 90)]
    assert event.options[1].reasons[0] == "warning: intercompany_not_allowed"
    assert event.options[0].proposed_rate == Money.of("150.00", "EUR")
    assert any(
        r.startswith("cost 1.00 (weight 15): cost 60.00 EUR/h") for r in event.options[0].reasons
    )
    assert type(event).model_validate_json(event.model_dump_json()) == event


def test_nonsense_weights_and_duplicate_candidates_are_refused() -> None:
    with pytest.raises(ValueError, match="weights"):
        Weights(skills=0, availability=0, cost=0, location=0, utilization=0, intercompany=0)
    with pytest.raises(ValueError, match="weights"):
        Weights(cost=-1)
    with pytest.raises(ValueError, match="once"):
        ranked(candidate("a"), candidate("a"))
