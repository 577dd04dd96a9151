"""Reconciliation of the PSA's approved time against the ERP's lines: what it finds, what it
repairs (only a missing posting), what it leaves out (held entries) and what it announces."""

from dataclasses import replace
from datetime import date

from firm import (
    LE_DE,
    LE_UK,
    LE_US,
    activate,
    approval,
    company_of,
    envelope,
    project,
    psa_entry,
    rejection,
    time_entry,
    worker,
)
from world import PSA_INSTANCE, World

from tandem_connectors.fakes import FakeLine
from tandem_connectors.ports import ErpObject
from tandem_contracts import Money
from tandem_contracts.events import MismatchKind, ReconciliationMismatch, WorkerUpdated
from tandem_messaging.testing import Outcome
from time_expense.service_layer.reconciliation import Report, reconcile_all

NOVEMBER, END = date(2026, 11, 1), date(2026, 11, 30)
Kind = MismatchKind


async def reconcile(acme: World, legal_entity_id: str = LE_US) -> Report:
    reconciler = acme.deps.reconcilers[PSA_INSTANCE]
    return await reconciler.run(legal_entity_id, NOVEMBER, END, repair=True, trigger="request")


def kinds(report: Report) -> list[tuple[Kind, tuple[str, ...]]]:
    """Each mismatch's kind and the entries it names, as found."""
    return [(m.kind, m.entry_ids) for m in report.mismatches]


async def posted_and_approved(acme: World, entry_id: str = "te-1") -> FakeLine:
    """Post an entry the PSA holds approved; answer its ERP line."""
    entry = time_entry(entry_id)
    acme.psa.add(psa_entry(entry))
    assert await acme.deliver(approval(entry)) is Outcome.HANDLED
    return next(line for line in acme.erp.lines.values() if line.key == f"time:{entry_id}:v1")


async def test_posted_time_reconciles_clean(acme: World) -> None:
    await posted_and_approved(acme)

    report = await reconcile(acme)

    assert (report.psa_entries, report.erp_lines, report.mismatches) == (1, 1, [])
    assert acme.store.outbox_of(ReconciliationMismatch) == []
    [run] = acme.store.tables.runs
    assert (run.run_id, run.trigger, run.mismatches) == (report.run_id, "request", [])


async def test_time_never_ingested_is_landed_again_from_the_psa(acme: World) -> None:
    acme.psa.add(psa_entry(time_entry("te-9")))

    report = await reconcile(acme)

    assert kinds(report)[0] == (Kind.MISSING_IN_TARGET, ("te-9",))
    assert report.repaired == ["te-9"]
    landed = ("psa", PSA_INSTANCE, "time_entry", "te-9", 1)
    assert acme.landing.via[landed] == "reconcile"
    assert acme.landing.status[landed] == "pending"


async def test_time_the_erp_lost_is_posted_again_under_its_key(acme: World) -> None:
    lost = await posted_and_approved(acme)
    del acme.erp.lines[lost.external_id], acme.erp.keys[(ErpObject.TIME_LINE, lost.key)]

    report = await reconcile(acme)

    assert kinds(report)[0] == (Kind.MISSING_IN_TARGET, ("te-1",))
    assert report.repaired == ["te-1"]
    [again] = acme.erp.lines.values()
    assert (again.key, again.minutes) == ("time:te-1:v1", 480)
    linked = await acme.refs.external_id(
        "time_entry", "te-1", system="erp", instance=acme.erp.instance, object_type="time_line"
    )
    assert linked == again.external_id


async def test_time_reposted_by_reconciliation_can_still_be_reversed(acme: World) -> None:
    lost = await posted_and_approved(acme)
    del acme.erp.lines[lost.external_id], acme.erp.keys[(ErpObject.TIME_LINE, lost.key)]
    await reconcile(acme)

    assert await acme.deliver(rejection(time_entry(), version=2)) is Outcome.HANDLED
    assert sum(line.minutes for line in acme.erp.lines.values()) == 0


async def test_doubled_time_in_the_erp_is_reported_not_repaired(acme: World) -> None:
    line = await posted_and_approved(acme)
    acme.erp.lines["x-2"] = replace(line, external_id="x-2", key="time:te-1:v1:again")

    report = await reconcile(acme)

    assert (Kind.DUPLICATE_IN_TARGET, ("te-1",)) in kinds(report)
    assert report.repaired == []
    assert len(acme.erp.lines) == 2


async def test_minutes_that_differ_are_reported(acme: World) -> None:
    await posted_and_approved(acme)
    acme.psa.add(psa_entry(time_entry(), minutes=450))  # the PSA holds less than was posted

    report = await reconcile(acme)

    [mismatch] = [m for m in report.mismatches if m.entry_ids == ("te-1",)]
    assert (mismatch.kind, mismatch.source_value, mismatch.target_value) == (
        Kind.MINUTES_DIFFER, "450 min", "480 min",
    )  # fmt: skip
    assert not mismatch.repairable
    assert report.repaired == []


