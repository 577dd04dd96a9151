"""The in-memory fakes keep the ports' contracts, so unit tests on them mean what they say."""

import datetime as dt
from typing import Any

import pytest

from tandem_connectors import PeriodClosed, RequestRejected, SystemUnavailable
from tandem_connectors.fakes import FakeCrossReferences, FakeErp
from tandem_connectors.ports import ErpObject, ExpensePosting, ExpenseReversal, TimePosting
from tandem_connectors.xref import XrefConflict
from tandem_contracts import ExternalRef, SystemKind
from tandem_contracts.entities import Expense, LegalEntity, PeriodStatus, Project, TimeEntry
from tandem_contracts.samples import sample_envelopes

SAMPLES = {envelope.event_type: envelope.payload for envelope in sample_envelopes()}
ENTRY: TimeEntry = SAMPLES["TimeApproved"].entry  # worked 2026-10-26
EXPENSE: Expense = SAMPLES["ExpenseApproved"].expense  # spent 2026-10-25
PROJECT: Project = SAMPLES["ProjectShellCreated"].project
LE_US = LegalEntity(
    id="le-us", name="Acme Consulting Inc.", country="US", functional_currency="USD",
    data_residency_region="us",
)  # fmt: skip


async def erp_with_a_project() -> tuple[FakeErp, str, str]:
    """A fake ERP (periods of 2025 to 2027) holding the US company and one project of it."""
    erp = FakeErp(today=dt.date(2026, 10, 1))
    company = (await erp.ensure_legal_entity(LE_US, key=LE_US.id)).external_id
    project = await erp.create_project(
        PROJECT, company=company, customer="c-1", service=None, key=PROJECT.id
    )
    return erp, company, project.external_id


async def test_the_same_key_twice_answers_the_same_record_not_created_again() -> None:
    erp, company, project = await erp_with_a_project()
    again = await erp.ensure_legal_entity(LE_US, key=LE_US.id)
    assert (again.external_id, again.created) == (company, False)
    shell = await erp.create_project(
        PROJECT, company=company, customer="c-1", service=None, key=PROJECT.id
    )
    assert (shell.external_id, shell.created, shell.code) == (project, False, f"P-{project}")

    posting = TimePosting(ENTRY, employee="e-1", work=project, key="te-0901:v1")
    first, repeated = await erp.post_time([posting, posting])
    assert first.created
    assert (repeated.ref, repeated.created) == (first.ref, False)
    [later] = await erp.post_time([posting])  # a redelivery in another call
    assert (later.ref, later.created) == (first.ref, False)
    assert [line.key for line in erp.lines.values()] == ["te-0901:v1"]


async def test_find_answers_what_a_key_wrote_and_nothing_for_an_unused_key() -> None:
    erp, company, _ = await erp_with_a_project()
    found = await erp.find(ErpObject.COMPANY, LE_US.id)
    assert found is not None
    assert found == ExternalRef(
        system=SystemKind.ERP, instance="erp-fake", object_type="company", external_id=company
    )
    assert await erp.find(ErpObject.COMPANY, "le-nowhere") is None
    assert await erp.find(ErpObject.PROJECT, LE_US.id) is None  # keys are per kind


async def test_posting_time_into_a_closed_period_refuses_the_whole_call() -> None:
    erp, company, project = await erp_with_a_project()
    erp.close_period(company, ENTRY.work_date, PeriodStatus.CLOSED)
    november = ENTRY.model_copy(update={"id": "te-1101", "work_date": dt.date(2026, 11, 2)})
    postings = [
        TimePosting(november, employee="e-1", work=project, key="te-1101:v1"),
        TimePosting(ENTRY, employee="e-1", work=project, key="te-0901:v1"),
    ]
    with pytest.raises(PeriodClosed) as refused:
        await erp.post_time(postings)
    assert refused.value.reason == "period_closed"
    assert erp.lines == {}  # not even the November entry, whose period is open
    # The period reopened, the same call posts both.
    erp.close_period(company, ENTRY.work_date, PeriodStatus.OPEN)
    assert [w.created for w in await erp.post_time(postings)] == [True, True]


