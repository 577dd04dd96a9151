"""TrytonErp against a real trytond: set-up, batches of time, invoices, idempotency, outages."""

import datetime as dt
from collections import Counter

import pytest

from tandem_connectors import PeriodClosed, RequestRejected, SystemUnavailable
from tandem_connectors.ports import TimePosting
from tandem_connectors.tryton import TrytonErp
from tandem_contracts import Money
from tandem_contracts.entities import WorkItem, WorkItemType
from tandem_messaging import PermanentError
from tandem_testing import TrytonServer

from .tryton_world import (
    DE,
    TODAY,
    US,
    client_of,
    cost,
    customer,
    entry,
    firm,
    hours_times,
    project,
    worker,
)


async def test_legal_entity_setup_is_idempotent_and_opens_three_fiscal_years(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        erp = TrytonErp(client, instance="us")
        first = await erp.ensure_legal_entity(US, key="le-us")
        again = await erp.ensure_legal_entity(US, key="le-us")
        years = await client.search_read(
            "account.fiscalyear", [["company", "=", int(first.external_id)]], ["start_date"]
        )
        periods = await erp.list_periods(
            company=first.external_id,
            legal_entity_id="le-us",
            start=dt.date(TODAY.year - 1, 1, 1),
            end=dt.date(TODAY.year + 1, 12, 31),
        )
    assert first.created
    assert not again.created
    assert again.external_id == first.external_id
    assert sorted(y["start_date"].year for y in years) == [
        TODAY.year - 1,
        TODAY.year,
        TODAY.year + 1,
    ]
    assert len(periods) == 36
    assert {p.status.value for p in periods} == {"open"}


async def test_500_time_entries_post_in_batches_and_read_back(tryton: TrytonServer) -> None:
    async with client_of(tryton) as client:
        world = await firm(TrytonErp(client, instance="us"), employees=3)
        start = TODAY.replace(day=1)
        postings = [
            world.posting(n, 15 + n % 8 * 15, start + dt.timedelta(days=n % 20), employee=n % 3)
            for n in range(500)
        ]
        written = []
        for batch in range(0, 500, 100):
            written += await world.erp.post_time(postings[batch : batch + 100])
        rows = await client.search_read(
            "timesheet.line",
            [["id", "in", [int(w.external_id) for w in written]]],
            ["duration", "employee", "date", "description"],
        )
    assert all(w.created for w in written)
    assert len({w.external_id for w in written}) == 500
    assert len(rows) == 500
    minutes = sum(round(r["duration"].total_seconds() / 60) for r in rows)
    assert minutes == sum(p.entry.duration_minutes for p in postings)
    per_employee_day = Counter((r["employee"], r["date"]) for r in rows)
    expected = Counter((int(p.employee), p.entry.work_date) for p in postings)
    assert per_employee_day == expected
    by_key = {r["description"]: r["id"] for r in rows}
    assert [by_key[p.key] for p in postings] == [int(w.external_id) for w in written]


async def test_the_same_write_twice_with_one_key_leaves_one_record(tryton: TrytonServer) -> None:
    async with client_of(tryton) as client:
        world = await firm(TrytonErp(client, instance="us"))
        erp = world.erp
        # Masters written again with the same keys answer the records already made.
        again = await erp.upsert_customer(
            customer("Globex Renamed"), company=world.company, key="cu-globex"
        )
        employee = await erp.upsert_employee(
            worker("W0"),
            [cost("55", dt.date(TODAY.year - 1, 1, 1))],
            company=world.company,
            key="w-0",
        )
        shell = await erp.create_project(
            project(),
            company=world.company,
            customer=world.customer,
            service=world.service,
            key="p-1",
        )
        # A batch retried after a crash, holding its own duplicate, makes each line once.
        batch = [world.posting(n, 60, TODAY) for n in (1, 2, 3)]
        first = await erp.post_time(batch[:2])
        retried = await erp.post_time([*batch, batch[2]])
        parties = await client.search("party.party", [["code", "=", "cu-globex"]])
        [name] = await client.read("party.party", parties, ["name"])
        employees = await client.search("company.employee", [])
        works = await client.search("project.work", [["type", "=", "project"]])
        lines = await client.search("timesheet.line", [])
    assert not again.created
    assert again.external_id == world.customer
    assert name["name"] == "Globex Renamed"
    assert not employee.created
    assert employee.external_id == world.employees[0]
    assert not shell.created
    assert shell.external_id == world.project
    assert shell.code
    assert len(parties) == 1
    assert len(employees) == 1
    assert len(works) == 1
    assert [w.created for w in retried] == [False, False, True, False]
    assert [w.external_id for w in retried[:2]] == [w.external_id for w in first]
    assert retried[3].external_id == retried[2].external_id
    assert len(lines) == 3


async def test_a_project_invoice_is_drafted_and_posted_at_hours_times_rate(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        world = await firm(TrytonErp(client, instance="us"))
        task = await world.erp.create_task(_task("Discovery"), project=world.project, key="task-1")
        await world.erp.post_time([world.posting(1, 180, TODAY), world.posting(2, 90, TODAY)])
        await world.erp.post_time(
            [TimePosting(entry(3, 30, TODAY), world.employees[0], task.external_id, "te-3")]
        )
        draft = await world.erp.create_draft_invoice(project=world.project, key="inv-1")
        same = await world.erp.create_draft_invoice(project=world.project, key="inv-1")
        posted = await world.erp.post_invoice(draft.ref.external_id, invoice_date=TODAY)
        with pytest.raises(RequestRejected) as nothing:
            await world.erp.create_draft_invoice(project=world.project, key="inv-2")
    assert draft.total == Money.of("750.00", "USD")  # 5 h x 150
    assert draft.line_count >= 1
    assert same == draft
    assert posted.number
    assert posted.invoice_date == TODAY
    assert posted.total == Money.of(hours_times("150", 300), "USD")
    assert nothing.value.reason == "nothing_to_invoice"


async def test_an_invoice_dated_in_a_closed_period_is_refused_for_good(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        world = await firm(TrytonErp(client, instance="us"))
        last_month = TODAY.replace(day=1) - dt.timedelta(days=1)
        await world.erp.post_time([world.posting(1, 60, last_month)])
        await world.erp.close_period(world.company, last_month)
        draft = await world.erp.create_draft_invoice(project=world.project, key="inv-1")
        with pytest.raises(PeriodClosed) as caught:
            await world.erp.post_invoice(draft.ref.external_id, invoice_date=last_month)
        # Re-dated into an open period, the same draft posts.
        posted = await world.erp.post_invoice(draft.ref.external_id, invoice_date=TODAY)
        periods = await world.erp.list_periods(
            company=world.company,
            legal_entity_id="le-us",
            start=last_month.replace(day=1),
            end=TODAY,
        )
    assert isinstance(caught.value, PermanentError)
    assert caught.value.reason == "period_closed"
    assert posted.number
    assert [p.status.value for p in periods][:2] == ["closed", "open"]
    assert periods[0].source_status == "closed"
    assert periods[0].end_date == last_month


async def test_a_stopped_server_is_a_transient_outage(tryton: TrytonServer) -> None:
    async with client_of(tryton) as client:
        world = await firm(TrytonErp(client, instance="us"))
        tryton.stop()
        with pytest.raises(SystemUnavailable) as caught:
            await world.erp.post_time([world.posting(1, 60, TODAY)])
    assert caught.value.downstream == "erp:us"
    assert not isinstance(caught.value, PermanentError)


async def test_two_legal_entities_share_one_database_each_with_its_periods(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        erp = TrytonErp(client, instance="shared")
        us = await erp.ensure_legal_entity(US, key="le-us")
        de = await erp.ensure_legal_entity(DE, key="le-de")
        await erp.close_period(de.external_id, TODAY)
        us_periods = await erp.list_periods(
            company=us.external_id, legal_entity_id="le-us", start=TODAY, end=TODAY
        )
        de_periods = await erp.list_periods(
            company=de.external_id, legal_entity_id="le-de", start=TODAY, end=TODAY
        )
        currencies = await client.read(
            "company.company", [int(us.external_id), int(de.external_id)], ["currency.code"]
        )
    assert us.external_id != de.external_id
    assert us.created
    assert de.created
    assert [c["currency."]["code"] for c in currencies] == ["USD", "EUR"]
    assert [p.status.value for p in us_periods] == ["open"]
    assert [p.status.value for p in de_periods] == ["closed"]
    assert us_periods[0].refs[0].external_id != de_periods[0].refs[0].external_id


def _task(name: str) -> WorkItem:
    return WorkItem(id="wi-1", project_id="p-1", type=WorkItemType.TASK, name=name)
