"""Charges per billing model (DOMAIN.md §2.5, §4.5): T&M, capped T&M (reached, crossed, already
exceeded; hold or write-off), retainer drawdown, fixed fee, milestone, expenses, intercompany
time, reversals, and the fee schedule."""

from datetime import date
from decimal import Decimal

import pytest

from billing_readiness.domain import (
    NOTE_CAP_HELD,
    NOTE_CAP_WRITTEN_OFF,
    NOTE_RETAINER_DRAWDOWN,
    CurrencyMismatch,
    MilestoneUndated,
    MissingRate,
    Policy,
    cap_usage,
    charge_expense,
    charge_id,
    charge_instalment,
    charge_milestone,
    charge_time,
    fixed_fee_schedule,
    ledger_of,
    reverse_charge,
)
from tandem_contracts.entities import (
    BillingModel,
    ChargeSource,
    Milestone,
    MilestoneStatus,
    MilestoneTrigger,
)
from tandem_contracts.events import HoldReason
from tandem_testing import sibling_module

_builders = sibling_module(__file__, "billing_builders.py", "billing_readiness_unit_builders")
DAY = _builders.DAY
POLICY = _builders.POLICY
expense = _builders.expense
ledger = _builders.ledger
money = _builders.money
terms = _builders.terms
time = _builders.time
total = _builders.total

CREDIT = frozenset({HoldReason.CREDIT_HOLD})
CAPPED = terms(BillingModel.CAPPED_TM, cap=money("1000.00"))
WRITE_OFF = Policy(overage="write_off")


def test_time_and_materials_charges_minutes_times_rate_rounded_once() -> None:
    [line] = charge_time(time(minutes=50, rate="99.99"), terms(), ledger(), POLICY, CREDIT)
    assert line.amount == money("83.33")  # 50 x 99.99 / 60 = 83.325 -> half up
    assert line.quantity == Decimal(50) / 60
    assert line.rate == money("99.99")
    assert (line.billable, line.holds, line.source) == (True, CREDIT, ChargeSource.TIME)
    assert (line.bill_date, line.period) == (DAY, "2026-10")
    assert line.id == charge_id(ChargeSource.TIME, "te-1")


def test_late_time_bills_in_the_period_it_was_posted_to() -> None:
    late = time(work_date=date(2026, 9, 30), accounting_date=date(2026, 10, 1))
    [line] = charge_time(late, terms(), ledger(), POLICY, frozenset())
    assert (line.bill_date, line.period) == (date(2026, 10, 1), "2026-10")


def test_a_frozen_amount_without_rate_is_charged_as_is() -> None:
    entry = time(minutes=90, rate=None, bill_amount=money("200.00"))
    [line] = charge_time(entry, terms(), ledger(), POLICY, frozenset())
    assert line.amount == money("200.00")
    assert line.rate == money("133.33")


def test_a_billable_entry_without_rate_nor_amount_is_not_charged() -> None:
    with pytest.raises(MissingRate) as missing:
        charge_time(time(rate=None), terms(), ledger(), POLICY, frozenset())
    assert (missing.value.code, missing.value.time_entry_id) == ("missing_rate", "te-1")


def test_a_non_billable_entry_is_counted_but_not_billed() -> None:
    [line] = charge_time(time(billable=False), terms(), ledger(), POLICY, CREDIT)
    assert (line.billable, line.holds, line.amount) == (False, frozenset(), money("150.00"))
    [unrated] = charge_time(time(rate=None, billable=False), terms(), ledger(), POLICY, CREDIT)
    assert unrated.amount == money(0)


def test_time_in_another_currency_than_the_project_is_refused() -> None:
    with pytest.raises(CurrencyMismatch) as refused:
        charge_time(time(currency="EUR"), terms(), ledger(), POLICY, frozenset())
    assert refused.value.code == "currency_mismatch"


@pytest.mark.parametrize("model", [BillingModel.FIXED_FEE, BillingModel.MILESTONE])
def test_time_on_fixed_fee_and_milestone_projects_is_standard_value_only(
    model: BillingModel,
) -> None:
    [line] = charge_time(time(), terms(model), ledger(), POLICY, CREDIT)
    assert (line.billable, line.amount, line.holds) == (False, money("150.00"), frozenset())


def test_capped_time_exactly_reaching_the_cap_has_no_overage() -> None:
    lines = charge_time(time(minutes=120), CAPPED, ledger("700.00"), POLICY, CREDIT)
    assert [(c.amount, c.billable, c.holds) for c in lines] == [(money("300.00"), True, CREDIT)]


def test_capped_time_crossing_the_cap_holds_the_overage() -> None:
    within, over = charge_time(time(minutes=120), CAPPED, ledger("800.00"), POLICY, CREDIT)
    assert (within.amount, within.holds, within.note) == (money("200.00"), CREDIT, None)
    assert (over.amount, over.billable, over.note) == (money("100.00"), True, NOTE_CAP_HELD)
    assert over.holds == CREDIT | {HoldReason.CAP_REACHED}
    assert over.id == charge_id(ChargeSource.TIME, "te-1", "overage")
    assert within.quantity + over.quantity == 2
    assert within.quantity == Decimal(2) * 200 / 300


