"""From the PSA's landed records to canonical events (``PsaIngestion.translate``): decisions
become events in the PSA's version order, records about what time-expense does not know wait."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from firm import LE_US, PROJECT, WORKER, psa_entry, time_entry
from world import NOW, PSA_INSTANCE, World

from tandem_connectors.inbound import RecordWaits
from tandem_connectors.landing import Landed
from tandem_connectors.ports import PsaExpense
from tandem_contracts import Money
from tandem_contracts.events import (
    ExpenseApproved,
    ExpenseRejected,
    TimeAdjusted,
    TimeApproved,
    TimePosted,
    TimeRejected,
)
from tandem_messaging.testing import Outcome


def landed(record_type: str, record: dict[str, Any], sequence: int = 1) -> Landed:
    return Landed(
        sequence, "psa", PSA_INSTANCE, record_type, str(record["id"]), int(record["version"]),
        "webhook", record,
    )  # fmt: skip


def psa_expense(status: str, version: int) -> PsaExpense:
    return PsaExpense(
        external_id="ex-1", version=version, status=status, resource_id="res-ada",
        worker_id=WORKER, project_id=f"ws-{PROJECT}", expense_date=date(2026, 11, 3),
        category="airfare", amount=Money.of("412.60", "USD"), billable=True,
        markup_multiplier=Decimal(1), receipt_ref=None, updated_at=NOW,
    )  # fmt: skip


async def published_before(acme: World, record_type: str, record: dict[str, Any]) -> None:
    """An earlier version of the record was landed and became an event."""
    await acme.landing.land("psa", PSA_INSTANCE, record_type, record, "webhook")
    key = ("psa", PSA_INSTANCE, record_type, str(record["id"]), int(record["version"]))
    acme.landing.status[key] = "published"


async def test_an_approved_entry_becomes_time_approved_and_posts(acme: World) -> None:
    held = psa_entry(time_entry(), version=3)
    acme.psa.add(held)

    [approved] = await acme.ingestion().translate(landed("time_entry", acme.psa.record_of(held)))

    assert isinstance(approved.payload, TimeApproved)
    entry = approved.payload.entry
    assert (entry.id, entry.project_id, entry.worker_legal_entity_id) == ("te-1", PROJECT, LE_US)
    assert (approved.subject_version, approved.data_residency_region) == (3, "us")
    assert approved.idempotency_key == f"psa:{PSA_INSTANCE}:time_entry:te-1:v3"
    assert await acme.deliver(approved) is Outcome.HANDLED
    assert len(acme.broker.published_of(TimePosted)) == 1


async def test_a_second_revision_with_a_reason_becomes_time_adjusted(acme: World) -> None:
    held = psa_entry(time_entry(), version=2, revision=2, adjustment_reason="capped at 7 h")
    acme.psa.add(held)

    [adjusted] = await acme.ingestion().translate(landed("time_entry", acme.psa.record_of(held)))

    assert isinstance(adjusted.payload, TimeAdjusted)
    assert adjusted.payload.replacement is not None
    assert adjusted.payload.original_entry_id == adjusted.payload.replacement.id == "te-1"


async def test_an_entry_rejected_after_its_approval_was_published_was_approved(
    acme: World,
) -> None:
    await published_before(acme, "time_entry", acme.psa.record_of(psa_entry(time_entry())))
    held = psa_entry(time_entry(), status="rejected", version=2)
    acme.psa.add(held)

    [rejected] = await acme.ingestion().translate(landed("time_entry", acme.psa.record_of(held)))

    assert isinstance(rejected.payload, TimeRejected)
    assert (rejected.payload.was_approved, rejected.payload.project_id) == (True, PROJECT)


async def test_an_entry_rejected_before_any_approval_was_not_approved(acme: World) -> None:
    held = psa_entry(time_entry(), status="rejected", version=2)
    acme.psa.add(held)

    [rejected] = await acme.ingestion().translate(landed("time_entry", acme.psa.record_of(held)))

    assert isinstance(rejected.payload, TimeRejected)
    assert rejected.payload.was_approved is False


async def test_an_expense_approved_then_rejected_becomes_expense_rejected(acme: World) -> None:
    approved = psa_expense("approved", version=1)
    acme.psa.add(approved)
    [first] = await acme.ingestion().translate(landed("expense", acme.psa.record_of(approved)))
    await published_before(acme, "expense", acme.psa.record_of(approved))
    rejected = psa_expense("rejected", version=2)
    acme.psa.add(rejected)

    [second] = await acme.ingestion().translate(landed("expense", acme.psa.record_of(rejected)))

    assert isinstance(first.payload, ExpenseApproved)
    assert isinstance(second.payload, ExpenseRejected)
    assert (second.payload.expense_id, second.payload.was_approved) == ("ex-1", True)


async def test_an_expense_rejected_before_any_approval_becomes_nothing(acme: World) -> None:
    rejected = psa_expense("rejected", version=1)
    acme.psa.add(rejected)

    assert await acme.ingestion().translate(landed("expense", acme.psa.record_of(rejected))) == []


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"project_id": "ws-unknown"}, "project_unknown"),
        ({"worker_id": "w-zed"}, "worker_not_mapped"),
    ],
)
async def test_a_record_about_an_unknown_project_or_worker_waits(
    acme: World, changes: dict[str, Any], why: str
) -> None:
    held = psa_entry(time_entry(), **changes)
    acme.psa.add(held)

    with pytest.raises(RecordWaits, match=why):
        await acme.ingestion().translate(landed("time_entry", acme.psa.record_of(held)))
