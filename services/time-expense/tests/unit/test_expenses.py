"""Approved expenses to the ERP once each, converted to the project's currency with the rate
carried; an expense rejected after it posted is reversed, one never posted just stops waiting."""

from datetime import date
from decimal import Decimal

from firm import expense, expense_approval, expense_rejection
from world import ERP_INSTANCE, World

from tandem_contracts import Money
from tandem_contracts.entities import FxRate, FxRateType
from tandem_contracts.events import ExpensePosted, TimePostingFailed
from tandem_messaging.testing import Outcome


def fx(rate_id: str, base: str, quote: str, rate: str, on: date) -> FxRate:
    return FxRate(
        id=rate_id, base=base, quote=quote, rate=Decimal(rate), rate_type=FxRateType.SPOT,
        effective_date=on, source="ecb",
    )  # fmt: skip


async def test_an_approved_expense_posts_once(acme: World) -> None:
    approved = expense_approval(expense())

    assert await acme.deliver(approved) is Outcome.HANDLED
    assert await acme.deliver(approved) is Outcome.DUPLICATE

    [line] = acme.erp.lines.values()
    assert (line.key, line.amount) == ("expense:ex-1:v1", Money.of("412.60", "USD"))
    journal = acme.store.tables.journal["expense:ex-1:v1"]
    assert (journal.kind, journal.amount, journal.currency) == ("post", Decimal("412.60"), "USD")
    [posted] = acme.broker.published_of(ExpensePosted)
    assert posted.payload.project_amount == Money.of("412.60", "USD")
    assert posted.payload.fx is None
    assert acme.store.tables.expenses["ex-1"].stage == "posted"


async def test_a_later_approved_version_of_a_posted_expense_posts_nothing_more(
    acme: World,
) -> None:
    await acme.deliver(expense_approval(expense(), version=1))

    await acme.deliver(expense_approval(expense(), version=2))

    assert len(acme.erp.lines) == 1


async def test_a_changed_re_approval_reverses_the_posting_and_posts_the_new_one(
    acme: World,
) -> None:
    await acme.deliver(expense_approval(expense(), version=1))

    corrected = expense(amount=Money.of("398.10", "USD"))
    assert await acme.deliver(expense_approval(corrected, version=2)) is Outcome.HANDLED

    posting, reversal, replacement = acme.erp.lines.values()
    assert reversal.reverses == posting.external_id
    assert (reversal.amount, replacement.amount) == (
        Money.of("-412.60", "USD"), Money.of("398.10", "USD"),
    )  # fmt: skip
    announced = [e.payload for e in acme.broker.published_of(ExpensePosted)]
    assert [(a.amount, a.reversal_of) for a in announced] == [
        (Money.of("412.60", "USD"), None),
        (Money.of("-412.60", "USD"), "ex-1"),
        (Money.of("398.10", "USD"), None),
    ]
    ledger = acme.store.tables.expenses["ex-1"]
    assert (ledger.stage, ledger.version, ledger.expense.amount) == (
        "posted", 2, Money.of("398.10", "USD"),
    )  # fmt: skip


async def test_an_expense_is_converted_at_the_latest_rate_quoted_either_way(acme: World) -> None:
    await acme.load_fx(
        fx("fx-eur-usd-1001", "EUR", "USD", "1.08", date(2026, 10, 1)),
        fx("fx-usd-eur-1020", "USD", "EUR", "0.92", date(2026, 10, 20)),
        fx("fx-eur-usd-1105", "EUR", "USD", "1.20", date(2026, 11, 5)),  # after the expense
    )

    assert await acme.deliver(expense_approval(expense(amount=Money.of("100.00", "EUR")))) is (
        Outcome.HANDLED
    )

    [posted] = acme.broker.published_of(ExpensePosted)
    assert posted.payload.amount == Money.of("100.00", "EUR")
    assert posted.payload.fx is not None
    assert (posted.payload.fx.rate_id, posted.payload.fx.rate) == (
        "fx-usd-eur-1020", Decimal("1.0869565217"),
    )  # fmt: skip
    assert posted.payload.project_amount == Money.of("108.70", "USD")


async def test_an_expense_without_an_fx_rate_is_refused(acme: World) -> None:
    approved = expense_approval(expense(amount=Money.of("100.00", "GBP")))

    assert await acme.deliver(approved) is Outcome.PARKED

    assert acme.erp.lines == {}
    exception = acme.store.open_exceptions("expense")["ex-1"]
    assert (exception.reason, exception.retryable) == ("fx_rate_missing", False)
    assert acme.broker.published_of(TimePostingFailed) == []  # announced for time only


async def test_an_expense_rejected_after_it_posted_is_reversed(acme: World) -> None:
    await acme.deliver(expense_approval(expense(), version=1))

    assert await acme.deliver(expense_rejection(expense(), version=2)) is Outcome.HANDLED

    assert acme.erp.calls["reverse_expense"] == 1
    posting, reversal = acme.erp.lines.values()
    assert reversal.reverses == posting.external_id
    assert reversal.amount == Money.of("-412.60", "USD")
    journal = acme.store.tables.journal["expense:ex-1:v1:reversed-at-v2"]
    assert (journal.kind, journal.amount) == ("reversal", Decimal("-412.60"))
    [_, reversed_] = acme.broker.published_of(ExpensePosted)
    assert reversed_.payload.reversal_of == "ex-1"
    assert reversed_.payload.erp_ref.external_id == reversal.external_id
    ledger = acme.store.tables.expenses["ex-1"]
    assert (ledger.stage, ledger.version) == ("reversed", 2)
    linked = await acme.refs.external_id(
        "expense", "ex-1", system="erp", instance=ERP_INSTANCE, object_type="expense_line"
    )
    assert linked is None


async def test_the_reversal_of_an_expense_is_announced_with_a_negative_amount(
    acme: World,
) -> None:
    await acme.deliver(expense_approval(expense(), version=1))

    await acme.deliver(expense_rejection(expense(), version=2))

    [_, reversed_] = acme.broker.published_of(ExpensePosted)
    assert reversed_.payload.amount == Money.of("-412.60", "USD")
    assert reversed_.payload.project_amount == Money.of("-412.60", "USD")


async def test_an_expense_rejected_before_it_posted_just_stops_waiting(acme: World) -> None:
    refused = expense(amount=Money.of("100.00", "GBP"))
    assert await acme.deliver(expense_approval(refused, version=1)) is Outcome.PARKED

    assert await acme.deliver(expense_rejection(refused, version=2)) is Outcome.HANDLED

    assert acme.erp.lines == {}
    assert "reverse_expense" not in acme.erp.calls
    assert acme.store.open_exceptions("expense") == {}
    assert acme.broker.published_of(ExpensePosted) == []