async def test_an_amount_that_differs_is_reported(acme: World) -> None:
    line = await posted_and_approved(acme)
    acme.erp.lines[line.external_id] = replace(line, amount=Money.of("1100.00", "USD"))

    report = await reconcile(acme)

    [mismatch] = report.mismatches
    assert (mismatch.kind, mismatch.scope_key) == (
        Kind.AMOUNT_DIFFERS,
        "amount:p-globex:2026-11:USD",
    )
    assert (mismatch.source_value, mismatch.target_value) == ("1200.00 USD", "1100.00 USD")


async def test_an_erp_line_keyed_by_hand_is_missing_in_the_source_and_left_alone(
    acme: World,
) -> None:
    line = await posted_and_approved(acme)
    by_hand = replace(line, external_id="h-1", key="", minutes=120, amount=None)
    acme.erp.lines["h-1"] = by_hand

    report = await reconcile(acme)

    [mismatch] = [m for m in report.mismatches if m.entry_ids == ("erp:h-1",)]
    assert (mismatch.kind, mismatch.repairable) == (Kind.MISSING_IN_SOURCE, False)
    assert report.repaired == []
    assert "h-1" in acme.erp.lines


async def test_entries_held_as_exceptions_or_waiting_to_be_ingested_are_left_out(
    acme: World,
) -> None:
    refused = time_entry("te-5", role_id="r-architect")  # no rate: parked for finance
    acme.psa.add(psa_entry(refused), psa_entry(time_entry("te-6")))
    assert await acme.deliver(approval(refused)) is Outcome.PARKED
    waiting = ("psa", PSA_INSTANCE, "time_entry", "te-6", 1)  # landed, waiting for its worker
    await acme.landing.land(*waiting[:3], acme.psa.record_of(acme.psa.entries["te-6"]), "poll")
    acme.landing.notes[waiting] = "worker_not_mapped: worker w-ada is not onboarded yet"

    report = await reconcile(acme)

    assert (report.held, report.psa_entries, report.mismatches) == (2, 0, [])


async def test_every_mismatch_is_announced_in_the_run_order(acme: World) -> None:
    acme.psa.add(psa_entry(time_entry("te-9")))

    report = await reconcile(acme)

    announced = acme.store.outbox_of(ReconciliationMismatch)
    assert len(announced) == len(report.mismatches) == 3
    assert {e.payload.run_id for e in announced} == {report.run_id}
    assert [e.payload.kind for e in announced] == [m.kind for m in report.mismatches]
    assert {e.subject_version for e in announced} == {len(acme.store.tables.runs)}


async def test_the_scheduled_job_reconciles_every_entity_for_two_months(acme: World) -> None:
    await activate(acme, project("p-uk", legal_entity_id=LE_UK))
    acme.psa.add(psa_entry(time_entry("te-9")))

    found = await reconcile_all(acme.deps.reconcilers, acme.deps.transactions)

    runs = [(run.legal_entity_id, run.start, run.trigger) for run in acme.store.tables.runs]
    assert runs == [
        (LE_UK, date(2026, 10, 1), "schedule"), (LE_UK, NOVEMBER, "schedule"),
        (LE_US, date(2026, 10, 1), "schedule"), (LE_US, NOVEMBER, "schedule"),
    ]  # fmt: skip
    assert found == 3  # te-9 missing: the entry, its scope's count and minutes


async def test_the_scheduled_job_reconciles_the_others_while_one_entity_has_no_company(
    acme: World,
) -> None:
    await activate(acme, project("p-initech", legal_entity_id=LE_DE))
    assert company_of(acme, LE_DE) is None

    await reconcile_all(acme.deps.reconcilers, acme.deps.transactions)

    assert {run.legal_entity_id for run in acme.store.tables.runs} == {LE_US}


async def test_time_posted_to_a_worker_s_employee_before_a_transfer_still_reconciles(
    acme: World,
) -> None:
    await posted_and_approved(acme)
    # Ada moves to Acme UK: her US employee is no longer the one linked to her.
    moved = worker(legal_entity_id=LE_UK)
    transfer = WorkerUpdated(
        worker=moved, changed_fields=("legal_entity_id",), effective_date=date(2026, 11, 16)
    )
    assert await acme.deliver(envelope(transfer, 2, legal_entity_id=LE_UK)) is Outcome.HANDLED

    report = await reconcile(acme)

    assert (report.psa_entries, report.erp_lines, report.mismatches) == (1, 1, [])
