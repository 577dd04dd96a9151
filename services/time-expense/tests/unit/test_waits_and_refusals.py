"""Approved time that may not post yet waits for what it needs and posts once it comes; time
that may never post as it is goes to finance. Either way the business exception is recorded
and ``TimePostingFailed`` announced in the parking transaction."""

from datetime import date, timedelta

from firm import (
    LE_DE,
    LE_UK,
    LE_US,
    PROJECT,
    WORKER,
    WORKER_UK,
    activate,
    approval,
    company,
    envelope,
    make_company,
    onboard,
    opened,
    project,
    time_entry,
    worker,
)
from world import ERP_INSTANCE, NOW, World

from tandem_contracts import Money
from tandem_contracts.entities import (
    Assignment,
    AssignmentStatus,
    BookingType,
    CostRate,
    PeriodStatus,
)
from tandem_contracts.events import (
    AssignmentConfirmed,
    CostRateChanged,
    PostingFailureReason,
    ProjectClosedForTime,
    TimePosted,
    TimePostingFailed,
)
from tandem_messaging.testing import Outcome
from time_expense.domain import LatePolicy

Reason = PostingFailureReason


def failure_of(acme: World, entry_id: str = "te-1") -> tuple[Reason, bool]:
    """The reason and retryability announced for the entry."""
    [failed] = [e for e in acme.broker.published_of(TimePostingFailed) if e.subject.id == entry_id]
    return failed.payload.reason, failed.payload.retryable


def exception_of(acme: World, entry_id: str = "te-1") -> tuple[str, str | None]:
    """The open exception's reason and what it waits for."""
    exception = acme.store.open_exceptions()[entry_id]
    return exception.reason, exception.waiting_for


def posted(acme: World) -> list[str]:
    return [e.payload.time_entry_id for e in acme.broker.published_of(TimePosted)]


def assignment(start: date, end: date, project_id: str = "p-hooli") -> Assignment:
    return Assignment(
        id=f"as-{project_id}-{start:%m}", project_id=project_id, resource_id="res-ada",
        worker_id=WORKER, role_id="r-consultant", start_date=start, end_date=end,
        total_minutes=9600, booking_type=BookingType.HARD, status=AssignmentStatus.CONFIRMED,
    )  # fmt: skip


async def confirm(acme: World, assigned: Assignment, version: int = 1) -> Outcome:
    event = AssignmentConfirmed(assignment=assigned, confirmed_at=NOW)
    return await acme.deliver(envelope(event, version))


async def test_time_on_a_project_not_active_yet_waits_until_it_is(acme: World) -> None:
    entry = time_entry(project_id="p-initech")

    assert await acme.deliver(approval(entry)) is Outcome.WAITING
    assert exception_of(acme) == ("project_unknown", "project-open:p-initech")
    assert failure_of(acme) == (Reason.PROJECT_UNKNOWN, True)
    assert acme.erp.lines == {}

    # project-sync activates it: the waiting entry is released and posts.
    await activate(acme, project("p-initech"))
    assert posted(acme) == ["te-1"]
    assert acme.store.open_exceptions() == {}


async def test_time_of_a_worker_not_mapped_waits_until_onboarding_makes_the_employee(
    acme: World,
) -> None:
    entry = time_entry(worker_id="w-cy")

    assert await acme.deliver(approval(entry)) is Outcome.WAITING
    assert exception_of(acme) == ("worker_not_mapped", f"worker-mapped:{ERP_INSTANCE}:w-cy")
    assert failure_of(acme) == (Reason.WORKER_NOT_MAPPED, True)

    assert await onboard(acme, worker("w-cy")) is Outcome.HANDLED
    assert [hired.id for hired, _, _ in acme.erp.employees.values()] == [WORKER, "w-cy"]
    assert posted(acme) == ["te-1"]


async def test_time_without_an_assignment_yet_waits_for_one(acme: World) -> None:
    await activate(acme, project("p-hooli", time_requires_assignment=True))
    entry = time_entry(project_id="p-hooli")

    assert await acme.deliver(approval(entry)) is Outcome.WAITING
    assert exception_of(acme) == ("assignment_missing", f"assignment:p-hooli:{WORKER}")
    assert failure_of(acme) == (Reason.ASSIGNMENT_MISSING, True)

    await confirm(acme, assignment(date(2026, 11, 1), date(2026, 11, 30)))
    assert posted(acme) == ["te-1"]


async def test_time_outside_every_assignment_is_refused(acme: World) -> None:
    await activate(acme, project("p-hooli", time_requires_assignment=True))
    await confirm(acme, assignment(date(2026, 12, 1), date(2026, 12, 31)))

    assert await acme.deliver(approval(time_entry(project_id="p-hooli"))) is Outcome.PARKED

    assert exception_of(acme) == ("assignment_missing", None)
    assert failure_of(acme) == (Reason.ASSIGNMENT_MISSING, False)
    assert acme.erp.lines == {}


async def test_intercompany_time_of_a_pair_not_allowed_is_refused(acme: World) -> None:
    await onboard(acme, worker(WORKER_UK, LE_UK), cost=None)
    entry = time_entry(worker_id=WORKER_UK, worker_legal_entity_id=LE_UK)

    assert await acme.deliver(approval(entry)) is Outcome.PARKED

    assert exception_of(acme) == ("intercompany_not_allowed", None)
    assert failure_of(acme) == (Reason.INTERCOMPANY_NOT_ALLOWED, False)


