"""A worker's time follows its employments: dated after its last day it is refused
(``worker_terminated``), dated before a transfer it posts to the old entity's employee, from the
transfer on to the new one's. The pure checks first, then the story through the consumer."""

from datetime import date, timedelta

import pytest
from firm import (
    LE_UK,
    LE_US,
    MONDAY,
    WORKER,
    activate,
    approval,
    envelope,
    project,
    psa_entry,
    time_entry,
    worker,
)
from world import ERP_INSTANCE, NOW, PSA_INSTANCE, World

from tandem_connectors.directory import employee_key
from tandem_connectors.landing import Landed
from tandem_connectors.ports import ErpObject
from tandem_contracts.events import (
    PostingFailureReason,
    TimeApproved,
    TimePosted,
    TimePostingFailed,
    WorkerTerminated,
    WorkerUpdated,
)
from tandem_messaging.testing import Outcome
from time_expense.domain.checks import (
    Employment,
    check_employee_on,
    check_within_last_day,
    employment_on,
)
from time_expense.domain.errors import DependencyPending, PostingRefused
from time_expense.domain.keys import worker_key

TRANSFER = MONDAY + timedelta(days=2)  # Wednesday
US = Employment(LE_US, date(2024, 1, 8), "erp", "emp-us")
UK = Employment(LE_UK, TRANSFER, "erp", "emp-uk")


# -- the pure checks --------------------------------------------------------------------------


def test_time_on_or_before_the_last_day_passes_and_after_it_is_refused() -> None:
    check_within_last_day(WORKER, MONDAY, MONDAY)
    check_within_last_day(WORKER, MONDAY - timedelta(days=30), MONDAY)
    check_within_last_day(WORKER, MONDAY + timedelta(days=365), None)  # no last day known
    with pytest.raises(PostingRefused) as refused:
        check_within_last_day(WORKER, MONDAY + timedelta(days=1), MONDAY)
    assert refused.value.reason is PostingFailureReason.WORKER_TERMINATED
    assert not isinstance(refused.value, DependencyPending)  # for finance: never posted


def test_the_employment_of_a_work_date_is_the_one_begun_last_by_then() -> None:
    assert employment_on([UK, US], TRANSFER - timedelta(days=1)) == US
    assert employment_on([UK, US], TRANSFER) == UK
    assert employment_on([UK, US], TRANSFER + timedelta(days=400)) == UK
    assert employment_on([UK, US], date(2023, 12, 1)) == US  # before the hire: the first
    assert employment_on([], TRANSFER) is None


def test_the_employee_is_chosen_by_work_date_in_the_instance_posted_to() -> None:
    elsewhere = Employment(LE_UK, TRANSFER, "erp-uk", "emp-uk-2")
    kept = [US, UK, elsewhere]
    assert check_employee_on(WORKER, kept, TRANSFER - timedelta(days=1), "erp") == "emp-us"
    assert check_employee_on(WORKER, kept, TRANSFER, "erp") == "emp-uk"
    assert check_employee_on(WORKER, kept, MONDAY, "erp-uk") == "emp-uk-2"
    # None kept in the instance: the employee linked before employments were kept.
    assert check_employee_on(WORKER, kept, MONDAY, "erp-de", linked="emp-old") == "emp-old"
    with pytest.raises(DependencyPending) as waits:
        check_employee_on(WORKER, kept, MONDAY, "erp-de")
    assert waits.value.reason is PostingFailureReason.WORKER_NOT_MAPPED
    assert waits.value.key == worker_key(WORKER, "erp-de")


# -- through the consumer ---------------------------------------------------------------------


def terminated(last_day: date, version: int = 2) -> WorkerTerminated:
    return WorkerTerminated(
        worker_id=WORKER, legal_entity_id=LE_US, last_day=last_day, terminated_at=NOW
    )


def employee_of(acme: World, entry_id: str) -> str:
    """The ERP employee the entry's line was posted to."""
    [line] = [line for line in acme.erp.lines.values() if line.key.startswith(f"time:{entry_id}:")]
    return line.employee


async def test_time_after_the_last_day_is_held_and_up_to_it_posts(acme: World) -> None:
    last_day = MONDAY + timedelta(days=1)
    before = await acme.deliver(approval(time_entry("te-before", work_date=MONDAY)))
    assert before is Outcome.HANDLED
    assert await acme.deliver(envelope(terminated(last_day), 2)) is Outcome.HANDLED
    on_it = await acme.deliver(approval(time_entry("te-last", work_date=last_day)))
    after = await acme.deliver(approval(time_entry("te-after", work_date=last_day + timedelta(1))))
    # Approved after the termination but dated in employment: posts as before.
    late = await acme.deliver(approval(time_entry("te-late", work_date=MONDAY - timedelta(7))))
    assert (on_it, after, late) == (Outcome.HANDLED, Outcome.PARKED, Outcome.HANDLED)
    posted = {e.payload.time_entry_id for e in acme.broker.published_of(TimePosted)}
    assert posted == {"te-before", "te-last", "te-late"}
    exception = acme.store.open_exceptions()["te-after"]
    assert (exception.reason, exception.retryable) == ("worker_terminated", False)
    [failed] = acme.broker.published_of(TimePostingFailed)
    assert failed.payload.reason is PostingFailureReason.WORKER_TERMINATED
    assert not any(line.key.startswith("time:te-after:") for line in acme.erp.lines.values())