def test_capped_time_crossing_the_cap_writes_the_overage_off_when_the_policy_says_so() -> None:
    within, over = charge_time(time(minutes=120), CAPPED, ledger("800.00"), WRITE_OFF, CREDIT)
    assert within.amount == money("200.00")
    assert (over.amount, over.billable, over.holds) == (money("100.00"), False, frozenset())
    assert over.note == NOTE_CAP_WRITTEN_OFF


def test_capped_time_after_the_cap_is_all_overage() -> None:
    [over] = charge_time(time(), CAPPED, ledger("1200.00"), POLICY, frozenset())
    assert (over.amount, over.holds) == (money("150.00"), frozenset({HoldReason.CAP_REACHED}))
    assert over.id == charge_id(ChargeSource.TIME, "te-1", "overage")


def test_capped_expenses_count_against_the_cap_like_time() -> None:
    within, over = charge_expense(expense("300.00"), CAPPED, ledger("900.00"), POLICY, CREDIT)
    assert (within.amount, over.amount) == (money("100.00"), money("200.00"))
    assert HoldReason.CAP_REACHED in over.holds


def test_retainer_time_draws_down_then_bills_beyond_the_balance() -> None:
    retainer = terms(BillingModel.RETAINER, total_value=money("5000.00"))
    [drawn] = charge_time(time(), retainer, ledger(drawn="1000.00"), POLICY, CREDIT)
    assert (drawn.billable, drawn.note, drawn.holds) == (False, NOTE_RETAINER_DRAWDOWN, frozenset())
    inside, beyond = charge_time(
        time(minutes=240), retainer, ledger(drawn="4800.00"), POLICY, CREDIT
    )
    assert (inside.amount, inside.billable) == (money("200.00"), False)
    assert (beyond.amount, beyond.billable, beyond.holds) == (money("400.00"), True, CREDIT)
    assert beyond.id == charge_id(ChargeSource.TIME, "te-1", "beyond-retainer")


def test_expenses_are_rebilled_with_markup_under_every_model() -> None:
    for model in BillingModel:
        lines = charge_expense(
            expense("80.05", markup=Decimal("1.15")),
            terms(model, total_value=money("10"), cap=money("1000")),
            ledger(drawn="10"), POLICY, CREDIT,
        )  # fmt: skip
        assert [(c.amount, c.billable, c.category) for c in lines] == [
            (money("92.06"), True, "travel")  # 80.05 x 1.15 = 92.0575
        ]
    [free] = charge_expense(expense(billable=False), terms(), ledger(), POLICY, CREDIT)
    assert (free.billable, free.holds) == (False, frozenset())


def test_intercompany_time_also_charges_the_project_entity_at_cost_plus_markup() -> None:
    entry = time(worker_entity="le-uk", project_entity="le-us", cost_amount=money("80.00", "GBP"))
    allowed = Policy(intercompany_pairs=frozenset({("le-uk", "le-us")}))
    customer, sister = charge_time(entry, terms(), ledger(), allowed, CREDIT)
    assert (customer.amount, customer.intercompany, customer.holds) == (
        money("150.00"), False, CREDIT,
    )  # fmt: skip
    assert sister.amount == money("88.00", "GBP")
    assert (sister.seller_entity, sister.buyer_entity) == ("le-uk", "le-us")
    assert (sister.intercompany, sister.billable, sister.holds) == (True, True, frozenset())
    assert sister.id == charge_id(ChargeSource.TIME, "te-1", "intercompany")
    _, held = charge_time(entry, terms(), ledger(), POLICY, CREDIT)
    assert held.holds == frozenset({HoldReason.INTERCOMPANY_NOT_ALLOWED})


def test_same_entity_or_costless_time_has_no_intercompany_charge() -> None:
    same = time(worker_entity="le-us", project_entity="le-us", cost_amount=money("80.00"))
    costless = time(worker_entity="le-uk", project_entity="le-us")
    for entry in (same, costless):
        assert len(charge_time(entry, terms(), ledger(), POLICY, frozenset())) == 1


def test_a_reversal_cancels_each_charge_of_an_entry_with_its_own_id() -> None:
    lines = charge_time(time(minutes=120), CAPPED, ledger("800.00"), POLICY, CREDIT)
    on = date(2026, 11, 3)
    reversals = [reverse_charge(c, reversal_source_id="te-1-rev", on=on) for c in lines]
    assert len({r.id for r in reversals}) == 2
    for original, reversal in zip(lines, reversals, strict=True):
        assert reversal.amount == -original.amount
        assert reversal.quantity == -original.quantity
        assert (reversal.rate, reversal.billable) == (original.rate, original.billable)
        assert (reversal.reverses, reversal.holds) == (original.id, frozenset())
        assert (reversal.bill_date, reversal.period, reversal.source_id) == (
            on, "2026-11", "te-1-rev",
        )  # fmt: skip
    assert total(lines + reversals) == money(0)
    assert cap_usage(lines + reversals, "USD") == money(0)


