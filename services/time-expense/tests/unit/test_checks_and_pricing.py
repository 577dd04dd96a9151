"""Approved entries wait for what will come, are refused for what will not, and are priced once."""

from datetime import date
from decimal import Decimal

import pytest

from tandem_contracts import Money
from tandem_contracts.entities import (
    Assignment,
    AssignmentStatus,
    BillingModel,
    BookingType,
    CostRate,
    FxRate,
    FxRateType,
    Project,
    ProjectFlags,
    ProjectStatus,
    RateCard,
    RateCardScope,
    RateCardStatus,
    RateCardVersion,
    RateSource,
    RoleRate,
    TimeEntry,
    TimeEntryStatus,
)
from tandem_contracts.events import PostingFailureReason
from time_expense.domain.checks import (
    IntercompanyPolicy,
    check_assignment,
    check_intercompany,
    check_project_open,
    check_project_open_for_time,
    check_worker_mapped,
)
from time_expense.domain.errors import DependencyPending, PostingRefused
from time_expense.domain.fx import FxTable
from time_expense.domain.pricing import price_entry

WORK_DATE = date(2026, 10, 14)


def entry(**changes: object) -> TimeEntry:
    base = TimeEntry(
        id="te-1",
        worker_id="w-uk",
        worker_legal_entity_id="le-uk",
        project_id="p-1",
        project_legal_entity_id="le-uk",
        role_id="senior",
        work_date=WORK_DATE,
        duration_minutes=450,
        billable=True,
        status=TimeEntryStatus.APPROVED,
    )
    return base.model_copy(update=changes)


def project(status: ProjectStatus = ProjectStatus.ACTIVE, **flags: bool) -> Project:
    return Project(
        id="p-1",
        name="Data platform",
        customer_id="c-1",
        legal_entity_id="le-uk",
        currency="GBP",
        billing_model=BillingModel.TIME_AND_MATERIALS,
        flags=ProjectFlags(time_entry_open=True, **flags),
        status=status,
    )


def assignment(
    status: AssignmentStatus = AssignmentStatus.CONFIRMED, **changes: object
) -> Assignment:
    base = Assignment(
        id="a-1",
        project_id="p-1",
        resource_id="r-1",
        worker_id="w-uk",
        role_id="senior",
        start_date=date(2026, 10, 1),
        end_date=date(2026, 10, 31),
        total_minutes=9600,
        booking_type=BookingType.HARD,
        status=status,
    )
    return base.model_copy(update=changes)


@pytest.mark.parametrize(
    "found", [None, project(ProjectStatus.SHELL), project(ProjectStatus.PLANNED)]
)
def test_time_on_a_project_not_yet_active_waits_for_its_activation(found: Project | None) -> None:
    with pytest.raises(DependencyPending) as caught:
        check_project_open_for_time(entry(), found)
    assert caught.value.key == "project-open:p-1"
    assert caught.value.reason is PostingFailureReason.PROJECT_UNKNOWN


@pytest.mark.parametrize(
    "found",
    [
        project(ProjectStatus.CLOSED),
        project(ProjectStatus.ON_HOLD),
        project(ProjectStatus.ACTIVE).model_copy(update={"flags": ProjectFlags()}),
    ],
    ids=["closed", "on-hold", "closed-for-time"],
)
def test_time_on_a_project_closed_for_time_is_refused_for_finance(found: Project) -> None:
    with pytest.raises(PostingRefused) as caught:
        check_project_open_for_time(entry(), found)
    assert not isinstance(caught.value, DependencyPending)
    assert caught.value.reason is PostingFailureReason.PROJECT_NOT_OPEN


def test_an_assignment_is_needed_only_when_the_project_says_so() -> None:
    assert check_assignment(entry(), project(), []) is None
    strict = project(time_requires_assignment=True)
    assert check_assignment(entry(), strict, [assignment()]) == assignment()
    # No live assignment of the worker on the project yet: the entry waits for one.
    not_yet = [
        assignment(AssignmentStatus.CANCELLED),
        assignment(worker_id="w-other"),
        assignment(AssignmentStatus.PROPOSED),
    ]
    with pytest.raises(DependencyPending) as waiting:
        check_assignment(entry(), strict, not_yet)
    assert waiting.value.reason is PostingFailureReason.ASSIGNMENT_MISSING
    assert waiting.value.key == "assignment:p-1:w-uk"
    # Assigned, but not on that day: refused, since no further assignment is on its way.
    with pytest.raises(PostingRefused) as refused:
        check_assignment(entry(), strict, [assignment(end_date=date(2026, 10, 13))])
    assert not isinstance(refused.value, DependencyPending)
    assert refused.value.reason is PostingFailureReason.ASSIGNMENT_MISSING


