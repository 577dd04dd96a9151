"""Whatever the bench looks like: no one outranks a candidate who is at least as good on every
factor and better on one, the order of the input never matters, scores stay in bounds, no one
excluded is offered, and more free time never lowers a score."""

import itertools
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from staffing_sync.domain import (
    Booking,
    Candidate,
    Demand,
    Factor,
    Ranking,
    StaffingPolicy,
    TimeOff,
    Weights,
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

START = date(2026, 3, 2)
SKILLS = ("python", "dbt", "sql")
ENTITIES = {"le-de": ("DE", "eu"), "le-fr": ("FR", "eu"), "le-us": ("US", "us")}
PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

days = st.integers(min_value=0, max_value=20).map(lambda n: START + timedelta(days=n))


@st.composite
def bookings(draw: st.DrawFn) -> Booking:
    first, last = sorted((draw(days), draw(days)))
    per_day = draw(st.none() | st.integers(0, 600))
    return Booking(
        first,
        last,
        draw(st.sampled_from(BookingType)),
        per_day,
        draw(st.integers(0, 4800)),
        draw(st.booleans()),
    )


@st.composite
def candidates(draw: st.DrawFn, n: int) -> Candidate:
    entity = draw(st.sampled_from(sorted(ENTITIES)))
    country, region = ENTITIES[entity]
    hired = START + timedelta(days=draw(st.integers(-400, 25)))
    worker = Worker(
        id=f"wrk-{n:03}",
        worker_number=f"W{n:03}",
        legal_entity_id=entity,
        employment_type=EmploymentType.EMPLOYEE,
        status=draw(st.sampled_from([WorkerStatus.ACTIVE] * 4 + [WorkerStatus.TERMINATED])),
        hire_date=hired,
        termination_date=draw(st.none() | st.just(hired + timedelta(days=30))),
        work_country=draw(st.sampled_from([country, "FR", "US"])),
        home_currency="EUR",
    )
    held = draw(st.lists(st.sampled_from(SKILLS), unique=True))
    ratings = tuple(
        SkillRating(
            skill_id=skill,
            level=draw(st.integers(1, 5)),
            certified_until=draw(st.none() | days),
        )
        for skill in held
    )
    resource = Resource(
        id=f"res-{n:03}",
        worker_id=worker.id,
        primary_role_id=draw(st.sampled_from(["role-senior", "role-manager"])),
        skills=ratings,
        capacity_minutes_per_week=draw(st.sampled_from([1200, 2400, 3000])),
        utilization_target_pct=draw(st.integers(0, 100)),
        bookable=draw(st.sampled_from([True, True, True, False])),
    )
    costs = tuple(
        CostRate(
            worker_id=worker.id,
            hourly_cost=Money.of(draw(st.integers(20, 200)), draw(st.sampled_from(["EUR", "GBP"]))),
            effective_from=draw(days),
        )
        for _ in range(draw(st.integers(0, 2)))
    )
    return Candidate(
        resource,
        worker,
        draw(st.sampled_from([region, region, "us", "eu"])),
        time_off=tuple(
            TimeOff(draw(days), draw(st.integers(0, 600))) for _ in range(draw(st.integers(0, 3)))
        ),
        bookings=tuple(draw(st.lists(bookings(), max_size=3))),
        cost_rates=costs,
    )


@st.composite
def benches(draw: st.DrawFn) -> tuple[Demand, list[Candidate], StaffingPolicy]:
    required = tuple(draw(st.lists(st.sampled_from(SKILLS), unique=True, max_size=2)))
    request = ResourceRequest(
        id="req-1",
        project_id="prj-1",
        role_id="role-senior",
        required_skill_ids=required,
        minutes=draw(st.integers(0, 9600)),
        start_date=START,
        end_date=START + timedelta(days=draw(st.integers(0, 20))),
        status=ResourceRequestStatus.READY_TO_STAFF,
    )
    entity = draw(st.sampled_from(sorted(ENTITIES)))
    country, region = ENTITIES[entity]
    demand = Demand(
        request,
        entity,
        country,
        region,
        confidential=draw(st.booleans()),
        bill_rate=draw(st.none() | st.integers(50, 250).map(lambda a: Money.of(a, "EUR"))),
        skill_levels={s: draw(st.integers(1, 5)) for s in required},
        fx_to_bill=draw(st.sampled_from([{}, {"GBP": Decimal("1.17")}])),
    )
    six = st.lists(st.integers(0, 40), min_size=6, max_size=6).filter(lambda ws: sum(ws) > 0)
    weights = draw(six.map(lambda ws: Weights(*ws)) | st.just(Weights()))
    pairs = draw(st.frozensets(st.tuples(*[st.sampled_from(sorted(ENTITIES))] * 2)))
    policy = StaffingPolicy(
        weights,
        draw(st.integers(0, 100)),
        draw(st.integers(0, 100)),
        pairs,
        max_options=1000,
    )
    size = draw(st.integers(1, 8))
    return demand, [draw(candidates(n)) for n in range(size)], policy


def factor_vector(ranking: Ranking) -> dict[str, tuple[object, ...]]:
    return {o.resource_id: tuple(f.score for f in o.factors) for o in ranking.options}


@PROPERTIES
@given(bench=benches())
def test_no_candidate_outranks_one_at_least_as_good_everywhere_and_better_somewhere(
    bench: tuple[Demand, list[Candidate], StaffingPolicy],
) -> None:
    ranking = rank_options(*bench)
    for above, below in itertools.combinations(ranking.options, 2):
        pairs = list(zip(below.factors, above.factors, strict=True))
        dominates = all(b.score >= a.score for b, a in pairs) and any(
            b.score > a.score for b, a in pairs
        )
        assert not dominates, f"{below.resource_id} dominates {above.resource_id}"


@PROPERTIES
@given(bench=benches(), data=st.data())
def test_the_order_of_the_input_never_changes_the_ranking(
    bench: tuple[Demand, list[Candidate], StaffingPolicy], data: st.DataObject
) -> None:
    demand, pool, policy = bench
    shuffled = data.draw(st.permutations(pool))
    assert rank_options(demand, shuffled, policy) == rank_options(demand, pool, policy)


@PROPERTIES
@given(bench=benches())
def test_scores_stay_in_bounds_and_ranks_follow_the_totals(
    bench: tuple[Demand, list[Candidate], StaffingPolicy],
) -> None:
    ranking = rank_options(*bench)
    assert [o.rank for o in ranking.options] == list(range(1, len(ranking.options) + 1))
    totals = [o.total for o in ranking.options]
    assert totals == sorted(totals, reverse=True)
    for option in ranking.options:
        assert 0 <= option.total <= 1
        assert 0 <= option.fit_score <= 100
        assert all(0 <= f.score <= 1 for f in option.factors)
        assert [f.factor for f in option.factors] == list(Factor)
        assert option.available_minutes > 0
        assert all(len(reason) <= 500 for reason in option.reasons)


@PROPERTIES
@given(bench=benches())
def test_everyone_is_either_offered_or_excluded_with_a_reason_and_no_excluded_is_offered(
    bench: tuple[Demand, list[Candidate], StaffingPolicy],
) -> None:
    demand, pool, _ = bench
    ranking = rank_options(*bench)
    offered = {o.resource_id for o in ranking.options}
    excluded = {e.resource_id for e in ranking.excluded}
    assert offered.isdisjoint(excluded)
    assert offered | excluded == {c.resource.id for c in pool}
    assert all(e.reasons for e in ranking.excluded)
    by_id = {c.resource.id: c for c in pool}
    for resource_id in offered:
        chosen = by_id[resource_id]
        assert chosen.worker is not None
        assert chosen.resource.bookable
        assert chosen.worker.status is not WorkerStatus.TERMINATED
        held = {r.skill_id for r in chosen.resource.skills if _held(r, demand)}
        assert set(demand.request.required_skill_ids) <= held
        assert not demand.confidential or chosen.residency_region == demand.residency_region


def _held(rating: SkillRating, demand: Demand) -> bool:
    lapse = rating.certified_until
    return lapse is None or lapse >= demand.request.start_date


@PROPERTIES
@given(bench=benches(), data=st.data())
def test_more_free_time_never_lowers_a_candidates_score(
    bench: tuple[Demand, list[Candidate], StaffingPolicy], data: st.DataObject
) -> None:
    demand, pool, policy = bench
    chosen = data.draw(st.sampled_from(pool))
    freer = chosen._replace(
        bookings=tuple(
            data.draw(st.sets(st.sampled_from(chosen.bookings))) if chosen.bookings else ()
        ),
        time_off=tuple(
            data.draw(st.sets(st.sampled_from(chosen.time_off))) if chosen.time_off else ()
        ),
    )
    before = {o.resource_id: o.total for o in rank_options(demand, [chosen], policy).options}
    after = {o.resource_id: o.total for o in rank_options(demand, [freer], policy).options}
    for resource_id, total in before.items():
        assert resource_id in after
        assert after[resource_id] >= total


@PROPERTIES
@given(bench=benches())
def test_a_candidate_ranks_the_same_alone_or_among_others(
    bench: tuple[Demand, list[Candidate], StaffingPolicy],
) -> None:
    demand, pool, policy = bench
    together = {o.resource_id: o.factors for o in rank_options(demand, pool, policy).options}
    for one in pool:
        alone = rank_options(demand, [one], policy).options
        assert {o.resource_id: o.factors for o in alone}.items() <= together.items()


@PROPERTIES
@given(bench=benches(), data=st.data())
def test_the_first_options_are_those_ranking_everyone_exactly_gives(
    bench: tuple[Demand, list[Candidate], StaffingPolicy], data: st.DataObject
) -> None:
    # With room for everyone, every candidate is ordered exactly; with room for a few, only
    # those whose float total comes near the last option's are (options.py): the same options.
    demand, bench_candidates, policy = bench
    everyone = rank_options(demand, bench_candidates, policy)
    few = data.draw(st.integers(1, max(1, len(everyone.options))))
    first = rank_options(demand, bench_candidates, replace(policy, max_options=few))

    assert first.options == everyone.options[:few]
    assert first.excluded == everyone.excluded
