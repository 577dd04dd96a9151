"""Reconciliation finds every disagreement between approved and posted time, and only those."""

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tandem_contracts.events import MismatchKind
from time_expense.domain.reconcile import ApprovedTime, Mismatch, PostedTime, reconcile

DAY = date(2026, 10, 6)


def approved(
    entry: str, minutes: int = 60, worker: str = "w1", amount: str | None = None
) -> ApprovedTime:
    return ApprovedTime(
        entry,
        "p1",
        worker,
        DAY,
        minutes,
        Decimal(amount) if amount else None,
        "EUR" if amount else None,
    )


def posted(
    entry: str, minutes: int = 60, worker: str = "w1", amount: str | None = None
) -> PostedTime:
    return PostedTime(
        entry,
        "p1",
        worker,
        DAY,
        minutes,
        Decimal(amount) if amount else None,
        "EUR" if amount else None,
    )


def kinds(found: list[Mismatch]) -> list[tuple[MismatchKind, str]]:
    return [(m.kind, m.scope_key) for m in found]


def test_matching_sides_have_no_mismatch_even_after_a_reversal_and_repost() -> None:
    psa = [approved("e1", 45), approved("e2", 120)]
    erp = [posted("e1", 60), posted("e1", -60), posted("e1", 45), posted("e2", 120)]
    assert reconcile(psa, erp) == []


def test_a_missing_posting_is_repairable_and_names_its_entry() -> None:
    found = reconcile([approved("e1"), approved("e2")], [posted("e1")])
    entry = [m for m in found if m.scope_key == "entry:e2"]
    assert [(m.kind, m.repairable, m.entry_ids) for m in entry] == [
        (MismatchKind.MISSING_IN_TARGET, True, ("e2",))
    ]
    assert (MismatchKind.COUNT_DIFFERS, "scope:p1:w1:2026-10") in kinds(found)
    assert (MismatchKind.MINUTES_DIFFER, "scope:p1:w1:2026-10") in kinds(found)


def test_a_reversed_but_still_approved_entry_is_missing() -> None:
    found = reconcile([approved("e1")], [posted("e1"), posted("e1", -60)])
    assert kinds(found)[0] == (MismatchKind.MISSING_IN_TARGET, "entry:e1")


def test_time_the_psa_does_not_hold_as_approved_is_reported_not_repaired() -> None:
    [entry, *_] = reconcile([], [posted("e9", 30)])
    assert (entry.kind, entry.repairable, entry.target_value) == (
        MismatchKind.MISSING_IN_SOURCE,
        False,
        "30 min",
    )


def test_a_doubled_line_is_a_duplicate_and_changed_minutes_differ() -> None:
    found = reconcile(
        [approved("e1"), approved("e2", 90)], [posted("e1"), posted("e1"), posted("e2", 60)]
    )
    assert (MismatchKind.DUPLICATE_IN_TARGET, "entry:e1") in kinds(found)
    assert (MismatchKind.MINUTES_DIFFER, "entry:e2") in kinds(found)


def test_amounts_are_compared_per_project_period_and_currency() -> None:
    found = reconcile([approved("e1", amount="150.00")], [posted("e1", amount="149.99")])
    assert kinds(found) == [(MismatchKind.AMOUNT_DIFFERS, "amount:p1:2026-10:EUR")]
    assert (found[0].source_value, found[0].target_value) == ("150.00 EUR", "149.99 EUR")


entries = st.dictionaries(
    st.sampled_from([f"e{i}" for i in range(12)]), st.sampled_from([15, 30, 60, 480]), max_size=12
)


@given(entries, st.sets(st.sampled_from([f"e{i}" for i in range(12)])))
def test_exactly_the_entries_left_unposted_are_reported_missing(
    psa: dict[str, int], lost: set[str]
) -> None:
    approved_time = [approved(e, m, worker=f"w{int(e[1:]) % 3}") for e, m in psa.items()]
    erp = [posted(e, m, worker=f"w{int(e[1:]) % 3}") for e, m in psa.items() if e not in lost]
    found = reconcile(approved_time, erp)
    missing = {m.entry_ids[0] for m in found if m.kind is MismatchKind.MISSING_IN_TARGET}
    assert missing == lost & psa.keys()
    assert all(m.kind is not MismatchKind.DUPLICATE_IN_TARGET for m in found)
    assert (found == []) == (not lost & psa.keys())
