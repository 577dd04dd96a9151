"""TrytonErp finding records by their keys, and reversing posted expenses, on a real trytond."""

from decimal import Decimal

import pytest

from tandem_connectors import NotFound, PeriodClosed, RequestRejected
from tandem_connectors.ports import ErpObject, ExpensePosting, ExpenseReversal, Written
from tandem_connectors.tryton import TrytonClient, TrytonErp
from tandem_contracts import Money
from tandem_contracts.entities import Expense, ExpenseStatus, WorkItem, WorkItemType
from tandem_testing import TrytonServer

from .tryton_world import TODAY, Firm, client_of, firm


async def test_find_answers_what_each_keyed_write_answered_and_none_otherwise(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        erp = TrytonErp(client, instance="us")
        world = await firm(erp)
        item = WorkItem(id="wi-1", project_id="p-1", type=WorkItemType.TASK, name="Discovery")
        task = await erp.create_task(item, project=world.project, key="wi-1")
        written = {
            (ErpObject.COMPANY, "le-us"): world.company,
            (ErpObject.CUSTOMER, "cu-globex"): world.customer,
            (ErpObject.SERVICE, "svc-senior"): world.service,
            (ErpObject.EMPLOYEE, "w-0"): world.employees[0],
            (ErpObject.PROJECT, "p-1"): world.project,
            (ErpObject.TASK, "wi-1"): task.external_id,
        }
        found = {pair: await erp.find(*pair) for pair in written}
        # Unknown keys, and keys another kind was written under, find nothing.
        missing = [
            await erp.find(kind, key)
            for kind, key in [
                (ErpObject.COMPANY, "le-xx"),
                (ErpObject.CUSTOMER, "cu-nobody"),
                (ErpObject.SERVICE, "svc-none"),
                (ErpObject.EMPLOYEE, "w-9"),
                (ErpObject.PROJECT, "p-9"),
                (ErpObject.TASK, "wi-9"),
                (ErpObject.CUSTOMER, "w-0"),  # the employee's party
                (ErpObject.CUSTOMER, "le-us"),  # the company's party
                (ErpObject.TASK, "p-1"),  # a project, not a task
                (ErpObject.PROJECT, "wi-1"),
            ]
        ]
        with pytest.raises(RequestRejected) as unsupported:
            await erp.find(ErpObject.PERIOD, "inv-1")
    assert {pair: ref.external_id if ref else None for pair, ref in found.items()} == written
    assert all(ref is not None and ref.instance == "us" for ref in found.values())
    assert {pair[0].value: ref.object_type for pair, ref in found.items() if ref} == {
        kind.value: kind.value for kind, _ in written
    }
    assert missing == [None] * len(missing)
    assert unsupported.value.reason == "unsupported"


async def test_a_posted_expense_is_credited_once_and_the_credit_cannot_be_reversed(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        world = await firm(TrytonErp(client, instance="us"))
        [kept, wrong] = await _post(world, ("42.50", "310.00"))
        reversal = ExpenseReversal(wrong.external_id, _expense(2, "310.00"), "ex-2:reversal")
        first = await world.erp.reverse_expense(reversal)
        again = await world.erp.reverse_expense(reversal)
        [credit] = await client.read(
            "account.invoice",
            [int(first.external_id)],
            ["type", "state", "number", "total_amount", "reference", "party", "invoice_date"],
        )
        [original] = await client.read(
            "account.invoice", [int(wrong.external_id)], ["state", "party"]
        )
        refused = [
            # The same expense again under another key, and the credit note itself.
            ExpenseReversal(wrong.external_id, _expense(2, "310.00"), "ex-2:second"),
            ExpenseReversal(first.external_id, _expense(2, "310.00"), "ex-2:undo"),
        ]
        reasons = []
        for attempt in refused:
            with pytest.raises(RequestRejected) as caught:
                await world.erp.reverse_expense(attempt)
            reasons.append(caught.value.reason)
        with pytest.raises(NotFound):
            await world.erp.reverse_expense(ExpenseReversal("99999", _expense(3, "1"), "ex-3:r"))
        untouched = await client.read("account.invoice", [int(kept.external_id)], ["state"])
        credits = await client.search("account.invoice", [["total_amount", "<", 0]])
    assert first.created
    assert first.ref.object_type == ErpObject.EXPENSE_LINE
    assert (again.external_id, again.created) == (first.external_id, False)
    assert credit["type"] == "in"
    assert credit["state"] == "posted"
    assert credit["number"]
    assert credit["total_amount"] == Decimal("-310.00")
    assert credit["reference"] == "ex-2:reversal"
    assert credit["party"] == original["party"]
    assert credit["invoice_date"] == TODAY
    assert original["state"] == "posted"  # never edited in place
    assert reasons == ["already_reversed", "already_reversed"]
    assert untouched == [{"id": int(kept.external_id), "state": "posted"}]
    assert credits == [int(first.external_id)]


async def test_a_reimbursed_expense_is_still_credited_and_the_employee_owes_it_back(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        world = await firm(TrytonErp(client, instance="us"))
        [posted] = await _post(world, ("84.20",))
        await _pay(client, int(posted.external_id), int(world.company))
        reversed_ = await world.erp.reverse_expense(
            ExpenseReversal(posted.external_id, _expense(1, "84.20"), "ex-1:reversal")
        )
        rows = await client.read(
            "account.invoice",
            [int(posted.external_id), int(reversed_.external_id)],
            ["state", "amount_to_pay"],
        )
    [paid, credit] = rows
    assert reversed_.created
    assert paid["state"] == "paid"
    assert (credit["state"], credit["amount_to_pay"]) == ("posted", Decimal("-84.20"))


async def test_a_retry_after_a_crash_adopts_the_unkeyed_credit_note(tryton: TrytonServer) -> None:
    async with client_of(tryton) as client:
        world = await firm(TrytonErp(client, instance="us"))
        [posted] = await _post(world, ("19.99",))
        invoice = int(posted.external_id)
        # The first attempt ran the credit wizard, then crashed before keying its credit note.
        context = {"active_model": "account.invoice", "active_id": invoice, "active_ids": [invoice]}
        async with client.wizard("account.invoice.credit", context=context) as execute:
            result = await execute("credit", {"start": {"with_refund": False}})
        [orphan] = result["actions"][0][1]["res_id"]
        retried = await world.erp.reverse_expense(
            ExpenseReversal(posted.external_id, _expense(1, "19.99"), "ex-1:reversal")
        )
        [credit] = await client.read(
            "account.invoice", [orphan], ["state", "reference", "invoice_date"]
        )
        credits = await client.search("account.invoice", [["total_amount", "<", 0]])
    assert retried.external_id == str(orphan)
    assert (credit["state"], credit["reference"]) == ("posted", "ex-1:reversal")
    assert credit["invoice_date"] == TODAY
    assert credits == [orphan]


async def test_a_reversal_dated_in_a_closed_period_is_period_closed(tryton: TrytonServer) -> None:
    async with client_of(tryton) as client:
        erp = TrytonErp(client, instance="us")
        world = await firm(erp)
        [posted] = await _post(world, ("12.00",))
        await erp.close_period(world.company, TODAY)
        with pytest.raises(PeriodClosed) as caught:
            await erp.reverse_expense(
                ExpenseReversal(posted.external_id, _expense(1, "12.00"), "ex-1:reversal")
            )
    assert caught.value.reason == "period_closed"


async def _post(world: Firm, amounts: tuple[str, ...]) -> list[Written]:
    postings = [
        ExpensePosting(_expense(n, amount), world.employees[0], world.project, f"ex-{n}")
        for n, amount in enumerate(amounts, start=1)
    ]
    return await world.erp.post_expenses(postings)


async def _pay(client: TrytonClient, invoice: int, company: int) -> None:
    """Reimburse the employee in cash with Tryton's pay wizard."""
    [cash] = await client.search("account.journal", [["type", "=", "cash"]], limit=1)
    domain = [["company", "=", company], ["name", "=", "Cash and Cash Equivalents"]]
    [account] = await client.search("account.account", domain, limit=1)
    method = {
        "name": "Cash",
        "company": company,
        "journal": cash,
        "credit_account": account,
        "debit_account": account,
    }
    [made] = await client.create("account.invoice.payment.method", [method])
    context = {"active_model": "account.invoice", "active_id": invoice, "active_ids": [invoice]}
    async with client.wizard("account.invoice.pay", context=context) as execute:
        start = (await execute("start", {}))["view"]["defaults"]
        form = {k: v for k, v in start.items() if not k.endswith(".")}
        await execute("choice", {"start": {**form, "payment_method": made, "description": "paid"}})


def _expense(n: int, amount: str) -> Expense:
    return Expense(
        id=f"ex-{n}",
        worker_id="w-1",
        project_id="p-1",
        project_legal_entity_id="le-us",
        category="Travel",
        expense_date=TODAY,
        amount=Money.of(amount, "USD"),
        billable=True,
        status=ExpenseStatus.APPROVED,
    )
