"""TrytonErp ends an employee at a last day against a real trytond: once, and time after it is
refused with its reason; a future hire is found and ended though not yet active; two writers
making one employee at once make one; one a killed writer was making is found, not made
again."""

import asyncio
import datetime as dt
from decimal import Decimal

import pytest

from tandem_connectors import NotFound, RequestRejected
from tandem_connectors.tryton import TrytonErp
from tandem_contracts import Money
from tandem_contracts.entities import CostRate
from tandem_testing import TrytonServer

from .tryton_world import TODAY, client_of, cost, firm, worker

DAY = dt.timedelta(days=1)


async def test_an_employee_is_ended_once_and_refuses_time_after_its_last_day(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        world = await firm(TrytonErp(client, instance="us"))
        employee = world.employees[0]
        ended = await world.erp.end_employee(employee, last_day=TODAY, key="employee:w-0:ends")
        [first] = await client.read("company.employee", [int(employee)], ["end_date", "write_date"])
        # Calling again is a no-op: nothing is written, so the record keeps its write date.
        again = await world.erp.end_employee(employee, last_day=TODAY, key="employee:w-0:ends")
        [second] = await client.read(
            "company.employee", [int(employee)], ["end_date", "write_date"]
        )
        [taken] = await world.erp.post_time([world.posting(1, 60, TODAY)])
        with pytest.raises(RequestRejected) as refused:
            await world.erp.post_time([world.posting(2, 60, TODAY + DAY)])
        after = await client.search("timesheet.line", [["description", "=", "te-2"]])
    assert (ended.external_id, ended.created, ended.ref.object_type) == (
        employee, False, "employee",
    )  # fmt: skip
    assert again.ref == ended.ref
    assert first["end_date"] == second["end_date"] == TODAY
    assert second["write_date"] == first["write_date"]
    assert taken.created  # the last day itself is still worked
    assert refused.value.reason == "employee_ended"
    assert after == []


async def test_an_end_moves_with_a_corrected_date_and_never_before_the_start(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        world = await firm(TrytonErp(client, instance="us"))
        employee = world.employees[0]
        await world.erp.end_employee(employee, last_day=TODAY, key="end-1")
        await world.erp.end_employee(employee, last_day=TODAY + 10 * DAY, key="end-2")
        [moved] = await client.read("company.employee", [int(employee)], ["start_date", "end_date"])
        with pytest.raises(RequestRejected) as early:
            await world.erp.end_employee(employee, last_day=moved["start_date"] - DAY, key="end-3")
        with pytest.raises(NotFound):
            await world.erp.end_employee("999999", last_day=TODAY, key="end-4")
        # A rehire reopens the employee.
        await world.erp.end_employee(employee, last_day=None, key="end-never")
        [reopened] = await client.read("company.employee", [int(employee)], ["end_date"])
        [taken] = await world.erp.post_time([world.posting(3, 60, TODAY + 20 * DAY)])
    assert moved["end_date"] == TODAY + 10 * DAY
    assert reopened["end_date"] is None
    assert taken.created
    assert early.value.reason == "ends_before_start"


async def test_a_future_hire_is_found_again_and_ended_though_not_yet_active(
    tryton: TrytonServer,
) -> None:
    # Tryton's ``active`` on an employee follows its dates: before its start it is inactive,
    # and a search that skips inactive records would make a second employee and miss it when
    # ending it.
    async with client_of(tryton) as client:
        erp = TrytonErp(client, instance="us")
        world = await firm(erp)
        hired = worker("F-1").model_copy(update={"hire_date": TODAY + 30 * DAY})
        rates = [cost("70.00", TODAY + 30 * DAY)]
        first = await erp.upsert_employee(hired, rates, company=world.company, key="w-future")
        again = await erp.upsert_employee(hired, rates, company=world.company, key="w-future")
        ended = await erp.end_employee(
            first.external_id, last_day=TODAY + 60 * DAY, key="w-future:ends"
        )
        parties = await client.search("party.party", [["code", "=", "w-future"]])
        employees = await client.search(
            "company.employee", [["party", "in", parties]], context={"active_test": False}
        )
        [row] = await client.read("company.employee", employees, ["end_date"])
    assert (first.created, again.created) == (True, False)
    assert again.external_id == first.external_id == ended.external_id
    assert employees == [int(first.external_id)]
    assert row["end_date"] == TODAY + 60 * DAY


async def test_two_writers_making_one_employee_at_once_make_one_with_each_rate_once(
    tryton: TrytonServer,
) -> None:
    # staffing-sync onboarding a worker and time-expense posting their first time both make the
    # employee under the same key, from their own clients, at the same moment.
    async with client_of(tryton) as one, client_of(tryton) as other:
        world = await firm(TrytonErp(one, instance="us"))
        hired = worker("T-1")
        rates = [cost("80.00", TODAY - 10 * DAY), cost("85.00", TODAY)]
        writers = [TrytonErp(client, instance="us") for client in (one, other)]
        made = await asyncio.gather(*(
            erp.upsert_employee(hired, rates, company=world.company, key="w-twice")
            for erp in writers
        ))  # fmt: skip
        parties = await one.search("party.party", [["code", "=", "w-twice"]])
        employees = await one.search(
            "company.employee", [["party", "in", parties]], context={"active_test": False}
        )
        prices = await one.search_read(
            "company.employee_cost_price", [["employee", "in", employees]], ["date"]
        )
    assert len(parties) == 1
    assert employees == [int(made[0].external_id)] == [int(made[1].external_id)]
    assert sorted(p["date"] for p in prices) == [TODAY - 10 * DAY, TODAY]


async def test_an_employee_a_killed_writer_was_making_is_found_not_made_again(
    tryton: TrytonServer,
) -> None:
    # A worker killed between its two creates leaves the party keyed; Tryton still commits the
    # employee create it had sent, a moment after its successor finds the party alone.
    async with client_of(tryton) as client, client_of(tryton) as late:
        erp = TrytonErp(client, instance="us")
        world = await firm(erp)
        hired = worker("K-1")
        [party] = await client.create(
            "party.party", [{"name": "K-1", "code": "w-killed", "addresses": [["create", [{}]]]}]
        )

        async def killed_writers_create() -> int:
            await asyncio.sleep(0.3)  # the moment its transaction commits, not a wait
            company = int(world.company)
            values = {"party": party, "company": company, "start_date": hired.hire_date}
            [made] = await late.create("company.employee", [values], context={"company": company})
            return int(made)

        made, successor = await asyncio.gather(
            killed_writers_create(),
            erp.upsert_employee(hired, [cost("80.00", TODAY)], company=world.company,
                                key="w-killed"),
        )  # fmt: skip
        employees = await client.search(
            "company.employee", [["party", "=", party]], context={"active_test": False}
        )
    assert employees == [made]
    assert (int(successor.external_id), successor.created) == (made, False)


async def test_an_employee_takes_the_cost_rates_in_its_companys_currency_only(
    tryton: TrytonServer,
) -> None:
    # A transferred worker's series holds the rates of the entity they left, in its currency:
    # a Tryton cost price is in the company's currency, so those are not this employee's.
    async with client_of(tryton) as client:
        erp = TrytonErp(client, instance="us")
        world = await firm(erp)
        moved = worker("X-1")
        eur = CostRate(hourly_cost=Money.of("70.00", "EUR"), effective_from=TODAY - 90 * DAY)
        usd = cost("88.00", TODAY - 10 * DAY)
        made = await erp.upsert_employee(moved, [eur, usd], company=world.company, key="w-moved")
        prices = await client.search_read(
            "company.employee_cost_price", [["employee", "=", int(made.external_id)]],
            ["date", "cost_price"],
        )  # fmt: skip
        with pytest.raises(RequestRejected) as refused:
            await erp.upsert_employee(worker("X-2"), [eur], company=world.company, key="w-eur")
        parties = await client.search("party.party", [["code", "=", "w-eur"]])
    assert [(p["date"], p["cost_price"]) for p in prices] == [(TODAY - 10 * DAY, Decimal("88"))]
    assert refused.value.reason == "cost_currency_mismatch"
    assert parties == []  # refused before anything was written
