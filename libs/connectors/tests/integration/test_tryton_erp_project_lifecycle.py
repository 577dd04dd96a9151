"""TrytonErp finding customers by key or VAT id, and a project's life after creation
(activate, cancel, close for time, activity), on a real trytond."""

import asyncio
import datetime as dt
from collections.abc import Awaitable

import pytest

from tandem_connectors import NotFound, RequestRejected
from tandem_connectors.ports import ErpObject, ExpensePosting, ProjectActivity, TimePosting
from tandem_connectors.tryton import TrytonClient, TrytonErp
from tandem_contracts import Money
from tandem_contracts.entities import (
    Customer,
    Expense,
    ExpenseStatus,
    TaxProfile,
    WorkItem,
    WorkItemType,
)
from tandem_testing import TrytonServer

from .tryton_world import TODAY, Firm, client_of, entry, firm, project

YESTERDAY = TODAY - dt.timedelta(days=1)


def eu_customer(key: str, vat: str | None, country: str = "DE") -> Customer:
    return Customer(
        id=key, name=f"Customer {key}", legal_entity_id="le-us", country=country,
        currency="EUR", tax_profile=TaxProfile(country=country, vat_id=vat),
    )  # fmt: skip


def expense(n: int, day: dt.date) -> Expense:
    return Expense(
        id=f"ex-{n}", worker_id="w-1", project_id="p-1", project_legal_entity_id="le-us",
        category="Travel", expense_date=day, amount=Money.of("40", "USD"), billable=True,
        status=ExpenseStatus.APPROVED,
    )  # fmt: skip


async def rejection(call: Awaitable[object]) -> str:
    with pytest.raises(RequestRejected) as refused:
        await call
    return refused.value.reason


async def identifiers(client: TrytonClient, party: str) -> list[tuple[str | None, str]]:
    rows = await client.search_read(
        "party.identifier", [["party", "=", int(party)]], ["type", "code_compact"]
    )
    return [(row["type"], row["code_compact"]) for row in rows]