async def test_intercompany_time_of_an_allowed_pair_posts() -> None:
    acme = await opened(intercompany_pairs=frozenset({(LE_UK, LE_US)}))
    await onboard(acme, worker(WORKER_UK, LE_UK), cost=None)

    entry = time_entry(worker_id=WORKER_UK, worker_legal_entity_id=LE_UK)
    assert await acme.deliver(approval(entry)) is Outcome.HANDLED

    assert posted(acme) == ["te-1"]


async def test_time_no_rate_card_prices_is_refused(acme: World) -> None:
    assert await acme.deliver(approval(time_entry(role_id="r-architect"))) is Outcome.PARKED

    assert exception_of(acme) == ("rate_unresolved", None)
    assert failure_of(acme) == (Reason.RATE_UNRESOLVED, False)


async def test_time_whose_cost_has_no_fx_rate_is_refused(acme: World) -> None:
    # From November, Ada costs 60 GBP an hour; nobody loaded a GBP rate.
    rate = CostRate(
        worker_id=WORKER, hourly_cost=Money.of("60.00", "GBP"), effective_from=date(2026, 11, 1)
    )
    await acme.deliver(envelope(CostRateChanged(cost_rate=rate), version=2))

    assert await acme.deliver(approval(time_entry())) is Outcome.PARKED

    assert exception_of(acme) == ("fx_rate_missing", None)
    assert failure_of(acme) == (Reason.FX_RATE_MISSING, False)


async def test_time_on_a_project_closed_for_time_is_refused(acme: World) -> None:
    closed = ProjectClosedForTime(project_id=PROJECT, closed_from=date(2026, 11, 1), closed_at=NOW)
    assert await acme.deliver(envelope(closed, version=2)) is Outcome.HANDLED

    assert await acme.deliver(approval(time_entry())) is Outcome.PARKED

    assert exception_of(acme) == ("project_not_open", None)
    assert failure_of(acme) == (Reason.PROJECT_NOT_OPEN, False)


async def test_time_of_a_closed_period_posts_late_into_the_next_open_one(acme: World) -> None:
    acme.erp.close_period(company(acme), date(2026, 10, 1), PeriodStatus.CLOSED)

    entry = time_entry(work_date=date(2026, 10, 27))
    assert await acme.deliver(approval(entry)) is Outcome.HANDLED

    [line] = acme.erp.lines.values()
    assert line.posted_on == date(2026, 11, 1)
    [event] = acme.broker.published_of(TimePosted)
    assert (event.payload.work_date, event.payload.accounting_date) == (
        entry.work_date,
        date(2026, 11, 1),
    )
    assert event.payload.late_posting is True
    assert acme.store.tables.journal["time:te-1:v1"].late is True


async def test_time_of_a_closed_period_waits_for_it_to_reopen_when_finance_parks_it() -> None:
    acme = await opened(late_time_policy=LatePolicy.PARK)
    await acme.watch_periods()  # time-expense has seen the entity's periods, all open

    # Finance closes October; the job announces it and the consumer records it.
    acme.erp.close_period(company(acme), date(2026, 10, 1), PeriodStatus.CLOSED)
    await announce_period_changes(acme)
    entry = time_entry(work_date=date(2026, 10, 27))
    assert await acme.deliver(approval(entry)) is Outcome.WAITING
    assert exception_of(acme) == ("period_closed", "period-open:le-us:2026-10-01")
    assert failure_of(acme) == (Reason.PERIOD_CLOSED, True)

    # Finance reopens it: the announcement releases the entry, which posts into October.
    acme.erp.close_period(company(acme), date(2026, 10, 1), PeriodStatus.OPEN)
    await announce_period_changes(acme)
    [line] = acme.erp.lines.values()
    assert (line.key, line.posted_on) == ("time:te-1:v1", entry.work_date)
    assert acme.store.open_exceptions() == {}


async def test_time_of_an_entity_without_erp_company_waits_until_it_is_made() -> None:
    acme = await opened(intercompany_pairs=frozenset({(LE_US, LE_DE)}))
    await activate(acme, project("p-initech", legal_entity_id=LE_DE))
    entry = time_entry(project_id="p-initech", project_legal_entity_id=LE_DE)
    wait = f"legal-entity-in-erp:{ERP_INSTANCE}:{LE_DE}"

    assert await acme.deliver(approval(entry)) is Outcome.WAITING
    assert exception_of(acme) == ("project_unknown", wait)
    assert failure_of(acme) == (Reason.PROJECT_UNKNOWN, True)

    # Finance makes the company under the entity's id; the job finds it by that key once the
    # directory asks the ERP again (a miss is remembered for 30 s).
    made = await make_company(acme, LE_DE)
    assert await acme.resolve_companies() == []
    acme.clock.advance(timedelta(seconds=31))
    assert await acme.resolve_companies() == [Outcome.HANDLED]

    linked = await acme.refs.external_id(
        "legal_entity", LE_DE, system="erp", instance=ERP_INSTANCE, object_type="company"
    )
    assert linked == made
    assert acme.refs.audit == []
    assert posted(acme) == ["te-1"]


async def announce_period_changes(acme: World) -> list[Outcome]:
    """Run the watch-periods job, then deliver what it announced to the consumer."""
    acme.clock.advance(timedelta(minutes=5))
    before = len(acme.store.outbox)
    await acme.watch_periods()
    return [await acme.deliver(e) for e in acme.store.outbox[before:]]
