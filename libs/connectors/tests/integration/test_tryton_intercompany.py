"""TrytonErp books intercompany time against a real trytond: a German consultant's hours on a
US project land in the US company on the US employee of the consultant's own party, made once
(twice posted, or posted by two writers at once), costed at the cost time-expense froze on each
entry; the lines read back, reverse and end with the employee the postings named."""

import asyncio
import datetime as dt
from decimal import Decimal

from tandem_connectors.ports import ErpObject, TimePosting, TimeReversal
from tandem_connectors.tryton import TrytonClient, TrytonErp
from tandem_contracts import Money
from tandem_contracts.entities import CostRate, TimeEntry, TimeEntryStatus, Worker
from tandem_testing import TrytonServer

from .tryton_world import DE, TODAY, Firm, client_of, firm, worker

DAY = dt.timedelta(days=1)
KEY = "employee:w-d1"
MONDAY = TODAY - dt.timedelta(days=TODAY.weekday() + 7)


def _consultant() -> Worker:
    return worker("D1").model_copy(
        update={"id": "w-d1", "legal_entity_id": "le-de", "work_country": "DE",
                "home_currency": "EUR"}
    )  # fmt: skip


def _crossing(world: Firm, employee: str, n: int, day: dt.date, cost: str) -> TimePosting:
    """Time of the German consultant on the US project, its cost frozen in dollars."""
    entry = TimeEntry(
        id=f"te-ic-{n}", worker_id="w-d1", worker_legal_entity_id="le-de", project_id="p-1",
        project_legal_entity_id="le-us", work_date=day, duration_minutes=120, billable=True,
        cost_rate=Money.of(cost, "USD"), status=TimeEntryStatus.APPROVED,
    )  # fmt: skip
    return TimePosting(entry, employee, world.project, f"te-ic-{n}")


async def _sister_firm(erp: TrytonErp) -> tuple[Firm, str, str]:
    """The US firm, a German company and its consultant (costed in euros): (firm, the German
    company, the consultant's German employee)."""
    world = await firm(erp)
    de = (await erp.ensure_legal_entity(DE, key="le-de")).external_id
    rate = CostRate(hourly_cost=Money.of("60", "EUR"), effective_from=dt.date(TODAY.year - 1, 1, 1))
    employee = await erp.upsert_employee(_consultant(), [rate], company=de, key=KEY)
    return world, de, employee.external_id


async def _employees_of_party(client: TrytonClient, employee: str) -> list[dict[str, object]]:
    [named] = await client.read("company.employee", [int(employee)], ["party"])
    return await client.search_read(
        "company.employee", [["party", "=", named["party"]]],
        ["company", "start_date", "end_date"], order=[("id", "ASC")],
        context={"active_test": False},
    )  # fmt: skip


async def test_intercompany_time_books_on_the_project_companys_employee_of_the_same_party(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        erp = TrytonErp(client, instance="us")
        world, de, german = await _sister_firm(erp)
        # Two days at 70 $/h, posted twice; a third day at 75 $/h (a new FX rate).
        first = [_crossing(world, german, 1, MONDAY, "70"),
                 _crossing(world, german, 2, MONDAY + DAY, "70")]  # fmt: skip
        posted = await erp.post_time(first)
        again = await erp.post_time(first)
        [third] = await erp.post_time([_crossing(world, german, 3, MONDAY + 2 * DAY, "75")])
        employees = await _employees_of_party(client, german)
        lines = await client.search_read(
            "timesheet.line", [["description", "in", ["te-ic-1", "te-ic-2", "te-ic-3"]]],
            ["company", "employee", "cost_price", "description"], order=[("id", "ASC")],
        )  # fmt: skip
        us_employee = employees[1]["id"]
        costs = await client.search_read(
            "company.employee_cost_price", [["employee", "=", us_employee]],
            ["date", "cost_price"], order=[("date", "ASC")],
        )  # fmt: skip
        read_back = await erp.time_lines(company=world.company, start=MONDAY, end=MONDAY + 6 * DAY)
        # The key answers the German employee; a write in the US company finds the US one.
        found = await erp.find(ErpObject.EMPLOYEE, KEY)
        upserted = await erp.upsert_employee(_consultant(), [], company=world.company, key=KEY)
    assert [(e["company"], e["start_date"]) for e in employees] == [
        (int(de), _consultant().hire_date),
        (int(world.company), _consultant().hire_date),
    ]
    assert [w.created for w in posted] == [True, True]
    assert [(w.external_id, w.created) for w in again] == [(w.external_id, False) for w in posted]
    assert third.created
    assert {(line["company"], line["employee"]) for line in lines} == {
        (int(world.company), us_employee)
    }
    assert [line["cost_price"] for line in lines] == [Decimal(70), Decimal(70), Decimal(75)]
    assert [(c["date"], c["cost_price"]) for c in costs] == [
        (MONDAY, Decimal(70)),
        (MONDAY + 2 * DAY, Decimal(75)),
    ]
    assert {line.employee for line in read_back} == {german}
    assert sorted(line.key or "" for line in read_back) == ["te-ic-1", "te-ic-2", "te-ic-3"]
    assert found is not None
    assert found.external_id == german
    assert (upserted.external_id, upserted.created) == (str(us_employee), False)


async def test_intercompany_time_reverses_and_ends_with_the_named_employee(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        erp = TrytonErp(client, instance="us")
        world, _, german = await _sister_firm(erp)
        posting = _crossing(world, german, 1, MONDAY, "70")
        [line] = await erp.post_time([posting])
        reversal = TimeReversal(
            line.external_id, posting.entry, german, world.project, "te-ic-1:reversed-at-1"
        )
        marker = await erp.reverse_time(reversal)
        [row] = await client.search_read(
            "timesheet.line", [["id", "=", int(marker.external_id)]], ["company", "employee"]
        )
        gone = await client.search("timesheet.line", [["id", "=", int(line.external_id)]])
        await erp.end_employee(german, last_day=TODAY + 30 * DAY, key="ends")
        employees = await _employees_of_party(client, german)
    assert (row["company"], row["employee"]) == (int(world.company), employees[1]["id"])
    assert gone == []
    assert [e["end_date"] for e in employees] == [TODAY + 30 * DAY, TODAY + 30 * DAY]


async def test_two_writers_booking_a_worker_on_a_sister_company_at_once_make_one_employee(
    tryton: TrytonServer,
) -> None:
    # Two time-expense consumers (a rebalance) post the consultant's first US days at once.
    async with client_of(tryton) as one, client_of(tryton) as other:
        world, _, german = await _sister_firm(TrytonErp(one, instance="us"))
        writers = [TrytonErp(client, instance="us") for client in (one, other)]
        written = await asyncio.gather(*(
            erp.post_time([_crossing(world, german, n, MONDAY, "70")])
            for n, erp in enumerate(writers, start=1)
        ))  # fmt: skip
        employees = await _employees_of_party(one, german)
        lines = await one.search_read(
            "timesheet.line", [["description", "in", ["te-ic-1", "te-ic-2"]]], ["employee"]
        )
        costs = await one.search_read(
            "company.employee_cost_price", [["employee", "=", employees[-1]["id"]]],
            ["date", "cost_price"],
        )  # fmt: skip
    assert [w.created for [w] in written] == [True, True]
    assert [e["company"] for e in employees] == [employees[0]["company"], int(world.company)]
    assert {line["employee"] for line in lines} == {employees[1]["id"]}
    assert [(c["date"], c["cost_price"]) for c in costs] == [(MONDAY, Decimal(70))]
