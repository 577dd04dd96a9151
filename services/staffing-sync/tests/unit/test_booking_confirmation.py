"""PSA bookings become assignments: the pure confirmation (rate resolved from the cards and
frozen, cost at the start date, warnings), and the ingestion and termination on a unit of work
in memory and the fake PSA (no database, no network)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from staffing_sync.domain.bookings import (
    PSA_RATE_SOURCE,
    BookingStep,
    BookingVersion,
    BookingWarning,
    confirm_booking,
    next_step,
    total_minutes,
)
from staffing_sync.service_layer.bookings import PsaBookings
from staffing_sync.service_layer.mapping import WorkerRecord
from staffing_sync.service_layer.terminations import end_bookings_after
from staffing_sync.service_layer.unit_of_work import (
    AbstractBookings,
    AbstractCostRates,
    AbstractProjects,
    AbstractRateCards,
    AbstractUnitOfWork,
    AbstractWorkers,
    KnownBooking,
    KnownProject,
)
from tandem_connectors.fakes import FakeCrossReferences, FakePsa
from tandem_connectors.inbound import RecordWaits
from tandem_connectors.landing import Landed
from tandem_connectors.ports import PsaAssignment
from tandem_contracts import Envelope, ExternalRef, Money, SystemKind
from tandem_contracts.entities import (
    AssignmentStatus,
    BillingModel,
    CostRate,
    EmploymentType,
    Project,
    ProjectStatus,
    RateCard,
    RateCardScope,
    RateCardStatus,
    RateCardVersion,
    RateSource,
    RoleRate,
    Worker,
    WorkerStatus,
)
from tandem_contracts.events import AssignmentCancelled, AssignmentConfirmed, WorkerTerminated

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
ROLE = "senior-consultant"


# -- a unit of work in memory, and the values the tests share ---------------------------------


class MemoryWorkers(AbstractWorkers):
    def __init__(self) -> None:
        self.kept: dict[str, WorkerRecord] = {}

    async def get(self, worker_id: str) -> WorkerRecord | None:
        return self.kept.get(worker_id)

    async def save(self, record: WorkerRecord) -> None:
        self.kept[record.worker.id] = record


class MemoryCostRates(AbstractCostRates):
    def __init__(self) -> None:
        self.kept: list[CostRate] = []

    async def keep(self, rate: CostRate, version: int) -> bool:
        self.kept.append(rate)
        return True

    async def series(self, worker_id: str) -> list[CostRate]:
        return [rate for rate in self.kept if rate.worker_id == worker_id]


class MemoryProjects(AbstractProjects):
    def __init__(self) -> None:
        self.kept: dict[str, KnownProject] = {}

    async def get(self, project_id: str) -> KnownProject | None:
        return self.kept.get(project_id)

    async def keep(self, project: KnownProject) -> bool:
        known = self.kept.get(project.project.id)
        if known is not None and known.version >= project.version:
            return False
        self.kept[project.project.id] = project
        return True


class MemoryRateCards(AbstractRateCards):
    def __init__(self) -> None:
        self.kept: dict[str, tuple[int, RateCard]] = {}

    async def keep(self, card: RateCard, published_version: int) -> bool:
        if self.kept.get(card.id, (0, card))[0] >= published_version:
            return False
        self.kept[card.id] = (published_version, card)
        return True

    async def in_currency(self, currency: str) -> list[RateCard]:
        return [card for _, card in self.kept.values() if card.currency == currency]


class MemoryBookings(AbstractBookings):
    def __init__(self) -> None:
        self.kept: dict[str, KnownBooking] = {}

    async def get(self, assignment_id: str) -> KnownBooking | None:
        return self.kept.get(assignment_id)

    async def save(self, booking: KnownBooking) -> None:
        self.kept[booking.assignment_id] = booking


class MemoryUnitOfWork(AbstractUnitOfWork):
    """Every repository bookings use, in memory; what is published is kept in order."""

    bookings: MemoryBookings

    def __init__(self) -> None:
        self.workers = MemoryWorkers()
        self.cost_rates = MemoryCostRates()
        self.refs = FakeCrossReferences()
        self.projects = MemoryProjects()
        self.rate_cards = MemoryRateCards()
        self.bookings = MemoryBookings()
        self.published: list[Envelope[Any]] = []

    async def publish(self, *envelopes: Envelope[Any]) -> None:
        self.published.extend(envelopes)

    async def flush(self) -> None:
        """Nothing to flush."""


def worker(worker_id: str = "w-1", entity: str = "le-de") -> WorkerRecord:
    hired = Worker(
        id=worker_id, worker_number=f"W-{worker_id}", legal_entity_id=entity,
        employment_type=EmploymentType.EMPLOYEE, status=WorkerStatus.ACTIVE,
        hire_date=date(2026, 1, 5), work_country="DE", home_currency="EUR",
    )  # fmt: skip
    return WorkerRecord(hired, entity, ROLE, hired.hire_date, 1)


def project(project_id: str = "p-1", entity: str = "le-de") -> Project:
    psa_ref = ExternalRef(
        system=SystemKind.PSA, instance="psa", object_type="project", external_id="prj_1"
    )
    return Project(
        id=project_id, name="Rollout", customer_id="c-1", legal_entity_id=entity,
        org_unit_ids=("ou-data",), currency="EUR", billing_model=BillingModel.TIME_AND_MATERIALS,
        status=ProjectStatus.ACTIVE, refs=(psa_ref,),
    )  # fmt: skip


def card(rate: str = "150.00", *, project_id: str | None = None, version: int = 1) -> RateCard:
    """A published EUR card: the tenant's, or ``project_id``'s own."""
    row = RoleRate(role_id=ROLE, bill_rate=Money.of(rate, "EUR"))
    dated = RateCardVersion(version=version, effective_from=date(2026, 1, 1), role_rates=(row,))
    return RateCard(
        id=f"rc-{project_id or 'tenant'}", name="Card", currency="EUR",
        scope=RateCardScope(project_id=project_id), versions=(dated,),
        status=RateCardStatus.PUBLISHED,
    )  # fmt: skip


def cost(amount: str = "70.00", start: date = date(2026, 1, 5)) -> CostRate:
    return CostRate(worker_id="w-1", hourly_cost=Money.of(amount, "EUR"), effective_from=start)


def booked(version: int = 1, **changes: Any) -> PsaAssignment:
    """Version ``version`` of the PSA booking ``asg_1`` of the worker's resource ``usr_1``."""
    values: dict[str, Any] = {
        "external_id": "asg_1", "version": version, "project_id": "prj_1",
        "resource_id": "usr_1", "worker_id": "w-1", "task_id": None, "role": ROLE,
        "start_date": date(2026, 4, 6), "end_date": date(2026, 4, 17), "minutes_per_day": 240,
        "booking": "hard", "status": "active", "bill_rate": None, "updated_at": NOW,
    }  # fmt: skip
    return PsaAssignment(**(values | changes))