def test_an_unmapped_worker_waits_for_its_mapping_in_that_instance() -> None:
    assert check_worker_mapped("w-uk", "17", "eu") == "17"
    with pytest.raises(DependencyPending) as caught:
        check_worker_mapped("w-uk", None, "eu")
    assert caught.value.key == "worker-mapped:eu:w-uk"


def test_intercompany_time_passes_only_for_allowed_pairs() -> None:
    across = entry(worker_legal_entity_id="le-in")
    assert check_intercompany(entry(), IntercompanyPolicy()) is False
    assert check_intercompany(across, IntercompanyPolicy(frozenset({("le-in", "le-uk")}))) is True
    with pytest.raises(PostingRefused) as caught:
        check_intercompany(across, IntercompanyPolicy())
    assert caught.value.reason is PostingFailureReason.INTERCOMPANY_NOT_ALLOWED


CARD = RateCard(
    id="rc-1",
    name="UK standard",
    currency="GBP",
    scope=RateCardScope(),
    versions=(
        RateCardVersion(
            version=4,
            effective_from=date(2026, 1, 1),
            role_rates=(RoleRate(role_id="senior", bill_rate=Money.of("180", "GBP")),),
        ),
    ),
    status=RateCardStatus.PUBLISHED,
)
COSTS = [
    CostRate(
        worker_id="w-uk", hourly_cost=Money.of("5000", "INR"), effective_from=date(2026, 1, 1)
    ),
    CostRate(
        worker_id="w-uk", hourly_cost=Money.of("5500", "INR"), effective_from=date(2026, 10, 15)
    ),
    CostRate(worker_id="w-x", hourly_cost=Money.of("1", "INR"), effective_from=date(2026, 1, 1)),
]
FX = FxTable.of(
    [
        FxRate(
            id="fx-1",
            base="GBP",
            quote="INR",
            rate=Decimal("100"),
            rate_type=FxRateType.SPOT,
            effective_date=date(2026, 10, 1),
            source="ecb",
        )
    ]
)


def test_pricing_freezes_the_rate_with_its_source_and_converts_cost_at_the_work_date() -> None:
    priced = price_entry(entry(), project(), [CARD], COSTS, FX)
    assert priced.entry.bill_rate == Money.of("180", "GBP")
    assert priced.entry.rate_source == RateSource(
        rate_card_id="rc-1", rate_card_version=4, scope_level="tenant", role_id="senior"
    )
    assert priced.bill_amount == Money.of("1350.00", "GBP")  # 7.5 h x 180
    assert priced.entry.cost_rate == Money.of("50.00", "GBP")  # 5000 INR, the rate before the 15th
    assert priced.cost_amount == Money.of("375.00", "GBP")
    assert priced.entry.fx is not None
    assert priced.entry.fx.rate_id == "fx-1"


def test_a_rate_frozen_at_approval_is_never_re_rated_by_a_newer_card() -> None:
    frozen = entry(
        bill_rate=Money.of("150", "GBP"),
        rate_source=RateSource(rate_card_id="rc-0", rate_card_version=1, scope_level="project"),
    )
    priced = price_entry(frozen, project(), [CARD], COSTS, FX)
    assert priced.entry.bill_rate == Money.of("150", "GBP")
    assert priced.bill_amount == Money.of("1125.00", "GBP")


def test_non_billable_time_has_cost_but_no_bill_amount() -> None:
    priced = price_entry(entry(billable=False), project(), [], COSTS, FX)
    assert priced.bill_amount is None
    assert priced.cost_amount == Money.of("375.00", "GBP")


@pytest.mark.parametrize(
    ("subject", "cards"),
    [(entry(role_id=None), [CARD]), (entry(), [])],
    ids=["no-role", "no-card"],
)
def test_an_unpriceable_billable_entry_is_refused_as_rate_unresolved(
    subject: TimeEntry, cards: list[RateCard]
) -> None:
    with pytest.raises(PostingRefused) as caught:
        price_entry(subject, project(), cards, COSTS, FX)
    assert caught.value.reason is PostingFailureReason.RATE_UNRESOLVED


def test_expenses_need_the_project_open_for_expenses_not_for_time() -> None:
    for_time_only = project()
    with pytest.raises(PostingRefused) as caught:
        check_project_open("p-1", for_time_only, expenses=True)
    assert "closed for expenses" in caught.value.message
    both = project(expense_entry_open=True)
    assert check_project_open("p-1", both, expenses=True) is both
