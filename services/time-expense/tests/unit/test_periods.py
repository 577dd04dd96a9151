"""The watch-periods job: the ERP's closes and reopens announced, nothing for a period seen
for the first time or unchanged, entities without a company skipped."""

from datetime import date, timedelta

from firm import LE_DE, LE_US, activate, company, project
from world import World

from tandem_contracts.entities import PeriodStatus
from tandem_contracts.events import PeriodClosed, PeriodReopened

OCTOBER = date(2026, 10, 1)


async def watched(acme: World) -> int:
    acme.clock.advance(timedelta(minutes=5))
    return await acme.watch_periods()


async def test_periods_seen_for_the_first_time_are_recorded_not_announced(acme: World) -> None:
    assert await watched(acme) == 0

    assert acme.store.outbox == []
    kept = acme.store.tables.periods
    assert kept[(LE_US, OCTOBER)].status is PeriodStatus.OPEN
    assert min(start for entity, start in kept if entity == LE_US) == date(2025, 10, 1)


async def test_a_period_the_erp_closed_is_announced_once(acme: World) -> None:
    await watched(acme)
    acme.erp.close_period(company(acme), OCTOBER, PeriodStatus.CLOSED)

    assert await watched(acme) == 1
    assert await watched(acme) == 0  # unchanged since

    [closed] = acme.store.outbox_of(PeriodClosed)
    assert (closed.payload.period.start_date, closed.payload.period.status) == (
        OCTOBER, PeriodStatus.CLOSED,
    )  # fmt: skip
    assert (closed.legal_entity_id, closed.data_residency_region) == (LE_US, "us")
    assert acme.store.tables.periods[(LE_US, OCTOBER)].status is PeriodStatus.CLOSED


async def test_a_period_reopened_is_announced_after_its_close(acme: World) -> None:
    await watched(acme)
    acme.erp.close_period(company(acme), OCTOBER, PeriodStatus.CLOSED)
    await watched(acme)

    acme.erp.close_period(company(acme), OCTOBER, PeriodStatus.OPEN)
    assert await watched(acme) == 1

    [closed] = acme.store.outbox_of(PeriodClosed)
    [reopened] = acme.store.outbox_of(PeriodReopened)
    assert reopened.payload.period.status is PeriodStatus.OPEN
    assert reopened.subject_version > closed.subject_version  # the consumer takes it as newer


async def test_a_closed_period_locked_is_still_not_announced(acme: World) -> None:
    await watched(acme)
    acme.erp.close_period(company(acme), OCTOBER, PeriodStatus.CLOSED)
    await watched(acme)

    acme.erp.close_period(company(acme), OCTOBER, PeriodStatus.LOCKED)

    assert await watched(acme) == 0
    assert acme.store.tables.periods[(LE_US, OCTOBER)].status is PeriodStatus.LOCKED


async def test_an_entity_without_a_company_in_the_erp_is_skipped(acme: World) -> None:
    await activate(acme, project("p-initech", legal_entity_id=LE_DE))

    assert await watched(acme) == 0

    assert {entity for entity, _ in acme.store.tables.periods} == {LE_US}
