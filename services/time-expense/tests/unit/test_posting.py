"""Approved time to the ERP: posted once, batched per lane, reversed and replaced, held while
the ERP is down, parked when the ERP refuses it."""

from datetime import timedelta
from decimal import Decimal

from firm import MONDAY, activate, adjustment, approval, project, rejection, time_entry
from world import ERP_INSTANCE, World

from tandem_connectors.errors import RequestRejected
from tandem_contracts import Money
from tandem_contracts.events import PostingFailureReason, TimePosted, TimePostingFailed
from tandem_messaging.testing import Outcome
from time_expense.domain import Stage

USD = "USD"


async def xref_of(acme: World, entry_id: str) -> str | None:
    """The ERP time line an entry stands for, in the cross-references."""
    return await acme.refs.external_id(
        "time_entry", entry_id, system="erp", instance=ERP_INSTANCE, object_type="time_line"
    )


def minutes_in_erp(acme: World) -> list[int]:
    return [line.minutes for line in acme.erp.lines.values()]


async def test_approved_time_posts_once_priced_and_announced(acme: World) -> None:
    approved = approval(time_entry())

    # The approval arrives, then the broker redelivers it.
    assert await acme.deliver(approved) is Outcome.HANDLED
    assert await acme.deliver(approved) is Outcome.DUPLICATE

    [line] = acme.erp.lines.values()
    assert (line.key, line.minutes, line.posted_on) == ("time:te-1:v1", 480, time_entry().work_date)
    assert line.amount == Money.of("1200.00", USD)
    journal = acme.store.tables.journal["time:te-1:v1"]
    assert (journal.kind, journal.erp_id, journal.late) == ("post", line.external_id, False)
    assert (journal.bill_amount, journal.cost_amount) == (Decimal("1200.00"), Decimal("560.00"))
    [posted] = acme.broker.published_of(TimePosted)
    assert posted.payload.bill_amount == Money.of("1200.00", USD)
    assert posted.payload.cost_amount == Money.of("560.00", USD)
    assert posted.payload.erp_ref.external_id == line.external_id
    assert await xref_of(acme, "te-1") == line.external_id
    ledger = acme.store.ledger("te-1")
    assert ledger is not None
    assert ledger.stage is Stage.POSTED


async def test_the_same_approval_again_at_a_later_version_posts_nothing_new(acme: World) -> None:
    await acme.deliver(approval(time_entry(), version=1))

    assert await acme.deliver(approval(time_entry(), version=2)) is Outcome.HANDLED

    assert len(acme.erp.lines) == 1
    assert len(acme.broker.published_of(TimePosted)) == 1


async def test_a_redelivery_after_a_lost_commit_writes_nothing_new_to_the_erp(acme: World) -> None:
    approved = approval(time_entry())
    acme.store.failing_commits = 1

    # The ERP took the line, then the transaction was lost: nothing of it was kept.
    assert await acme.deliver(approved) is Outcome.RETRY
    assert len(acme.erp.lines) == 1
    assert acme.store.tables.journal == {}
    assert acme.store.ledger("te-1") is None

    # The redelivery writes under the same key: the ERP answers the line it holds.
    assert await acme.deliver(approved) is Outcome.HANDLED
    [line] = acme.erp.lines.values()
    assert acme.store.tables.journal["time:te-1:v1"].erp_id == line.external_id
    assert len(acme.broker.published_of(TimePosted)) == 1


async def test_a_lane_batch_writes_its_postings_in_one_erp_call(acme: World) -> None:
    week = [time_entry(f"te-{n}", work_date=MONDAY + timedelta(days=n)) for n in (0, 1, 2)]

    published = await acme.batch(*(approval(entry) for entry in week))

    assert acme.erp.calls["post_time"] == 1
    assert sorted(line.key for line in acme.erp.lines.values()) == [
        "time:te-0:v1", "time:te-1:v1", "time:te-2:v1",
    ]  # fmt: skip
    assert len(acme.store.tables.journal) == 3
    assert [e.payload.time_entry_id for e in published] == ["te-0", "te-1", "te-2"]


async def test_a_rejection_in_the_same_batch_reverses_the_posting_written_first(
    acme: World,
) -> None:
    entry = time_entry()

    await acme.batch(approval(entry, version=1), rejection(entry, version=2))

    assert minutes_in_erp(acme) == [480, -480]
    ledger = acme.store.ledger("te-1")
    assert ledger is not None
    assert ledger.stage is Stage.REVERSED


