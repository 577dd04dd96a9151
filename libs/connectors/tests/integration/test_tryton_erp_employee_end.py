"""TrytonErp ends an employee at a last day against a real trytond: once, and time after it is
refused with its reason."""

import datetime as dt

import pytest

from tandem_connectors import NotFound, RequestRejected
from tandem_connectors.tryton import TrytonErp
from tandem_testing import TrytonServer

from .tryton_world import TODAY, client_of, firm

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
