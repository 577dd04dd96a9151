"""The fakes keep the project-lifecycle and customer-lookup contracts of the ports (the same
behaviour the REST adapters show against the sandbox and TrytonErp against Tryton)."""

import datetime as dt

import pytest

from tandem_connectors import NotFound, RequestRejected
from tandem_connectors.fakes import FakeCrm, FakeErp, FakePsa
from tandem_connectors.ports import (
    CrmAccount,
    ExpensePosting,
    PsaProjectActivity,
    PsaTimeEntry,
    TimePosting,
)
from tandem_connectors.taxids import compact_tax_id
from tandem_contracts.entities import Customer, TaxProfile

from .test_fakes_contract import ENTRY, EXPENSE, PROJECT, erp_with_a_project

DAY = ENTRY.work_date  # 2026-10-26


def customer(key: str, vat: str | None) -> Customer:
    return Customer(
        id=key, name=f"Customer {key}", legal_entity_id="le-de", country="DE", currency="EUR",
        tax_profile=TaxProfile(country="DE", vat_id=vat),
    )  # fmt: skip


def time_on(project: str, n: int, day: dt.date) -> TimePosting:
    entry = ENTRY.model_copy(update={"id": f"te-{n}", "work_date": day})
    return TimePosting(entry, employee="e-1", work=project, key=f"te-{n}:v1")


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("de 136.695.976", "DE136695976"),
        ("NL-0044 95445/B01", "NL004495445B01"),
        ("  fr40303265045 ", "FR40303265045"),
    ],
)
def test_a_tax_id_is_compared_compact_and_upper_case(typed: str, kept: str) -> None:
    assert compact_tax_id(typed) == kept


async def test_find_customer_by_key_first_then_by_tax_id_within_the_company() -> None:
    erp = FakeErp()
    made = await erp.upsert_customer(customer("cu-1", "DE136695976"), company="1", key="cu-1")
    await erp.upsert_customer(customer("cu-2", "FR40303265045"), company="2", key="cu-2")
    by_key = await erp.find_customer(key="cu-1", tax_id=None, company="1")
    by_tax = await erp.find_customer(key="cu-unknown", tax_id="de 136 695 976", company="1")
    elsewhere = await erp.find_customer(key=None, tax_id="FR40303265045", company="1")
    nothing = await erp.find_customer(key=None, tax_id=None, company="1")
    assert by_key is not None
    assert by_key.external_id == made.external_id
    assert by_tax == by_key
    assert elsewhere is None  # the other company's customer
    assert nothing is None
    await erp.upsert_customer(customer("cu-3", "DE136695976"), company="1", key="cu-3")
    with pytest.raises(RequestRejected) as twice:
        await erp.find_customer(key=None, tax_id="DE136695976", company="1")
    assert twice.value.reason == "ambiguous_tax_id"
    # The key still finds its own customer, whatever the tax id says.
    assert await erp.find_customer(key="cu-1", tax_id="DE136695976", company="1") == by_key


async def test_a_shell_without_activity_is_cancelled_once_and_then_takes_nothing() -> None:
    erp, _, project = await erp_with_a_project()
    active = await erp.activate_project(project, key="act-1")
    again = await erp.activate_project(project, key="act-1")
    assert (active.external_id, active.created, active.code) == (project, False, f"P-{project}")
    assert again == active
    assert (await erp.project_activity(project)).empty

    first = await erp.cancel_project(project, reason="opportunity lost", key="cancel-1")
    repeat = await erp.cancel_project(project, reason="another reason", key="cancel-2")
    assert first == repeat == active
    assert erp.cancel_reasons[project] == "opportunity lost"
    reasons = []
    for call in (
        erp.post_time([time_on(project, 1, DAY)]),
        erp.post_expenses([ExpensePosting(EXPENSE, "e-1", project, "ex-1")]),
        erp.activate_project(project, key="act-2"),
        erp.close_project_for_time(project, closed_from=DAY, key="close-1"),
    ):
        with pytest.raises(RequestRejected) as refused:
            await call
        reasons.append(refused.value.reason)
    assert reasons == [
        "project_closed_for_time",
        "project_closed_for_expenses",
        "project_cancelled",
        "project_cancelled",
    ]
    assert erp.lines == {}


