"""Properties of charge arithmetic: rounding per currency, reversals summing to zero, fee
schedules summing to the fee, caps never exceeded, invoice totals equal to their charges."""

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing_readiness.domain import (
    ChargeLine,
    Policy,
    Proposal,
    charge_expense,
    charge_time,
    fixed_fee_schedule,
    ledger_of,
    line_tax,
    propose_invoice,
    reverse_charge,
)
from tandem_contracts import minor_unit
from tandem_contracts.entities import BillingModel
from tandem_contracts.events import HoldReason
from tandem_testing import sibling_module

_builders = sibling_module(__file__, "billing_builders.py", "billing_readiness_unit_builders")
POLICY = _builders.POLICY
customer = _builders.customer
expense = _builders.expense
ledger = _builders.ledger
money = _builders.money
terms = _builders.terms
time = _builders.time

NONE: frozenset[HoldReason] = frozenset()
CURRENCIES = st.sampled_from(["USD", "JPY", "KWD"])
MINUTES = st.integers(min_value=1, max_value=1440)
RATES = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999.99"), places=2)


@settings(max_examples=400)
@given(minutes=MINUTES, rate=RATES, currency=CURRENCIES)
def test_a_charge_is_rounded_once_to_its_currency(
    minutes: int, rate: Decimal, currency: str
) -> None:
    entry = time(minutes=minutes, rate=str(rate), currency=currency)
    [line] = charge_time(entry, terms(currency=currency), ledger(currency=currency), POLICY, NONE)
    digits = minor_unit(currency)
    assert line.amount.amount.as_tuple().exponent == -digits
    exact = Decimal(minutes) * line.rate.amount / 60
    assert abs(line.amount.amount - exact) <= Decimal(1).scaleb(-digits) / 2


@settings(max_examples=200)
@given(minutes=MINUTES, rate=RATES, cost=RATES, currency=CURRENCIES)
def test_a_charge_and_its_reversal_sum_to_zero(
    minutes: int, rate: Decimal, cost: Decimal, currency: str
) -> None:
    entry = time(
        minutes=minutes, rate=str(rate), currency=currency, worker_entity="le-uk",
        project_entity="le-us", cost_amount=money(cost, "GBP"),
    )  # fmt: skip
    project = terms(currency=currency)
    for line in charge_time(entry, project, ledger(currency=currency), POLICY, NONE):
        undone = reverse_charge(line, reversal_source_id="te-1-rev", on=date(2027, 1, 2))
        assert (line.amount + undone.amount).amount == 0
        assert line.quantity + undone.quantity == 0


@settings(max_examples=300)
@given(
    total=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000000"), places=3),
    months=st.integers(min_value=1, max_value=36),
    currency=CURRENCIES,
)
def test_fee_instalments_sum_exactly_to_the_fee(total: Decimal, months: int, currency: str) -> None:
    fee = money(total, currency)
    start = date(2026, 3, 17)
    end = date(2026 + (2 + months - 1) // 12, (2 + months - 1) % 12 + 1, 5)
    schedule = fixed_fee_schedule(
        terms(BillingModel.FIXED_FEE, currency=currency, total_value=fee, start=start, end=end)
    )
    assert len(schedule) == months
    amounts = [amount.amount for _, _, amount in schedule]
    assert sum(amounts) == fee.amount
    each, last = amounts[0], amounts[-1]
    assert set(amounts[:-1]) <= {each}
    remainder = fee.amount - each * months
    assert (
        0 <= last - each == remainder < Decimal(months) * Decimal(1).scaleb(-minor_unit(currency))
    )


ENTRIES = st.lists(
    st.tuples(st.booleans(), MINUTES, st.decimals(min_value=1, max_value=500, places=2)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=200)
@given(
    entries=ENTRIES,
    cap=st.decimals(min_value=0, max_value=20000, places=2),
    overage=st.sampled_from(["hold", "write_off"]),
)
def test_a_cap_is_never_exceeded_and_nothing_is_lost_at_it(
    entries: list[tuple[bool, int, Decimal]], cap: Decimal, overage: str
) -> None:
    project = terms(BillingModel.CAPPED_TM, cap=money(cap))
    policy = Policy(overage="hold" if overage == "hold" else "write_off")
    charges: list[ChargeLine] = []
    charged = Decimal(0)
    for n, (is_time, minutes, value) in enumerate(entries):
        so_far = ledger_of(charges, "USD")
        if is_time:
            entry = time(minutes=minutes, rate=str(value), time_entry_id=f"te-{n}")
            lines = charge_time(entry, project, so_far, policy, NONE)
        else:
            lines = charge_expense(
                expense(str(value), expense_id=f"ex-{n}"), project, so_far, policy, NONE
            )
        charged += sum(line.amount.amount for line in lines)
        assert len({line.id for line in lines}) == len(lines)
        charges += lines
    within = [c for c in charges if c.note is None]
    over = [c for c in charges if c.note is not None]
    assert sum(c.amount.amount for c in within) == min(cap, charged)  # the room is used first
    assert all(c.billable and not c.holds for c in within)
    assert sum(c.amount.amount for c in within + over) == charged
    if policy.overage == "hold":
        assert all(HoldReason.CAP_REACHED in c.holds for c in over)
    else:
        assert not any(c.billable for c in over)


CHARGES = st.lists(
    st.tuples(
        st.sampled_from(["time", "expense"]),
        MINUTES,
        st.sampled_from(["95.00", "120.50", "150.00", "33.33"]),
        st.sampled_from(["travel", "meals", None]),
        st.booleans(),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200)
@given(items=CHARGES, seller=st.sampled_from(["GB", "DE", "US"]))
def test_an_invoice_is_its_charges_to_the_cent(
    items: list[tuple[str, int, str, str | None, bool]], seller: str
) -> None:
    project = terms()
    charges: list[ChargeLine] = []
    for n, (kind, minutes, rate, category, undo) in enumerate(items):
        if kind == "time":
            entry = time(minutes=minutes, rate=rate, time_entry_id=f"te-{n}")
            [line] = charge_time(entry, project, ledger(), POLICY, NONE)
        else:
            spent = expense(rate, expense_id=f"ex-{n}", category=category)
            [line] = charge_expense(spent, project, ledger(), POLICY, NONE)
        charges.append(line)
        if undo:
            charges.append(reverse_charge(line, reversal_source_id=f"r-{n}", on=date(2026, 10, 30)))
    result = propose_invoice(
        project, customer(seller), seller, charges, period="2026-10", today=date(2026, 11, 1),
        pending_time=0, policy=POLICY,
    )  # fmt: skip
    if not isinstance(result, Proposal):
        assert result.reasons == ("nothing_to_invoice",)
        assert sum(c.amount.amount for c in charges) == 0
        return
    assert result.subtotal.amount == sum(c.amount.amount for c in charges)
    assert result.subtotal.amount == sum(line.amount.amount for line in result.lines)
    taxes = [line_tax(line.amount, line.tax_rate_pct).amount for line in result.lines]
    assert result.tax_total.amount == sum(taxes)
    assert result.total == result.subtotal + result.tax_total
    assert all(line.amount.amount != 0 for line in result.lines)
    assert set(result.charge_ids) == {c.id for c in charges}