_sequence = itertools.count(1)


def landed(value: PsaAssignment) -> Landed:
    record = FakePsa.record_of(value)
    return Landed(
        next(_sequence), "psa", "psa", "assignment", value.external_id, value.version, "poll",
        record,
    )  # fmt: skip


async def known_world(uow: MemoryUnitOfWork, *, entity: str = "le-de") -> None:
    """The worker (employed by ``entity``) onboarded with its resource, the project active,
    the tenant's card published."""
    await uow.workers.save(worker(entity=entity))
    await uow.cost_rates.keep(cost(), 1)
    resource = ExternalRef(
        system=SystemKind.PSA, instance="psa", object_type="resource", external_id="usr_1"
    )
    await uow.refs.link("worker", "w-1", resource)
    active = project()
    await uow.projects.keep(KnownProject(active, "eu", 2))
    await uow.refs.link("project", active.id, active.refs[0])
    await uow.rate_cards.keep(card(), 1)


def version(**changes: object) -> BookingVersion:
    values: dict[str, object] = {
        "assignment_id": "psa-asg_1", "version": 1, "project_id": "p-1",
        "resource_id": "psa-usr_1", "worker_id": "w-1", "work_item_id": None, "role_id": ROLE,
        "start_date": date(2026, 4, 6), "end_date": date(2026, 4, 17), "minutes_per_day": 240,
        "booking": "hard", "status": "active", "psa_bill_rate": None, "updated_at": NOW,
    }  # fmt: skip
    return BookingVersion(**(values | changes))  # type: ignore[arg-type]


# -- the pure confirmation -------------------------------------------------------------------


def test_minutes_are_booked_on_weekdays_only() -> None:
    assert total_minutes(date(2026, 4, 6), date(2026, 4, 17), 240) == 10 * 240  # two weeks
    assert total_minutes(date(2026, 4, 11), date(2026, 4, 12), 480) == 0  # a weekend
    assert total_minutes(date(2026, 4, 10), date(2026, 4, 13), 60) == 2 * 60  # Fri to Mon


def test_a_hard_active_booking_confirms_with_the_most_specific_card_and_the_cost_at_start() -> None:
    cards = [card("150.00"), card("180.00", project_id="p-1")]
    rates = [cost("70.00"), cost("75.00", date(2026, 4, 7))]  # the raise comes after the start
    confirmed = confirm_booking(version(), project(), "le-de", cards, rates, frozenset())
    assignment = confirmed.assignment
    assert assignment.bill_rate == Money.of("180.00", "EUR")
    assert assignment.rate_source == RateSource(
        rate_card_id="rc-p-1", rate_card_version=1, scope_level="project", role_id=ROLE
    )
    assert assignment.cost_rate == Money.of("70.00", "EUR")
    assert (assignment.status, assignment.total_minutes) == (AssignmentStatus.CONFIRMED, 2400)
    assert confirmed.warnings == ()


