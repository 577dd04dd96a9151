"""Whatever the PSA decides, in whatever order of versions, the ERP ends up agreeing exactly."""

from dataclasses import dataclass, field
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from tandem_contracts.entities import TimeEntry, TimeEntryStatus
from time_expense.domain.ledger import (
    EntryLedger,
    Post,
    Reverse,
    Stage,
    adjusted,
    approved,
    rejected,
)


def entry(minutes: int = 60, entry_id: str = "te-1") -> TimeEntry:
    return TimeEntry(
        id=entry_id,
        worker_id="w-1",
        worker_legal_entity_id="le-us",
        project_id="p-1",
        project_legal_entity_id="le-us",
        work_date=date(2026, 10, 5),
        duration_minutes=minutes,
        billable=True,
        status=TimeEntryStatus.APPROVED,
    )


@dataclass
class FakeErp:
    """Posted lines by idempotency key; a reversal is a line of the opposite sign."""

    lines: dict[str, tuple[str, int]] = field(default_factory=dict)
    repeated: int = 0

    def apply(self, ledger: EntryLedger, commands: list[Post | Reverse]) -> EntryLedger:
        for command in commands:
            sign = -1 if isinstance(command, Reverse) else 1
            self.repeated += command.key in self.lines
            self.lines.setdefault(
                command.key, (command.entry.id, sign * command.entry.duration_minutes)
            )
            ledger = ledger.mark_reversed() if sign < 0 else ledger.mark_posted(command)  # type: ignore[arg-type]
        return ledger

    def net_minutes(self, entry_id: str) -> int:
        return sum(minutes for owner, minutes in self.lines.values() if owner == entry_id)


def test_approval_posts_once_and_a_redelivered_approval_posts_nothing() -> None:
    erp = FakeErp()
    ledger, commands = approved(None, entry(90), 1)
    assert [type(c) for c in commands] == [Post]
    ledger = erp.apply(ledger, commands)
    again, more = approved(ledger, entry(90), 1)
    assert more == []
    assert again.stage is Stage.POSTED
    assert erp.net_minutes("te-1") == 90


def test_rejection_after_posting_reverses_the_posted_line() -> None:
    erp = FakeErp()
    ledger = erp.apply(*approved(None, entry(120), 1))
    ledger, commands = rejected(ledger, "te-1", 2)
    assert [type(c) for c in commands] == [Reverse]
    ledger = erp.apply(ledger, commands)
    assert ledger.stage is Stage.REVERSED
    assert erp.net_minutes("te-1") == 0
    assert len(erp.lines) == 2  # the original stays; finance sees the correction


def test_rejection_before_posting_posts_nothing() -> None:
    ledger, commands = rejected(None, "te-1", 3)
    assert commands == []
    assert ledger.stage is Stage.REJECTED
    late_approval, more = approved(ledger, entry(), 2)
    assert more == []
    assert late_approval.stage is Stage.REJECTED


def test_an_adjustment_reverses_and_replaces_never_edits() -> None:
    erp = FakeErp()
    ledger = erp.apply(*approved(None, entry(60), 1))
    [ledger], commands = adjusted(ledger, "te-1", entry(45), 2)
    assert [type(c) for c in commands] == [Reverse, Post]
    ledger = erp.apply(ledger, commands)
    assert erp.net_minutes("te-1") == 45
    assert ledger.posted is not None
    assert ledger.posted.entry.duration_minutes == 45


def test_a_replacement_under_a_new_id_withdraws_the_original() -> None:
    erp = FakeErp()
    original = erp.apply(*approved(None, entry(60), 1))
    ledgers, commands = adjusted(original, "te-1", entry(30, "te-2"), 2)
    assert [led.entry_id for led in ledgers] == ["te-1", "te-2"]
    assert [type(c) for c in commands] == [Reverse, Post]
    for command in commands:
        erp.lines[command.key] = (
            command.entry.id,
            (-1 if isinstance(command, Reverse) else 1) * command.entry.duration_minutes,
        )
    assert (erp.net_minutes("te-1"), erp.net_minutes("te-2")) == (0, 30)


decisions = st.lists(
    st.one_of(
        st.tuples(st.just("approve"), st.sampled_from([15, 30, 60, 480])),
        st.tuples(st.just("reject"), st.just(0)),
        st.tuples(st.just("adjust"), st.sampled_from([0, 45, 120])),
    ),
    min_size=1,
    max_size=8,
)


@given(decisions, st.data())
def test_the_erp_ends_equal_to_the_psa_whatever_happens(
    history: list[tuple[str, int]], data: st.DataObject
) -> None:
    """Any history, delivered with duplicates and stale versions mixed in, nets to the PSA."""
    erp, ledger = FakeErp(), None
    delivered = []
    for version, (kind, minutes) in enumerate(history, start=1):
        delivered.append((version, kind, minutes))
        if data.draw(st.booleans()):
            delivered.append((data.draw(st.integers(1, version)), kind, minutes))
    psa_minutes = 0
    for version, kind, minutes in delivered:
        if kind == "approve":
            new, commands = approved(ledger, entry(minutes), version)
        elif kind == "reject":
            new, commands = rejected(ledger, "te-1", version)
        else:
            [new], commands = adjusted(ledger, "te-1", entry(minutes) if minutes else None, version)
        ledger = erp.apply(new, commands)
    for kind, minutes in history:
        psa_minutes = 0 if kind == "reject" else minutes
    assert erp.net_minutes("te-1") == psa_minutes
    assert erp.repeated == 0  # no posting was ever asked for twice