async def test_a_customer_is_found_by_key_or_by_its_vat_id_which_tryton_checks(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        erp = TrytonErp(client, instance="us")
        world = await firm(erp)
        de = await erp.upsert_customer(
            eu_customer("cu-de", "de 136.695.976"), company=world.company, key="cu-de"
        )
        us = await erp.upsert_customer(
            eu_customer("cu-us", "12-3456789", "US"), company=world.company, key="cu-us"
        )
        stored = {"de": await identifiers(client, de.external_id),
                  "us": await identifiers(client, us.external_id)}  # fmt: skip
        found = {
            "key": await erp.find_customer(key="cu-de", tax_id=None, company=world.company),
            "vat": await erp.find_customer(key="x", tax_id="DE136695976", company=world.company),
            "typed": await erp.find_customer(key=None, tax_id="de136 695976", company="0"),
            "us": await erp.find_customer(key=None, tax_id="123456789", company=world.company),
            "none": await erp.find_customer(key=None, tax_id="FR40303265045", company="0"),
            "neither": await erp.find_customer(key=None, tax_id=None, company="0"),
        }
        # An invalid VAT id of an EU customer: Tryton refuses it and no party is made.
        invalid = await rejection(
            erp.upsert_customer(eu_customer("cu-bad", "DE123456789"), company="0", key="cu-bad")
        )
        unmade = await erp.find(ErpObject.CUSTOMER, "cu-bad")
        # Fixed at the source: the same key now writes the right number over the old one.
        fixed = await erp.upsert_customer(
            eu_customer("cu-de", "FR40303265045", "FR"), company=world.company, key="cu-de"
        )
        old = await erp.find_customer(key=None, tax_id="DE136695976", company="0")
        new = await erp.find_customer(key=None, tax_id="FR40303265045", company="0")
        rewritten = await identifiers(client, de.external_id)
        await erp.upsert_customer(
            eu_customer("cu-twin", "FR 403 032 650 45", "FR"), company="0", key="cu-twin"
        )
        ambiguous = await rejection(
            erp.find_customer(key=None, tax_id="FR40303265045", company="0")
        )
    assert stored == {"de": [("eu_vat", "DE136695976")], "us": [(None, "123456789")]}
    assert {name: ref.external_id if ref else None for name, ref in found.items()} == {
        "key": de.external_id,
        "vat": de.external_id,
        "typed": de.external_id,
        "us": us.external_id,
        "none": None,
        "neither": None,
    }
    assert all(ref.object_type == "customer" for ref in found.values() if ref)
    assert invalid == "invalid_tax_id"
    assert unmade is None
    assert (fixed.external_id, fixed.created) == (de.external_id, False)
    assert old is None
    assert new is not None
    assert new.external_id == de.external_id
    assert rewritten == [("eu_vat", "FR40303265045")]
    assert ambiguous == "ambiguous_tax_id"


async def test_a_shell_nothing_was_booked_on_is_cancelled_with_its_reason_and_takes_nothing(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        erp = TrytonErp(client, instance="us")
        world = await firm(erp)
        task = await erp.create_task(
            WorkItem(id="wi-1", project_id="p-1", type=WorkItemType.TASK, name="Discovery"),
            project=world.project,
            key="wi-1",
        )
        active = await erp.activate_project(world.project, key="p-1:activate")
        again = await erp.activate_project(world.project, key="p-1:activate")
        empty = await erp.project_activity(world.project)
        first = await erp.cancel_project(world.project, reason="opportunity lost", key="p-1:c")
        repeat = await erp.cancel_project(world.project, reason="another", key="p-1:c:2")
        works = await client.read(
            "project.work",
            [int(world.project), int(task.external_id)],
            ["status.name", "timesheet_available"],
        )
        notes = await client.search_read(
            "ir.note", [["resource", "=", f"project.work,{world.project}"]], ["message"]
        )
        reasons = [
            await rejection(call)
            for call in (
                erp.post_time([world.posting(1, 60, TODAY)]),
                erp.post_time(
                    [TimePosting(entry(2, 60, TODAY), world.employees[0], task.external_id, "te-2")]
                ),
                erp.post_expenses(
                    [ExpensePosting(expense(1, TODAY), world.employees[0], world.project, "ex-1")]
                ),
                erp.activate_project(world.project, key="p-1:activate:2"),
                erp.close_project_for_time(world.project, closed_from=TODAY, key="p-1:close"),
            )
        ]
        lines = await client.search("timesheet.line", [])
        missing = [
            erp.activate_project("99999", key="k"),
            erp.cancel_project("99999", reason="r", key="k"),
            erp.close_project_for_time("99999", closed_from=TODAY, key="k"),
            erp.project_activity(task.external_id),  # a task is not a project
        ]
        for call in missing:
            with pytest.raises(NotFound):
                await call
    assert (active.external_id, active.created) == (world.project, False)
    assert active.code is not None
    assert again == active
    assert empty == ProjectActivity(time_lines=0, expense_lines=0, invoiced=False)
    assert first == repeat == active
    assert [(w["status."]["name"], w["timesheet_available"]) for w in works] == [
        ("Cancelled", False),
        ("Cancelled", False),
    ]
    assert [note["message"] for note in notes] == ["Cancelled by Tandem: opportunity lost [p-1:c]"]
    assert reasons == [
        "project_closed_for_time",
        "project_closed_for_time",
        "project_closed_for_expenses",
        "project_cancelled",
        "project_cancelled",
    ]
    assert lines == []


async def test_a_project_with_time_is_closed_for_time_from_a_date_and_never_cancelled(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        erp = TrytonErp(client, instance="us")
        world = await firm(erp)
        task = await erp.create_task(
            WorkItem(id="wi-1", project_id="p-1", type=WorkItemType.TASK, name="Build"),
            project=world.project,
            key="wi-1",
        )
        on_task = TimePosting(entry(2, 30, YESTERDAY), world.employees[0], task.external_id, "t2")
        await erp.post_time([world.posting(1, 60, YESTERDAY), on_task])
        [spent] = await erp.post_expenses(
            [ExpensePosting(expense(1, YESTERDAY), world.employees[0], world.project, "ex-1")]
        )
        booked = await erp.project_activity(world.project)
        refused = await rejection(erp.cancel_project(world.project, reason="lost", key="c"))
        closed = await erp.close_project_for_time(world.project, closed_from=TODAY, key="x")
        again = await erp.close_project_for_time(world.project, closed_from=YESTERDAY, key="x2")
        works = await client.read(
            "project.work",
            [int(world.project), int(task.external_id)],
            ["status.name", "timesheet_end_date"],
        )
        # Late approvals of work done before the close still post; from the close on, not.
        [late] = await erp.post_time([world.posting(3, 45, YESTERDAY)])
        reasons = [
            await rejection(call)
            for call in (
                erp.post_time([world.posting(4, 45, TODAY)]),
                erp.post_time(
                    [TimePosting(entry(5, 15, TODAY), world.employees[0], task.external_id, "t5")]
                ),
                erp.post_expenses(
                    [ExpensePosting(expense(2, TODAY), world.employees[0], world.project, "ex-2")]
                ),
                erp.activate_project(world.project, key="p-1:activate"),
            )
        ]
        # Tryton itself holds the line, not only the adapter: a line written directly after
        # the end date breaks the timesheet work's domain.
        [row] = await client.read("project.work", [int(world.project)], ["timesheet_works"])
        [timesheet_work] = row["timesheet_works"]
        with pytest.raises(RequestRejected):
            await client.create(
                "timesheet.line",
                [{"company": int(world.company), "employee": int(world.employees[0]),
                  "work": timesheet_work, "date": TODAY,
                  "duration": dt.timedelta(minutes=10)}],
            )  # fmt: skip
        await erp.create_draft_invoice(project=world.project, key="inv-1")
        invoiced = await erp.project_activity(world.project)
    assert booked == ProjectActivity(time_lines=2, expense_lines=1, invoiced=False)
    assert spent.created
    assert refused == "project_has_activity"
    assert closed == again
    assert (closed.external_id, closed.created) == (world.project, False)
    assert [(w["status."]["name"], w["timesheet_end_date"]) for w in works] == [
        ("Closed for time", YESTERDAY),
        ("Closed for time", YESTERDAY),
    ]
    assert late.created
    assert reasons == [
        "project_closed_for_time",
        "project_closed_for_time",
        "project_closed_for_expenses",
        "project_closed",
    ]
    assert invoiced == ProjectActivity(time_lines=3, expense_lines=1, invoiced=True)


async def test_a_project_of_another_name_is_still_activated_by_its_id(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        erp = TrytonErp(client, instance="us")
        world: Firm = await firm(erp)
        second = await erp.create_project(
            project("Second"), company=world.company, customer=world.customer,
            service=world.service, key="p-2",
        )  # fmt: skip
        # A project someone switched off timesheets in Tryton is opened again by activation.
        await client.write(
            "project.work", [int(second.external_id)], {"timesheet_available": False}
        )
        opened = await erp.activate_project(second.external_id, key="p-2:activate")
        [row] = await client.read(
            "project.work", [int(second.external_id)], ["timesheet_available", "status.name"]
        )
        [posted] = await erp.post_time(
            [TimePosting(entry(1, 60, TODAY), world.employees[0], second.external_id, "te-1")]
        )
    assert (opened.external_id, opened.code) == (second.external_id, second.code)
    assert (row["timesheet_available"], row["status."]["name"]) == (True, "Open")
    assert posted.created


async def test_projects_created_at_once_each_get_their_own_number(tryton: TrytonServer) -> None:
    # Tryton draws each project's number from its sequence; creations at the same moment may
    # draw one twice, which it refuses "must be unique": the adapter draws again.
    async with client_of(tryton) as client:
        erp = TrytonErp(client, instance="us")
        world = await firm(erp)
        shells = [project(f"Rollout {n}").model_copy(update={"id": f"p-{n}"}) for n in range(8)]
        written = await asyncio.gather(*(
            erp.create_project(shell, company=world.company, customer=world.customer,
                               service=world.service, key=f"shell-{shell.id}")
            for shell in shells
        ))  # fmt: skip
        again = await erp.create_project(
            shells[0],
            company=world.company,
            customer=world.customer,
            service=world.service,
            key="shell-p-0",
        )
    codes = [w.code for w in written]
    assert len(set(codes)) == len(shells), codes
    assert all(w.created for w in written)
    assert not again.created
    assert again.external_id == written[0].external_id
