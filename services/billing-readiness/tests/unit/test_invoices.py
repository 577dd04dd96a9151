"""Invoice proposals: readiness (period ended, nothing held, time posted, customer known and
taxable, PO), grouping (time by rate, expenses by category), netting of reversals, credits and
intercompany invoices."""

from datetime import date
from decimal import Decimal

import pytest

from billing_readiness.domain import (
    BillingTerms,
    ChargeLine,
    CustomerStanding,
    NothingToCredit,
    NotReady,
    Policy,
    Proposal,
    charge_expense,
    charge_instalment,
    charge_time,
    intercompany_proposal,
    netted_charge_ids,
    propose_credit,
    propose_invoice,
    reverse_charge,
)
from tandem_connectors.ports import TaxTreatment
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

AFTER = date(2026, 11, 2)
NONE: frozenset[HoldReason] = frozenset()
US_CUSTOMER = customer("US")
PROJECT_TERMS = terms()


def timed(entry_id: str, minutes: int, rate: str, held: bool = False) -> ChargeLine:
    holds = frozenset({HoldReason.CREDIT_HOLD}) if held else NONE
    entry = time(minutes=minutes, rate=rate, time_entry_id=entry_id)
    [line] = charge_time(entry, terms(), ledger(), POLICY, holds)
    return line


def spent(expense_id: str, amount: str, category: str | None) -> ChargeLine:
    entry = expense(amount, expense_id=expense_id, category=category)
    [line] = charge_expense(entry, terms(), ledger(), POLICY, NONE)
    return line


MONTH = [
    timed("te-1", 450, "150.00"),
    timed("te-2", 480, "150.00"),
    timed("te-3", 50, "99.99"),
    spent("ex-1", "120.00", "travel"),
    spent("ex-2", "30.01", "travel"),
    spent("ex-3", "45.50", None),
]


def propose(
    charges: list[ChargeLine],
    *,
    today: date = AFTER,
    pending: int = 0,
    buyer: CustomerStanding | None = US_CUSTOMER,
    project: BillingTerms = PROJECT_TERMS,
    policy: Policy = POLICY,
) -> Proposal | NotReady:
    return propose_invoice(
        project, buyer, "US", charges, period="2026-10", today=today, pending_time=pending,
        policy=policy,
    )  # fmt: skip


def test_a_ready_month_groups_time_by_rate_and_expenses_by_category() -> None:
    proposal = propose(MONTH)
    assert isinstance(proposal, Proposal)
    shown = [
        (ln.reference, ln.quantity, ln.unit, ln.unit_price, ln.amount) for ln in proposal.lines
    ]
    assert shown == [
        ("time:150.00", Decimal("15.5"), "hour", money("150.00"), money("2325.00")),
        ("time:99.99", Decimal("0.8333"), "hour", money("99.99"), money("83.33")),
        ("expense:travel", Decimal(2), "unit", money("75.01"), money("150.01")),
        ("expense:uncategorised", Decimal(1), "unit", money("45.50"), money("45.50")),
    ]  # fmt: skip
    assert proposal.lines[0].description == "Professional services 15.5 h at 150.00 USD (2026-10)"
    assert proposal.lines[0].charge_ids == tuple(sorted((MONTH[0].id, MONTH[1].id)))
    assert proposal.subtotal == proposal.total == money("2603.84")
    assert proposal.tax_total == money(0)
    assert {ln.tax for ln in proposal.lines} == {TaxTreatment.EXEMPT}
    assert proposal.charge_ids == tuple(sorted(c.id for c in MONTH))
    assert (proposal.customer_id, proposal.seller_entity, proposal.invoice_date) == (
        "cus-1", "le-us", AFTER,
    )  # fmt: skip
    assert propose(list(reversed(MONTH))) == proposal  # same charges, same invoice id