async def test_a_rehire_forgets_the_last_day(acme: World) -> None:
    last_day = MONDAY - timedelta(days=1)
    assert await acme.deliver(envelope(terminated(last_day), 2)) is Outcome.HANDLED
    rehired = WorkerUpdated(
        worker=worker(), changed_fields=("termination_date", "status"), effective_date=MONDAY
    )
    assert await acme.deliver(envelope(rehired, 3)) is Outcome.HANDLED
    assert await acme.deliver(approval(time_entry(work_date=MONDAY))) is Outcome.HANDLED


async def test_a_transfer_posts_time_before_it_to_the_old_employee_and_after_to_the_new(
    acme: World,
) -> None:
    old = acme.erp.keys[(ErpObject.EMPLOYEE, employee_key(WORKER))]
    assert await activate(acme, project("p-hooli", legal_entity_id=LE_UK)) is Outcome.HANDLED
    # Ada moves to Acme UK from Wednesday: time-expense makes her employee there.
    moved = worker(legal_entity_id=LE_UK)
    transfer = WorkerUpdated(
        worker=moved, changed_fields=("legal_entity_id",), effective_date=TRANSFER
    )
    assert await acme.deliver(envelope(transfer, 2, legal_entity_id=LE_UK)) is Outcome.HANDLED
    new = acme.erp.keys[(ErpObject.EMPLOYEE, employee_key(WORKER, LE_UK))]
    assert new != old
    assert acme.erp.employees[new][2] == acme.erp.keys[(ErpObject.COMPANY, LE_UK)]
    # Monday's US time is approved after the transfer: it still books on the US employee.
    monday = time_entry("te-mon", work_date=MONDAY)
    wednesday = time_entry(
        "te-wed", work_date=TRANSFER, project_id="p-hooli", worker_legal_entity_id=LE_UK,
        project_legal_entity_id=LE_UK,
    )  # fmt: skip
    assert await acme.deliver(approval(monday)) is Outcome.HANDLED
    assert await acme.deliver(approval(wednesday)) is Outcome.HANDLED
    assert (employee_of(acme, "te-mon"), employee_of(acme, "te-wed")) == (old, new)
    # The worker's one linked employee is the new one.
    linked = await acme.deps.erps.employee(acme.refs, ERP_INSTANCE, WORKER)
    assert linked == new


async def test_a_transfer_of_a_worker_onboarded_before_employments_were_kept(
    acme: World,
) -> None:
    old = acme.erp.keys[(ErpObject.EMPLOYEE, employee_key(WORKER))]
    acme.store.tables.employments.clear()  # as a database migrated under a running service
    assert await activate(acme, project("p-hooli", legal_entity_id=LE_UK)) is Outcome.HANDLED
    transfer = WorkerUpdated(
        worker=worker(legal_entity_id=LE_UK), changed_fields=("legal_entity_id",),
        effective_date=TRANSFER,
    )  # fmt: skip
    assert await acme.deliver(envelope(transfer, 2, legal_entity_id=LE_UK)) is Outcome.HANDLED
    assert await acme.deliver(approval(time_entry("te-mon", work_date=MONDAY))) is Outcome.HANDLED
    assert employee_of(acme, "te-mon") == old


async def test_time_ingested_after_a_transfer_is_of_the_entity_of_its_work_date(
    acme: World,
) -> None:
    transfer = WorkerUpdated(
        worker=worker(legal_entity_id=LE_UK), changed_fields=("legal_entity_id",),
        effective_date=TRANSFER,
    )  # fmt: skip
    assert await acme.deliver(envelope(transfer, 2, legal_entity_id=LE_UK)) is Outcome.HANDLED
    before, after = time_entry("te-mon", work_date=MONDAY), time_entry("te-wed", work_date=TRANSFER)
    entities = []
    for entry in (before, after):
        held = psa_entry(entry)
        acme.psa.add(held)
        record = acme.psa.record_of(held)
        landed = Landed(1, "psa", PSA_INSTANCE, "time_entry", entry.id, 1, "webhook", record)
        [approved] = await acme.ingestion().translate(landed)
        assert isinstance(approved.payload, TimeApproved)
        entities.append(approved.payload.entry.worker_legal_entity_id)
    # Monday's US time on the US project is no intercompany time: it posts as before.
    assert entities == [LE_US, LE_UK]