def test_the_ledger_counts_what_a_cap_and_a_retainer_have_used() -> None:
    retainer = terms(BillingModel.RETAINER, total_value=money("100.00"))
    drawn = charge_time(time(), retainer, ledger(), POLICY, frozenset())
    capped = charge_time(time(minutes=600), CAPPED, ledger(), WRITE_OFF, frozenset())
    assert ledger_of(drawn + capped, "USD") == ledger("1050.00", "100.00")
    assert cap_usage([], "USD") == money(0)


def milestone(
    trigger: MilestoneTrigger,
    status: MilestoneStatus,
    actual_date: date | None = None,
    planned_date: date | None = None,
) -> Milestone:
    return Milestone(
        id="ms-1", project_id="prj-1", name="Go-live", amount=money("12000.00"),
        billing_trigger=trigger, status=status, actual_date=actual_date,
        planned_date=planned_date,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("trigger", "status", "charged"),
    [
        (MilestoneTrigger.ON_COMPLETION, MilestoneStatus.OPEN, False),
        (MilestoneTrigger.ON_COMPLETION, MilestoneStatus.COMPLETED, True),
        (MilestoneTrigger.ON_COMPLETION, MilestoneStatus.APPROVED_FOR_BILLING, True),
        (MilestoneTrigger.ON_APPROVAL, MilestoneStatus.COMPLETED, False),
        (MilestoneTrigger.ON_APPROVAL, MilestoneStatus.APPROVED_FOR_BILLING, True),
    ],
)
def test_a_milestone_bills_when_its_trigger_fires(
    trigger: MilestoneTrigger, status: MilestoneStatus, charged: bool
) -> None:
    done = milestone(trigger, status, actual_date=DAY)
    lines = charge_milestone(done, terms(BillingModel.MILESTONE), CREDIT)
    assert [(c.amount, c.bill_date, c.holds) for c in lines] == (
        [(money("12000.00"), DAY, CREDIT)] if charged else []
    )


def test_a_dated_milestone_bills_on_its_date_and_an_undated_one_waits() -> None:
    planned = milestone(MilestoneTrigger.ON_DATE, MilestoneStatus.OPEN, planned_date=DAY)
    [line] = charge_milestone(planned, terms(BillingModel.MILESTONE), frozenset())
    assert (line.bill_date, line.id) == (DAY, charge_id(ChargeSource.MILESTONE, "ms-1"))
    undated = milestone(MilestoneTrigger.ON_DATE, MilestoneStatus.OPEN)
    assert charge_milestone(undated, terms(BillingModel.MILESTONE), frozenset()) == []
    completed = milestone(MilestoneTrigger.ON_COMPLETION, MilestoneStatus.COMPLETED)
    with pytest.raises(MilestoneUndated):
        charge_milestone(completed, terms(BillingModel.MILESTONE), frozenset())
    [seen] = charge_milestone(completed, terms(BillingModel.MILESTONE), frozenset(), on=DAY)
    assert seen.bill_date == DAY


def test_a_fixed_fee_projects_milestones_do_not_bill_twice() -> None:
    done = milestone(MilestoneTrigger.ON_COMPLETION, MilestoneStatus.COMPLETED, actual_date=DAY)
    assert charge_milestone(done, terms(BillingModel.FIXED_FEE), frozenset()) == []


def test_a_fixed_fee_bills_monthly_the_last_instalment_taking_the_remainder() -> None:
    fee = terms(
        BillingModel.FIXED_FEE, total_value=money("1000.00"),
        start=date(2026, 11, 15), end=date(2027, 1, 10),
    )  # fmt: skip
    assert fixed_fee_schedule(fee) == [
        ("2026-11", date(2026, 11, 30), money("333.33")),
        ("2026-12", date(2026, 12, 31), money("333.33")),
        ("2027-01", date(2027, 1, 31), money("333.34")),
    ]
    line = charge_instalment(fee, "2026-12", date(2026, 12, 31), money("333.33"), CREDIT)
    assert (line.source, line.source_id, line.period) == (
        ChargeSource.FIXED_SCHEDULE, "prj-1:2026-12", "2026-12",
    )  # fmt: skip
    assert (line.amount, line.billable, line.holds) == (money("333.33"), True, CREDIT)


def test_a_retainer_bills_once_and_other_models_have_no_schedule() -> None:
    retainer = terms(BillingModel.RETAINER, total_value=money("5000.00"), start=DAY)
    assert fixed_fee_schedule(retainer) == [("2026-10", DAY, money("5000.00"))]
    single = terms(BillingModel.FIXED_FEE, total_value=money("900"), start=DAY)
    assert fixed_fee_schedule(single) == [("2026-10", date(2026, 10, 31), money("900"))]
    assert fixed_fee_schedule(terms(total_value=money("1"), start=DAY)) == []
    assert fixed_fee_schedule(terms(BillingModel.FIXED_FEE, start=DAY)) == []
