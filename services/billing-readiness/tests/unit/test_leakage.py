"""Revenue leakage (DOMAIN.md §5): billable value not invoiced after N days, cap overage held
or written off, time billed below the rate card; reversals are never leakage."""

from datetime import timedelta
from typing import Any

from billing_readiness.domain import (
    ChargeLine,
    ChargeView,
    Leak,
    Policy,
    charge_time,
    find_leaks,
    reverse_charge,
)
from tandem_contracts.entities import BillingModel
from tandem_contracts.events import HoldReason, LeakageKind
from tandem_testing import sibling_module

_builders = sibling_module(__file__, "billing_builders.py", "billing_readiness_unit_builders")
DAY = _builders.DAY
POLICY = _builders.POLICY
ledger = _builders.ledger
money = _builders.money
terms = _builders.terms
time = _builders.time

TODAY = DAY + timedelta(days=30)
NONE: frozenset[HoldReason] = frozenset()


def charged(entry_id: str, minutes: int = 60, *, days_ago: int = 30, **kw: Any) -> ChargeLine:
    day = TODAY - timedelta(days=days_ago)
    entry = time(minutes=minutes, time_entry_id=entry_id, accounting_date=day)
    [line] = charge_time(entry, terms(), ledger(), POLICY, NONE)
    return line._replace(**kw)


def leaks(views: list[ChargeView], rates: dict[str, str] | None = None) -> list[Leak]:
    standard = {charge_id: money(rate) for charge_id, rate in (rates or {}).items()}
    return find_leaks(views, today=TODAY, after_days=10, standard_rates=standard)


def test_billable_value_not_invoiced_after_n_days_leaks() -> None:
    old, older, recent = (
        charged("te-1"),
        charged("te-2", 30, days_ago=40),
        charged("te-3", days_ago=10),
    )
    done = charged("te-4")
    views = [ChargeView(c, False) for c in (old, older, recent)] + [ChargeView(done, True)]
    assert leaks(views) == [
        Leak(
            "prj-1", LeakageKind.NOT_INVOICED, money("225.00"), (older.id, old.id), older.bill_date
        )
    ]


def test_held_charges_leak_too_but_non_billable_and_intercompany_ones_do_not() -> None:
    held = charged("te-1", holds=frozenset({HoldReason.CREDIT_HOLD}))
    free = charged("te-2", billable=False)
    sister = charged("te-3", intercompany=True)
    [leak] = leaks([ChargeView(c, False) for c in (held, free, sister)])
    assert (leak.kind, leak.amount, leak.item_ids) == (
        LeakageKind.NOT_INVOICED, money("150.00"), (held.id,),
    )  # fmt: skip


def test_a_reversed_charge_and_its_reversal_are_not_leakage() -> None:
    old = charged("te-1")
    undone = reverse_charge(old, reversal_source_id="te-1-rev", on=TODAY - timedelta(days=20))
    assert leaks([ChargeView(old, False), ChargeView(undone, False)]) == []
    assert leaks([ChargeView(old, True), ChargeView(undone, False)]) == []


def test_cap_overage_held_or_written_off_is_cap_exceeded() -> None:
    capped = terms(BillingModel.CAPPED_TM, cap=money("100.00"))
    day = TODAY - timedelta(days=3)
    held = charge_time(time(accounting_date=day), capped, ledger(), POLICY, NONE)
    written = charge_time(
        time(time_entry_id="te-2", accounting_date=day), capped, ledger("150.00"),
        Policy(overage="write_off"), NONE,
    )  # fmt: skip
    views = [ChargeView(c, False) for c in held + written]
    [leak] = leaks(views)
    assert (leak.kind, leak.amount, leak.oldest) == (LeakageKind.CAP_EXCEEDED, money("200.00"), day)
    assert leak.item_ids == tuple(sorted((held[1].id, written[0].id)))
    approved = held[1]._replace(holds=NONE)
    assert leaks([ChargeView(approved, False)]) == []
    by_hand = held[1]._replace(holds=NONE, billable=False, note="written off by usr-7")
    [leak] = leaks([ChargeView(by_hand, False)])
    assert (leak.kind, leak.amount) == (LeakageKind.CAP_EXCEEDED, money("50.00"))


def test_a_charge_a_person_wrote_off_was_never_invoiced() -> None:
    disputed = charged("te-1", billable=False, note="written off by usr-7")
    [leak] = leaks([ChargeView(disputed, False)])
    assert (leak.kind, leak.amount) == (LeakageKind.NOT_INVOICED, money("150.00"))


def test_time_billed_below_its_rate_card_leaks_the_difference() -> None:
    cheap = charged("te-1", 90, days_ago=2, rate=money("120.00"))
    fair = charged("te-2", days_ago=2)
    drawn = charged("te-3", days_ago=2, billable=False, note="retainer drawdown")
    standard = charged("te-4", days_ago=2, billable=False)
    rates = {c.id: "150.00" for c in (cheap, fair, drawn, standard)}
    [leak] = leaks([ChargeView(c, False) for c in (cheap, fair, drawn, standard)], rates)
    # (150 - 120) x 1.5 h; the drawdown is at 150; standard value only is not billed at all
    assert (leak.kind, leak.amount, leak.item_ids) == (
        LeakageKind.BELOW_RATE_CARD, money("45.00"), (cheap.id,),
    )  # fmt: skip


def test_leaks_are_reported_per_project_then_kind() -> None:
    first = charged("te-1", rate=money("100.00"))
    second = charged("te-2", project_id="prj-0")
    views = [ChargeView(first, False), ChargeView(second, False)]
    found = leaks(views, {first.id: "150.00"})
    assert [(leak.project_id, leak.kind) for leak in found] == [
        ("prj-0", LeakageKind.NOT_INVOICED),
        ("prj-1", LeakageKind.NOT_INVOICED),
        ("prj-1", LeakageKind.BELOW_RATE_CARD),
    ]
    assert found[2].amount == money("50.00")