async def test_time_rejected_after_posting_is_reversed_never_edited(acme: World) -> None:
    entry = time_entry()
    await acme.deliver(approval(entry, version=1))

    assert await acme.deliver(rejection(entry, version=2)) is Outcome.HANDLED

    posting, reversal = acme.erp.lines.values()
    assert (posting.minutes, reversal.minutes) == (480, -480)
    assert reversal.reverses == posting.external_id
    journal = acme.store.tables.journal["time:te-1:v1:reversed-at-v2"]
    assert (journal.kind, journal.minutes) == ("reversal", -480)
    assert journal.bill_amount == Decimal("-1200.00")
    [_, reversed_] = acme.broker.published_of(TimePosted)
    assert reversed_.payload.reversal_of == "te-1"
    assert reversed_.payload.erp_ref.external_id == reversal.external_id
    assert await xref_of(acme, "te-1") is None
    ledger = acme.store.ledger("te-1")
    assert ledger is not None
    assert (ledger.stage, ledger.posted) == (Stage.REVERSED, None)


async def test_time_rejected_before_it_posted_leaves_the_erp_alone(acme: World) -> None:
    # Approved while its project is not open for time yet: it waits.
    entry = time_entry(project_id="p-initech")
    assert await acme.deliver(approval(entry, version=1)) is Outcome.WAITING

    assert await acme.deliver(rejection(entry, version=2)) is Outcome.HANDLED

    # The project opens: the approval it released is older than the rejection, and dropped.
    assert await activate(acme, project("p-initech")) is Outcome.HANDLED
    assert acme.erp.lines == {}
    assert acme.store.open_exceptions() == {}
    assert acme.broker.published_of(TimePosted) == []


async def test_time_rejected_before_it_posted_is_recorded_as_rejected(acme: World) -> None:
    entry = time_entry(project_id="p-initech")
    await acme.deliver(approval(entry, version=1))

    await acme.deliver(rejection(entry, version=2))

    ledger = acme.store.ledger(entry.id)
    assert ledger is not None
    assert ledger.stage is Stage.REJECTED


async def test_adjusted_time_is_reversed_and_its_replacement_posted(acme: World) -> None:
    await acme.deliver(approval(time_entry(), version=1))
    replacement = time_entry("te-1-a1", duration_minutes=420)

    assert await acme.deliver(adjustment("te-1", replacement, version=2)) is Outcome.HANDLED

    assert minutes_in_erp(acme) == [480, -480, 420]
    posted = [
        (e.payload.time_entry_id, e.payload.reversal_of)
        for e in acme.broker.published_of(TimePosted)
    ]
    assert posted == [("te-1", None), ("te-1", "te-1"), ("te-1-a1", None)]
    original, new = acme.store.ledger("te-1"), acme.store.ledger("te-1-a1")
    assert original is not None
    assert original.stage is Stage.REVERSED
    assert new is not None
    assert new.stage is Stage.POSTED
    assert acme.store.tables.journal["time:te-1-a1:v2"].minutes == 420


async def test_time_adjusted_in_place_moves_its_cross_reference_to_the_new_line(
    acme: World,
) -> None:
    await acme.deliver(approval(time_entry(), version=1))

    await acme.deliver(adjustment("te-1", time_entry(duration_minutes=420), version=2))

    assert minutes_in_erp(acme) == [480, -480, 420]
    [new_line] = [line for line in acme.erp.lines.values() if line.key == "time:te-1:v2"]
    assert await xref_of(acme, "te-1") == new_line.external_id


async def test_a_stale_approval_is_dropped(acme: World) -> None:
    await acme.deliver(approval(time_entry(duration_minutes=420), version=2))

    assert await acme.deliver(approval(time_entry(), version=1)) is Outcome.STALE

    assert minutes_in_erp(acme) == [420]


async def test_time_is_held_while_the_erp_is_down_then_posts(acme: World) -> None:
    approved = approval(time_entry())
    acme.erp.down = True

    assert await acme.deliver(approved) is Outcome.HELD

    assert acme.erp.lines == {}
    assert acme.store.tables.journal == {}
    assert acme.store.ledger("te-1") is None
    assert acme.store.open_exceptions() == {}
    assert acme.broker.published == []
    assert acme.broker.parked == []

    # The ERP is back: the held message is tried again and posts.
    acme.erp.down = False
    assert await acme.deliver(approved) is Outcome.HANDLED
    assert len(acme.erp.lines) == 1


async def test_time_the_erp_refuses_is_parked_as_erp_rejected(acme: World) -> None:
    acme.erp.refuse["time:te-1:v1"] = RequestRejected("invalid_employee", "employee inactive")

    assert await acme.deliver(approval(time_entry())) is Outcome.PARKED

    assert acme.erp.lines == {}
    assert acme.store.tables.journal == {}
    [failed] = acme.broker.published_of(TimePostingFailed)
    assert failed.payload.reason is PostingFailureReason.ERP_REJECTED
    assert failed.payload.retryable is False
    exception = acme.store.open_exceptions()["te-1"]
    assert (exception.reason, exception.waiting_for) == ("erp_rejected", None)