def test_the_resolved_rate_wins_over_the_psas_and_the_difference_is_a_warning() -> None:
    shown = version(psa_bill_rate=Money.of("140.00", "EUR"))
    confirmed = confirm_booking(shown, project(), "le-de", [card()], [], frozenset())
    assert confirmed.assignment.bill_rate == Money.of("150.00", "EUR")
    assert confirmed.warnings == (BookingWarning.PSA_RATE_DIFFERS,)


def test_without_a_card_the_psas_rate_stands_with_its_source_else_no_rate_is_a_warning() -> None:
    shown = version(psa_bill_rate=Money.of("140.00", "EUR"))
    taken = confirm_booking(shown, project(), "le-de", [], [], frozenset())
    assert taken.assignment.bill_rate == Money.of("140.00", "EUR")
    assert taken.assignment.rate_source is not None
    assert taken.assignment.rate_source.scope_level == PSA_RATE_SOURCE
    assert taken.warnings == ()
    other_currency = version(psa_bill_rate=Money.of("140.00", "USD"))
    none = confirm_booking(other_currency, project(), "le-de", [], [], frozenset())
    assert (none.assignment.bill_rate, none.assignment.rate_source) == (None, None)
    assert none.warnings == (BookingWarning.RATE_UNRESOLVED,)


def test_an_intercompany_pair_not_allowed_is_a_warning_and_an_allowed_one_is_not() -> None:
    across = confirm_booking(version(), project(), "le-us", [card()], [], frozenset())
    assert across.warnings == (BookingWarning.INTERCOMPANY_NOT_ALLOWED,)
    assert across.assignment.bill_rate == Money.of("150.00", "EUR")  # confirmed all the same
    allowed = frozenset({("le-us", "le-de")})
    assert confirm_booking(version(), project(), "le-us", [card()], [], allowed).warnings == ()
    reverse = frozenset({("le-de", "le-us")})  # directional
    assert confirm_booking(version(), project(), "le-us", [card()], [], reverse).warnings


def test_the_rate_stays_frozen_through_changes_unless_its_role_or_start_changes() -> None:
    first = confirm_booking(version(), project(), "le-de", [card()], [], frozenset()).assignment
    cards = [card("165.00", version=2)]  # a newer card since
    longer = version(end_date=date(2026, 4, 24))
    kept = confirm_booking(longer, project(), "le-de", cards, [], frozenset(), first).assignment
    assert (kept.bill_rate, kept.end_date) == (Money.of("150.00", "EUR"), date(2026, 4, 24))
    later = version(start_date=date(2026, 4, 13))
    moved = confirm_booking(later, project(), "le-de", cards, [], frozenset(), first).assignment
    assert moved.bill_rate == Money.of("165.00", "EUR")


def test_only_a_booking_announced_is_cancelled_when_it_stops_being_confirmed() -> None:
    announced = confirm_booking(version(), project(), "le-de", [card()], [], frozenset())
    assert next_step(None, version()) is BookingStep.CONFIRM
    assert next_step(None, version(status="cancelled")) is BookingStep.NOTHING
    assert next_step(None, version(booking="soft")) is BookingStep.NOTHING
    assert next_step(announced.assignment, version(booking="soft")) is BookingStep.CANCEL
    assert next_step(announced.assignment, version(status="cancelled")) is BookingStep.CANCEL


# -- ingestion ---------------------------------------------------------------------------------


@pytest.fixture
async def uow() -> MemoryUnitOfWork:
    world = MemoryUnitOfWork()
    await known_world(world)
    return world


def ingestion(uow: MemoryUnitOfWork, psa: FakePsa | None = None, **more: object) -> PsaBookings:
    return PsaBookings(uow, psa or FakePsa(instance="psa"), "psa", "acme", **more)  # type: ignore[arg-type]