def test_a_domestic_vat_invoice_rounds_tax_per_line() -> None:
    project = terms(currency="GBP", legal_entity_id="le-uk")
    lines = [
        charge_time(
            time(minutes=minutes, rate=rate, currency="GBP", time_entry_id=f"te-{minutes}"),
            project, ledger(currency="GBP"), POLICY, NONE,
        )[0]
        for minutes, rate in ((1, "61.80"), (3, "20.60"))
    ]  # fmt: skip
    proposal = propose_invoice(
        project, customer("GB"), "GB", lines, period="2026-10", today=AFTER, pending_time=0,
        policy=POLICY,
    )  # fmt: skip
    assert isinstance(proposal, Proposal)
    assert [line.amount for line in proposal.lines] == [money("1.03", "GBP")] * 2
    assert {(line.tax, line.tax_rate_pct) for line in proposal.lines} == {
        (TaxTreatment.STANDARD, Decimal(20))
    }
    # 0.206 rounds to 0.21 on each line: 0.42, where 20 % of 2.06 would be 0.41
    assert [line.tax_amount for line in proposal.lines] == [money("0.21", "GBP")] * 2
    assert proposal.tax_total == money("0.42", "GBP")
    assert proposal.total == money("2.48", "GBP")


def test_reverse_charge_invoices_carry_the_mention() -> None:
    project = terms(currency="EUR", legal_entity_id="le-de")
    [line] = charge_time(time(currency="EUR"), project, ledger(currency="EUR"), POLICY, NONE)
    buyer = customer("FR", "FR12345678221", validated=True)
    proposal = propose_invoice(
        project, buyer, "DE", [line], period="2026-10", today=AFTER, pending_time=0,
        policy=POLICY,
    )  # fmt: skip
    assert isinstance(proposal, Proposal)
    assert proposal.lines[0].tax is TaxTreatment.REVERSE_CHARGE
    assert proposal.mention is not None
    assert "FR12345678221" in proposal.mention


@pytest.mark.parametrize(
    ("today", "reason"),
    [(date(2026, 10, 31), "period_open"), (date(2026, 10, 15), "period_open")],
)
def test_an_invoice_waits_for_the_end_of_its_period(today: date, reason: str) -> None:
    assert propose(MONTH, today=today) == NotReady((reason,))


def test_every_reason_to_wait_is_given() -> None:
    held = [*MONTH, timed("te-9", 60, "150.00", held=True)]
    result = propose(
        held, today=date(2026, 10, 20), pending=3, buyer=None,
        policy=Policy(require_po=True),
    )  # fmt: skip
    assert result == NotReady(
        ("period_open", "charges_held:1", "pending_time:3", "customer_unknown", "missing_po")
    )
    assert propose(MONTH, project=terms(po_number="PO-7"), policy=Policy(require_po=True)) != (
        NotReady(("missing_po",))
    )


def test_a_customer_on_credit_hold_or_with_an_unfit_tax_profile_waits() -> None:
    assert propose(MONTH, buyer=customer("US", on_credit_hold=True)) == NotReady(("credit_hold",))
    unfit = propose_invoice(
        terms(), customer("FR", "FR12345678221"), "DE", [], period="2026-10", today=AFTER,
        pending_time=0, policy=POLICY,
    )  # fmt: skip
    assert unfit == NotReady(("nothing_to_invoice",))
    eur = terms(currency="EUR")
    [line] = charge_time(time(currency="EUR"), eur, ledger(currency="EUR"), POLICY, NONE)
    waiting = propose_invoice(
        eur, customer("FR", "FR12345678221"), "DE", [line], period="2026-10", today=AFTER,
        pending_time=0, policy=POLICY,
    )  # fmt: skip
    assert waiting == NotReady(("tax_profile_invalid:vat_id_not_validated",))


def test_a_reversal_in_the_same_run_cancels_its_charge_even_a_held_one() -> None:
    held = timed("te-9", 60, "150.00", held=True)
    undone = reverse_charge(held, reversal_source_id="te-9-rev", on=date(2026, 10, 20))
    assert netted_charge_ids([held, undone, MONTH[0]]) == {held.id, undone.id}
    proposal = propose([*MONTH, held, undone])
    assert isinstance(proposal, Proposal)
    assert proposal.subtotal == money("2603.84")
    assert {held.id, undone.id} <= set(proposal.charge_ids)
    assert propose([held, undone]) == NotReady(("nothing_to_invoice",))
    assert propose([]) == NotReady(("nothing_to_invoice",))


def test_a_group_summing_to_zero_is_dropped() -> None:
    extra = timed("te-8", 50, "99.99")
    invoiced_before = reverse_charge(extra, reversal_source_id="te-8-rev", on=date(2026, 10, 9))
    proposal = propose([MONTH[0], MONTH[2], invoiced_before])
    assert isinstance(proposal, Proposal)
    assert [ln.reference for ln in proposal.lines] == ["time:150.00"]
    assert invoiced_before.id in proposal.charge_ids


