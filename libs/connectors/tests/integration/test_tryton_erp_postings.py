"""TrytonErp reversals, expenses and change polling against a real trytond."""

import datetime as dt
from datetime import UTC, datetime, timedelta

import pytest

from tandem_connectors import RequestRejected
from tandem_connectors.polling import Poller
from tandem_connectors.ports import ExpensePosting, TimeReversal
from tandem_connectors.tryton import TrytonErp
from tandem_contracts import Money
from tandem_contracts.entities import Expense, ExpenseStatus
from tandem_testing import TrytonServer

from .tryton_world import TODAY, client_of, entry, firm


async def test_posted_time_is_reversed_once_and_leaves_nothing_to_bill(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        world = await firm(TrytonErp(client, instance="us"))
        [kept, wrong] = await world.erp.post_time(
            [world.posting(1, 60, TODAY), world.posting(2, 120, TODAY)]
        )
        reversal = TimeReversal(
            wrong.external_id, entry(2, 120, TODAY), world.employees[0], world.project, "rev-2"
        )
        first = await world.erp.reverse_time(reversal)
        again = await world.erp.reverse_time(reversal)
        remaining = await client.search_read(
            "timesheet.line", [["duration", ">", dt.timedelta(0)]], ["id"]
        )
        [marker] = await client.read(
            "timesheet.line", [int(first.external_id)], ["duration", "description", "work.name"]
        )
        lines = await world.erp.time_lines(company=world.company, start=TODAY, end=TODAY)
        draft = await world.erp.create_draft_invoice(project=world.project, key="inv-1")
        # Invoiced time can no longer be reversed in Tryton: finance credits the invoice.
        with pytest.raises(RequestRejected) as invoiced:
            await world.erp.reverse_time(
                TimeReversal(
                    kept.external_id,
                    entry(1, 60, TODAY),
                    world.employees[0],
                    world.project,
                    "rev-1",
                )
            )
    assert first.created
    assert not again.created
    assert again.external_id == first.external_id
    assert [r["id"] for r in remaining] == [int(kept.external_id)]
    assert marker["duration"] == dt.timedelta(0)
    assert marker["description"] == "rev-2"
    assert marker["work."]["name"] == "Tandem reversals"
    assert draft.total == Money.of("150.00", "USD")  # only the kept hour is billed
    # Reconciliation's view: the kept line and the reversal's zero-minute marker, both keyed.
    assert {line.key: line.minutes for line in lines} == {"te-1": 60, "rev-2": 0}
    [kept_line] = [line for line in lines if line.key == "te-1"]
    assert (kept_line.project, kept_line.employee) == (world.project, world.employees[0])
    assert invoiced.value.reason == "time_already_invoiced"


async def test_approved_expenses_post_as_supplier_invoices_once(tryton: TrytonServer) -> None:
    async with client_of(tryton) as client:
        world = await firm(TrytonErp(client, instance="us"))
        postings = [
            ExpensePosting(_expense(n, amount), world.employees[0], world.project, f"ex-{n}")
            for n, amount in ((1, "42.50"), (2, "310.00"))
        ]
        first = await world.erp.post_expenses(postings)
        again = await world.erp.post_expenses(postings)
        rows = await client.read(
            "account.invoice",
            [int(w.external_id) for w in first],
            ["type", "state", "number", "total_amount", "reference", "party"],
        )
        [employee] = await client.read("company.employee", [int(world.employees[0])], ["party"])
    assert [w.created for w in first] == [True, True]
    assert [w.created for w in again] == [False, False]
    assert [w.external_id for w in again] == [w.external_id for w in first]
    assert {r["type"] for r in rows} == {"in"}
    assert {r["state"] for r in rows} == {"posted"}
    assert all(r["number"] for r in rows)
    assert [str(r["total_amount"]) for r in rows] == ["42.50", "310.00"]
    assert [r["reference"] for r in rows] == ["ex-1", "ex-2"]
    assert {r["party"] for r in rows} == {employee["party"]}


async def test_an_expense_in_a_currency_no_company_keeps_posts_in_that_currency(
    tryton: TrytonServer,
) -> None:
    """A US consultant's taxi in Toronto: the company keeps dollars, the receipt says CAD."""
    async with client_of(tryton) as client:
        world = await firm(TrytonErp(client, instance="us"))
        companies = await client.search_read("company.company", [], ["currency.code"])
        [written] = await world.erp.post_expenses(
            [ExpensePosting(_expense(7, "64.20", "CAD"), world.employees[0], world.project, "ex-7")]
        )
        [invoice] = await client.read(
            "account.invoice",
            [int(written.external_id)],
            ["state", "currency.code", "total_amount"],
        )
        cad = await client.search("currency.currency", [["code", "=", "CAD"]])
    assert {c["currency."]["code"] for c in companies} == {"USD"}
    assert written.created
    assert invoice["state"] == "posted"
    assert invoice["currency."]["code"] == "CAD"
    assert str(invoice["total_amount"]) == "64.20"
    assert len(cad) == 1  # made once, at the company's set-up


async def test_polling_timesheet_changes_across_a_restart_loses_and_repeats_nothing(
    tryton: TrytonServer, pool
) -> None:
    await pool.execute("CREATE TABLE read_back (record_key text PRIMARY KEY)")

    async def record(db, page) -> None:
        for change in page:  # the primary key fails on a duplicate
            await db.execute("INSERT INTO read_back (record_key) VALUES ($1)", change.record_key)

    async with client_of(tryton) as client:
        erp = TrytonErp(client, instance="us")
        world = await firm(erp)
        written = await erp.post_time([world.posting(n, 30, TODAY) for n in range(25)])

        def poller() -> Poller:
            later = datetime.now(UTC) + timedelta(minutes=5)
            return Poller(
                pool,
                erp.change_source("timesheet.line"),
                "erp",
                "us",
                "timesheet.line",
                page_size=7,
                lag=timedelta(0),
                clock=lambda: later,
            )

        assert await poller().poll_once(record) == 7
        # A restarted process resumes after the saved watermark; new lines arrive meanwhile.
        more = await erp.post_time([world.posting(n, 30, TODAY) for n in range(25, 40)])
        read = await poller().catch_up(record)
    keys = [r["record_key"] for r in await pool.fetch("SELECT record_key FROM read_back")]
    expected = sorted(f"{int(w.external_id):012d}" for w in [*written, *more])
    assert read == 40 - 7
    assert sorted(keys) == expected


def _expense(n: int, amount: str, currency: str = "USD") -> Expense:
    return Expense(
        id=f"ex-{n}",
        worker_id="w-1",
        project_id="p-1",
        project_legal_entity_id="le-us",
        category="Travel",
        expense_date=TODAY,
        amount=Money.of(amount, currency),
        billable=True,
        status=ExpenseStatus.APPROVED,
    )