async def test_a_confirmed_booking_is_announced_once_then_changes_and_cancellation_follow(
    uow: MemoryUnitOfWork,
) -> None:
    bookings = ingestion(uow)
    [confirmed] = await bookings.translate(landed(booked()))
    assert isinstance(confirmed.payload, AssignmentConfirmed)
    assignment = confirmed.payload.assignment
    assert (assignment.id, assignment.project_id, assignment.worker_id) == (
        "psa-asg_1", "p-1", "w-1",
    )  # fmt: skip
    assert assignment.bill_rate == Money.of("150.00", "EUR")
    assert assignment.cost_rate == Money.of("70.00", "EUR")
    assert (confirmed.subject_version, confirmed.legal_entity_id) == (1, "le-de")
    assert confirmed.data_residency_region == "eu"
    # The same version again, and a newer one that changes nothing announced: silence.
    assert await bookings.translate(landed(booked())) == []
    assert await bookings.translate(landed(booked(2, updated_at=NOW.replace(hour=10)))) == []
    # Longer: announced again, newer; then cancelled in the PSA.
    [changed] = await bookings.translate(landed(booked(3, end_date=date(2026, 4, 24))))
    assert changed.subject_version == 2
    assert changed.payload.assignment.end_date == date(2026, 4, 24)
    [cancelled] = await bookings.translate(landed(booked(4, status="cancelled")))
    assert isinstance(cancelled.payload, AssignmentCancelled)
    assert (cancelled.subject_version, cancelled.payload.project_id) == (3, "p-1")
    # An older version landing late changes nothing.
    assert await bookings.translate(landed(booked(3, end_date=date(2026, 4, 24)))) == []
    assert uow.bookings.kept["psa-asg_1"].cancelled


async def test_a_soft_or_placeholder_booking_is_no_assignment(uow: MemoryUnitOfWork) -> None:
    bookings = ingestion(uow)
    assert await bookings.translate(landed(booked(booking="soft"))) == []
    placeholder = booked(external_id="asg_2", worker_id=None, resource_id="usr_9")
    assert await bookings.translate(landed(placeholder)) == []


async def test_a_booking_waits_for_its_project_and_its_worker(uow: MemoryUnitOfWork) -> None:
    bookings = ingestion(uow)
    with pytest.raises(RecordWaits, match="prj_9"):
        await bookings.translate(landed(booked(project_id="prj_9")))
    with pytest.raises(RecordWaits, match="w-9"):
        await bookings.translate(landed(booked(external_id="asg_3", worker_id="w-9")))
    # A cancelled booking never confirmed does not wait: there is nothing to cancel.
    gone = booked(project_id="prj_9", external_id="asg_4", status="cancelled")
    assert await bookings.translate(landed(gone)) == []


async def test_an_intercompany_booking_carries_its_warning() -> None:
    uow = MemoryUnitOfWork()
    await known_world(uow, entity="le-us")
    [confirmed] = await ingestion(uow).translate(landed(booked()))
    assert isinstance(confirmed.payload, AssignmentConfirmed)
    assert uow.bookings.kept["psa-asg_1"].warnings == ("intercompany_not_allowed",)
    allowed = MemoryUnitOfWork()
    await known_world(allowed, entity="le-us")
    pairs = frozenset({("le-us", "le-de")})
    await ingestion(allowed, intercompany_pairs=pairs).translate(landed(booked()))
    assert allowed.bookings.kept["psa-asg_1"].warnings == ()


# -- terminations ------------------------------------------------------------------------------


async def test_a_last_day_cancels_the_bookings_after_it_and_ends_those_across_it(
    uow: MemoryUnitOfWork,
) -> None:
    psa = FakePsa(instance="psa")
    after = booked(external_id="asg_1", start_date=date(2026, 5, 4), end_date=date(2026, 5, 15))
    across = booked(external_id="asg_2", start_date=date(2026, 4, 20), end_date=date(2026, 5, 8))
    before = booked(external_id="asg_3", start_date=date(2026, 4, 6), end_date=date(2026, 4, 17))
    elsewhere = booked(external_id="asg_4", resource_id="usr_2", start_date=date(2026, 6, 1),
                       end_date=date(2026, 6, 5))  # fmt: skip
    psa.add(after, across, before, elsewhere)
    [confirmed] = await ingestion(uow, psa).translate(landed(after))
    terminated = WorkerTerminated(
        worker_id="w-1", legal_entity_id="le-de", last_day=date(2026, 4, 30), terminated_at=NOW
    )
    await end_bookings_after(terminated, uow, psa, "acme")
    await end_bookings_after(terminated, uow, psa, "acme")  # a redelivery changes nothing

    assert psa.assignments["asg_1"].status == "cancelled"
    assert psa.assignments["asg_2"].end_date == date(2026, 4, 30)
    assert psa.assignments["asg_2"].status == "active"
    assert psa.assignments["asg_3"] == before
    assert psa.assignments["asg_4"] == elsewhere
    [cancelled] = uow.published
    assert isinstance(cancelled.payload, AssignmentCancelled)
    assert cancelled.payload.assignment_id == confirmed.payload.assignment.id
    assert cancelled.subject_version == confirmed.subject_version + 1
    # The booking's version from before the cancellation, landing late, confirms nothing.
    assert await ingestion(uow, psa).translate(landed(replace(after, version=1))) == []
    assert uow.bookings.kept["psa-asg_1"].psa_version == 2