def test_a_negative_invoice_is_not_proposed() -> None:
    undone = reverse_charge(MONTH[0], reversal_source_id="te-1-rev", on=date(2026, 10, 9))
    assert propose([undone]) == NotReady(("negative_total",))


def test_later_periods_other_projects_and_intercompany_charges_are_left_out() -> None:
    later = timed("te-7", 60, "150.00")._replace(period="2026-11")
    other = timed("te-6", 60, "150.00")._replace(project_id="prj-2")
    sister = timed("te-5", 60, "150.00")._replace(intercompany=True)
    assert propose([*MONTH, later, other, sister]) == propose(MONTH)


def test_fee_instalments_and_milestones_are_lines_of_their_own() -> None:
    fee = terms(BillingModel.RETAINER)
    instalment = charge_instalment(fee, "2026-10", date(2026, 10, 1), money("5000.00"), NONE)
    proposal = propose([instalment], project=fee)
    assert isinstance(proposal, Proposal)
    [line] = proposal.lines
    assert (line.reference, line.description) == ("fee:2026-10", "Retainer 2026-10")


def test_a_credit_note_is_negative_and_names_the_invoice_it_credits() -> None:
    on = date(2026, 11, 20)
    reversals = [reverse_charge(c, reversal_source_id=f"{c.id}-rev", on=on) for c in MONTH[:4]]
    credit = propose_credit("inv-abc", terms(), customer("GB"), "GB", reversals, today=on)
    assert credit.credit_of == "inv-abc"
    assert [ln.amount for ln in credit.lines] == [
        money("-2325.00"),
        money("-83.33"),
        money("-120.00"),
    ]
    assert credit.lines[0].quantity == Decimal("-15.5")
    assert credit.tax_total == money("-505.67")  # -465.00 - 16.67 - 24.00
    assert credit.total == money("-3034.00")
    assert credit.invoice_id != "inv-abc"
    assert credit == propose_credit(
        "inv-abc", terms(), customer("GB"), "GB", reversals[::-1], today=on
    )
    with pytest.raises(NothingToCredit):
        propose_credit("inv-abc", terms(), customer("GB"), "GB", [], today=on)


def test_an_intercompany_invoice_bills_the_pairs_unheld_charges_exempt() -> None:
    allowed = Policy(intercompany_pairs=frozenset({("le-uk", "le-us")}))
    charges = []
    for n, policy in ((1, allowed), (2, allowed), (3, POLICY)):
        entry = time(
            time_entry_id=f"te-{n}", worker_entity="le-uk", project_entity="le-us",
            cost_amount=money("80.00", "GBP"),
        )  # fmt: skip
        charges.append(charge_time(entry, terms(), ledger(), policy, NONE)[1])
    proposal = intercompany_proposal(
        "le-uk", "le-us", "GBP", charges, period="2026-10", today=AFTER
    )
    assert isinstance(proposal, Proposal)
    [line] = proposal.lines
    assert (line.quantity, line.unit, line.amount) == (Decimal(2), "hour", money("176.00", "GBP"))
    assert (line.tax, line.description) == (TaxTreatment.EXEMPT, "Intercompany services 2026-10")
    assert (proposal.customer_id, proposal.seller_entity) == ("entity:le-us", "le-uk")
    assert proposal.charge_ids == tuple(sorted(c.id for c in charges[:2]))
    early = intercompany_proposal(
        "le-uk", "le-us", "GBP", charges, period="2026-10", today=date(2026, 10, 31)
    )
    assert early == NotReady(("period_open",))
    other_pair = intercompany_proposal(
        "le-de", "le-us", "GBP", charges, period="2026-10", today=AFTER
    )
    assert other_pair == NotReady(("nothing_to_invoice",))


def test_a_charge_held_for_a_person_waits_while_the_rest_is_invoiced() -> None:
    overage = timed("te-over", 60, "150.00", held=True)
    overage = overage._replace(holds=frozenset({HoldReason.CAP_REACHED}))
    proposal = propose([*MONTH, overage])
    assert isinstance(proposal, Proposal)
    assert overage.id not in proposal.charge_ids
    assert proposal == propose(MONTH)  # the same invoice as without the overage
    # A hold of the project's (a dispute) with it holds the whole invoice.
    disputed = overage._replace(holds=frozenset({HoldReason.CAP_REACHED, HoldReason.DISPUTED}))
    assert propose([*MONTH, disputed]) == NotReady(("charges_held:1",))