async def test_an_expense_is_reversed_once_whatever_the_key() -> None:
    erp, _, project = await erp_with_a_project()
    [posted] = await erp.post_expenses(
        [ExpensePosting(EXPENSE, employee="e-1", project=project, key="exp-0311:v1")]
    )
    reversal = ExpenseReversal(posted.external_id, EXPENSE, key="exp-0311:reversal")
    first = await erp.reverse_expense(reversal)
    again = await erp.reverse_expense(reversal)  # a redelivery: the same reversal
    assert first.created
    assert (again.ref, again.created) == (first.ref, False)
    with pytest.raises(RequestRejected) as twice:
        await erp.reverse_expense(ExpenseReversal(posted.external_id, EXPENSE, key="other-key"))
    assert twice.value.reason == "already_reversed"
    with pytest.raises(RequestRejected) as of_a_reversal:
        await erp.reverse_expense(ExpenseReversal(first.external_id, EXPENSE, key="third-key"))
    assert of_a_reversal.value.reason == "already_reversed"
    amounts = [line.amount.amount for line in erp.lines.values() if line.amount]
    assert sorted(amounts) == [-EXPENSE.amount.amount, EXPENSE.amount.amount]


async def test_a_down_erp_refuses_every_call_and_a_refused_key_its_write() -> None:
    erp, _, _ = await erp_with_a_project()
    erp.refuse["le-uk"] = RequestRejected("erp_rejected", "no chart for GB")
    uk = LE_US.model_copy(update={"id": "le-uk", "country": "GB"})
    with pytest.raises(RequestRejected, match="no chart for GB"):
        await erp.ensure_legal_entity(uk, key="le-uk")
    erp.down = True
    with pytest.raises(SystemUnavailable):
        await erp.find(ErpObject.COMPANY, LE_US.id)
    assert erp.calls == {"ensure_legal_entity": 2, "create_project": 1, "find": 1}


def ref(external_id: str, object_type: str = "project") -> ExternalRef:
    return ExternalRef(
        system=SystemKind.ERP, instance="tryton-us", object_type=object_type,
        external_id=external_id,
    )  # fmt: skip


WHERE: dict[str, Any] = {"system": "erp", "instance": "tryton-us", "object_type": "project"}


async def test_cross_references_are_unique_both_ways() -> None:
    refs = FakeCrossReferences()
    await refs.link("project", "prj-1", ref("17"))
    await refs.link("project", "prj-1", ref("17"))  # the same pair again: idempotent
    with pytest.raises(XrefConflict):  # the record claimed by another entity
        await refs.link("project", "prj-2", ref("17"))
    with pytest.raises(XrefConflict):  # the entity given a second record
        await refs.link("project", "prj-1", ref("18"))
    assert await refs.external_id("project", "prj-1", **WHERE) == "17"
    assert await refs.external_id("project", "prj-2", **WHERE) is None
    assert await refs.canonical_id("project", **WHERE, external_id="18") is None
    assert await refs.canonical_id("work_item", **WHERE, external_id="17") is None


async def test_a_conflicting_batch_keeps_none_of_its_links() -> None:
    refs = FakeCrossReferences()
    await refs.link("project", "prj-1", ref("17"))
    with pytest.raises(XrefConflict):
        await refs.link_many("project", [("prj-2", ref("20")), ("prj-3", ref("17"))])
    with pytest.raises(XrefConflict):  # one record named for two entities in one batch
        await refs.link_many("project", [("prj-4", ref("40")), ("prj-5", ref("40"))])
    assert refs.by_entity == {("project", "prj-1", "erp", "tryton-us", "project"): "17"}
    assert list(refs.by_record) == [("erp", "tryton-us", "project", "17")]


async def test_one_entity_named_for_two_records_in_one_batch_is_refused() -> None:
    refs = FakeCrossReferences()
    with pytest.raises(XrefConflict):
        await refs.link_many("project", [("prj-1", ref("17")), ("prj-1", ref("18"))])
    assert refs.by_record == {}


async def test_unlinking_frees_both_sides_and_links_by_hand_are_audited() -> None:
    refs = FakeCrossReferences()
    await refs.link_by_hand("project", "prj-1", ref("17"), actor="ops@acme", why="ticket 42")
    assert refs.audit == [("project", "prj-1", ref("17"), "ops@acme", "ticket 42")]
    assert await refs.unlink("project", "prj-1", **WHERE)
    assert not await refs.unlink("project", "prj-1", **WHERE)
    await refs.link("project", "prj-2", ref("17"))  # the record is free again
    await refs.link("project", "prj-1", ref("18"))  # and so is the entity
    assert await refs.canonical_id("project", **WHERE, external_id="17") == "prj-2"
