"""What other contexts tell time-expense is kept as the SQL keeps it, and prices and checks the
time approved afterwards."""

from datetime import date

from firm import (
    PROJECT,
    ROLE,
    WORKER,
    activate,
    approval,
    envelope,
    project,
    publish_rate_card,
    rate_card,
    time_entry,
)
from world import ERP_INSTANCE, NOW, PSA_INSTANCE, World

from tandem_contracts import Money
from tandem_contracts.entities import Assignment, AssignmentStatus, BookingType
from tandem_contracts.events import (
    AssignmentCancelled,
    AssignmentConfirmed,
    ProjectClosedForTime,
    TimePosted,
)
from tandem_messaging.testing import Outcome

OCTOBER, NOVEMBER = date(2026, 10, 1), date(2026, 11, 1)


async def test_a_rate_card_keeps_its_latest_published_version(acme: World) -> None:
    v2 = rate_card(
        (1, OCTOBER, Money.of("150.00", "USD")), (2, NOVEMBER, Money.of("165.00", "USD"))
    )
    await publish_rate_card(acme, v2, published=2, version=2)

    # Version 1 is published again later (a replay): the card keeps version 2.
    assert await publish_rate_card(acme, rate_card(), published=1, version=3) is Outcome.HANDLED
    await acme.deliver(approval(time_entry()))

    [posted] = acme.broker.published_of(TimePosted)
    assert posted.payload.bill_amount == Money.of("1320.00", "USD")  # 8 h at 165
    assert acme.store.tables.rate_cards["rc-usd"][1] == 2


async def test_a_cancelled_assignment_no_longer_covers_time(acme: World) -> None:
    await activate(acme, project("p-hooli", time_requires_assignment=True))
    confirmed = Assignment(
        id="as-1", project_id="p-hooli", resource_id="res-ada", worker_id=WORKER, role_id=ROLE,
        start_date=NOVEMBER, end_date=date(2026, 11, 30), total_minutes=9600,
        booking_type=BookingType.HARD, status=AssignmentStatus.CONFIRMED,
    )  # fmt: skip
    await acme.deliver(envelope(AssignmentConfirmed(assignment=confirmed, confirmed_at=NOW)))

    cancelled = AssignmentCancelled(assignment_id="as-1", project_id="p-hooli", cancelled_at=NOW)
    assert await acme.deliver(envelope(cancelled, version=2)) is Outcome.HANDLED

    assert acme.store.tables.assignments["as-1"].status is AssignmentStatus.CANCELLED
    assert await acme.deliver(approval(time_entry(project_id="p-hooli"))) is Outcome.WAITING
    assert acme.erp.lines == {}


async def test_a_project_closed_for_time_stays_open_for_expenses_and_refuses_time(
    acme: World,
) -> None:
    closed = ProjectClosedForTime(project_id=PROJECT, closed_from=NOVEMBER, closed_at=NOW)

    assert await acme.deliver(envelope(closed, version=2)) is Outcome.HANDLED

    kept, region = acme.store.tables.projects[PROJECT]
    assert (kept.flags.time_entry_open, kept.flags.expense_entry_open) == (False, True)
    assert region == "us"  # kept from its activation
    assert await acme.deliver(approval(time_entry())) is Outcome.PARKED


async def test_closing_a_project_time_expense_never_heard_of_changes_nothing(
    acme: World,
) -> None:
    closed = ProjectClosedForTime(project_id="p-unknown", closed_from=NOVEMBER, closed_at=NOW)

    assert await acme.deliver(envelope(closed)) is Outcome.HANDLED

    assert "p-unknown" not in acme.store.tables.projects


async def test_an_activated_project_is_linked_to_its_erp_and_psa_projects(acme: World) -> None:
    erp = await acme.refs.external_id(
        "project", PROJECT, system="erp", instance=ERP_INSTANCE, object_type="project"
    )
    psa = await acme.refs.canonical_id(
        "project", system="psa", instance=PSA_INSTANCE, object_type="project",
        external_id=f"ws-{PROJECT}",
    )  # fmt: skip

    assert erp is not None
    assert acme.erp.projects[erp][0].id == PROJECT
    assert psa == PROJECT