async def test_a_project_with_time_is_closed_for_time_from_a_date_never_cancelled() -> None:
    erp, _, project = await erp_with_a_project()
    await erp.post_time([time_on(project, 1, DAY)])
    await erp.post_expenses([ExpensePosting(EXPENSE, "e-1", project, "ex-1")])
    activity = await erp.project_activity(project)
    assert (activity.time_lines, activity.expense_lines, activity.invoiced) == (1, 1, False)
    with pytest.raises(RequestRejected) as refused:
        await erp.cancel_project(project, reason="lost", key="cancel-1")
    assert refused.value.reason == "project_has_activity"
    assert erp.project_status[project] == "open"

    closed_from = DAY + dt.timedelta(days=1)
    await erp.close_project_for_time(project, closed_from=closed_from, key="close-1")
    await erp.close_project_for_time(project, closed_from=DAY, key="close-2")  # keeps the first
    assert erp.closed_from[project] == closed_from
    [late] = await erp.post_time([time_on(project, 2, DAY)])  # worked before: still taken
    assert late.created
    with pytest.raises(RequestRejected) as after:
        await erp.post_time([time_on(project, 3, closed_from)])
    assert after.value.reason == "project_closed_for_time"
    with pytest.raises(RequestRejected) as reopened:
        await erp.activate_project(project, key="act-1")
    assert reopened.value.reason == "project_closed"
    await erp.create_draft_invoice(project=project, key="inv-1")
    assert (await erp.project_activity(project)).invoiced


async def test_project_calls_on_an_unknown_project_are_not_found() -> None:
    erp, psa = FakeErp(), FakePsa()
    for call in (
        erp.activate_project("404", key="k"),
        erp.cancel_project("404", reason="r", key="k"),
        erp.close_project_for_time("404", closed_from=DAY, key="k"),
        erp.project_activity("404"),
        psa.activate_project("404", key="k"),
        psa.cancel_project("404", key="k"),
        psa.close_project("404", key="k"),
        psa.project_activity("404"),
    ):
        with pytest.raises(NotFound):
            await call


async def test_the_fake_psa_cancels_only_an_unbooked_project_and_closes_the_others() -> None:
    psa = FakePsa()
    booked = (await psa.create_project(PROJECT, key="prj-1")).external_id
    empty = (await psa.create_project(PROJECT, key="prj-2")).external_id
    await psa.activate_project(booked, key="a-1")
    psa.add(psa_entry(booked))
    assert await psa.project_activity(booked) == PsaProjectActivity(1, 0, 0)
    with pytest.raises(RequestRejected) as refused:
        await psa.cancel_project(booked, key="c-1")
    assert refused.value.reason == "project_has_activity"
    await psa.close_project(booked, key="x-1")
    await psa.close_project(booked, key="x-1")
    await psa.cancel_project(empty, key="c-2")
    await psa.cancel_project(empty, key="c-2")
    assert psa.statuses == {booked: "completed", empty: "cancelled"}
    reasons = []
    for call in (
        psa.activate_project(empty, key="a-2"),
        psa.close_project(empty, key="x-2"),
        psa.activate_project(booked, key="a-3"),
    ):
        with pytest.raises(RequestRejected) as caught:
            await call
        reasons.append(caught.value.reason)
    assert reasons == ["project_cancelled", "project_cancelled", "project_closed"]


async def test_the_fake_crm_links_an_account_to_one_erp_customer_only() -> None:
    crm = FakeCrm()
    crm.add(ACCOUNT)
    first = await crm.link_customer(ACCOUNT.external_id, erp_customer_id="cus-1", key="l-1")
    again = await crm.link_customer(ACCOUNT.external_id, erp_customer_id="cus-1", key="l-1")
    linked = await crm.account(ACCOUNT.external_id)
    assert (first.ref.object_type, first.created, first.code) == ("account", False, None)
    assert again == first
    assert (linked.erp_customer_id, linked.version) == ("cus-1", ACCOUNT.version + 1)
    assert linked.tax_id == "DE136695976"
    with pytest.raises(RequestRejected) as other:
        await crm.link_customer(ACCOUNT.external_id, erp_customer_id="cus-2", key="l-2")
    assert other.value.reason == "account_linked"
    with pytest.raises(NotFound):
        await crm.link_customer("acc-404", erp_customer_id="cus-1", key="l-3")
    record = await crm.record("accounts", ACCOUNT.external_id)
    assert await crm.read_account(record) == linked


ACCOUNT = CrmAccount(
    external_id="acc-1", version=1, name="Globex AG", country="DE", currency="EUR",
    billing_address=None, industry=None, erp_customer_id=None,
    updated_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC), tax_id="DE136695976",
)  # fmt: skip


def psa_entry(project: str) -> PsaTimeEntry:
    return PsaTimeEntry(
        external_id="tme-1", version=1, revision=1, status="draft", resource_id="usr-1",
        worker_id="w-1", role_id=None, project_id=project, task_id=None, timesheet_id=None,
        work_date=DAY, minutes=60, billable=True, bill_rate=None, notes=None,
        updated_at=dt.datetime(2026, 10, 26, tzinfo=dt.UTC),
    )  # fmt: skip
