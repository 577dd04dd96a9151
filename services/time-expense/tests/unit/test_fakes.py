"""The fakes answer as the SQL adapters do (``adapters/``), so what the handler tests show
holds against PostgreSQL too."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from fakes import FakeStore, FakeUnitOfWork, fake_transactions
from firm import time_entry

from tandem_contracts.entities import AccountingPeriod, FxRate, FxRateType, PeriodStatus
from time_expense.domain import EntryLedger, Stage
from time_expense.service_layer.unit_of_work import BusinessException, JournalLine

LINE = JournalLine(
    key="time:te-1:v1", subject_type="time_entry", subject_id="te-1", kind="post",
    erp_instance="erp-fake", erp_id="5", project_id="p-1", worker_id="w-1",
    legal_entity_id="le-us", work_date=date(2026, 11, 2), accounting_date=date(2026, 11, 2),
    late=False, minutes=480, bill_amount=Decimal("1200.00"), cost_amount=None, amount=None,
    currency="USD",
)  # fmt: skip
EXCEPTION = BusinessException(
    subject_type="time_entry", subject_id="te-1", event_id="e-1", reason="project_unknown",
    detail="waits", retryable=True, waiting_for="project-open:p-1", project_id="p-1",
    worker_id="w-1", legal_entity_id="le-us", region="us",
)  # fmt: skip


def fx(rate_id: str, base: str, quote: str, on: date) -> FxRate:
    return FxRate(
        id=rate_id, base=base, quote=quote, rate=Decimal("1.1"), rate_type=FxRateType.SPOT,
        effective_date=on, source="ecb",
    )  # fmt: skip


async def test_a_transaction_that_raises_leaves_nothing_behind() -> None:
    store = FakeStore()
    begin = fake_transactions(store)

    async def failing() -> None:
        async with begin() as uow:
            await uow.ledgers.journal(LINE)
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        await failing()

    assert (store.tables.journal, store.commits) == ({}, 0)
    async with begin() as uow:
        await uow.ledgers.journal(LINE)
    assert list(store.tables.journal) == [LINE.key]


async def test_the_journal_keeps_one_line_per_key_and_prices_net_of_reversals() -> None:
    uow = FakeUnitOfWork(FakeStore())
    reversal = replace(LINE, key=f"{LINE.key}:reversed-at-v2", kind="reversal", minutes=-480,
                       bill_amount=Decimal("-1200.00"))  # fmt: skip
    again = replace(LINE, key="time:te-1:v3", bill_amount=Decimal("1050.00"))
    other = replace(LINE, key="time:te-2:v1", subject_id="te-2")
    euro = replace(other, key="time:te-2:v2", currency="EUR")

    await uow.ledgers.journal(LINE, replace(LINE, erp_id="6"), reversal, again, other, euro)

    assert (await uow.ledgers.journal_line(LINE.key)) == LINE
    assert await uow.ledgers.priced(["te-1", "te-2"]) == {"te-1": (Decimal("1050.00"), "USD")}
    with pytest.raises(ValueError, match="kind"):
        await uow.ledgers.journal(replace(LINE, key="k", kind="edit"))


async def test_a_refreshed_exception_keeps_who_it_is_about_and_reopens() -> None:
    store = FakeStore()
    async with fake_transactions(store)() as uow:
        await uow.ledgers.open_exception(EXCEPTION)
        uow.ledgers.resolve("time_entry", "te-1")
    assert store.open_exceptions() == {}

    async with fake_transactions(store)() as uow:
        await uow.ledgers.open_exception(replace(EXCEPTION, reason="rate_unresolved", region="eu"))

    assert (store.open_exceptions()["te-1"].reason, store.open_exceptions()["te-1"].region) == (
        "rate_unresolved", "us",
    )  # fmt: skip


async def test_fx_rates_are_both_directions_on_or_before_the_date_latest_first() -> None:
    uow = FakeUnitOfWork(FakeStore())
    for rate in (
        fx("a", "EUR", "USD", date(2026, 10, 1)),
        fx("b", "USD", "EUR", date(2026, 10, 20)),
        fx("c", "EUR", "USD", date(2026, 11, 5)),
        fx("d", "EUR", "GBP", date(2026, 10, 2)),
    ):
        await uow.reference.save_fx_rate(rate)
    changed = fx("a", "EUR", "USD", date(2026, 10, 1)).model_copy(update={"rate": Decimal(9)})
    await uow.reference.save_fx_rate(changed)  # a known id is kept as it was

    rates = await uow.reference.fx_rates("EUR", "USD", date(2026, 11, 3))

    assert [(r.id, r.rate) for r in rates] == [("b", Decimal("1.1")), ("a", Decimal("1.1"))]


async def test_a_ledger_kept_is_read_back_in_its_transaction_and_seen_by_others_after_flush() -> (
    None
):
    store = FakeStore()
    uow, other = FakeUnitOfWork(store), FakeUnitOfWork(store)
    ledger = EntryLedger("te-1", 1, Stage.POSTED, None)

    uow.ledgers.keep(ledger, time_entry(), "us")

    assert await uow.ledgers.entry("te-1") == ledger
    assert store.ledger("te-1") is None
    assert await other.ledgers.entry("te-1") is None
    await uow.flush()
    assert store.ledger("te-1") == ledger


async def test_periods_are_those_ending_on_or_after_the_date_oldest_first() -> None:
    uow = FakeUnitOfWork(FakeStore())
    for month in (12, 10, 11):
        start = date(2026, month, 1)
        end = date(2026, month, 28)
        await uow.reference.save_period(
            AccountingPeriod(id=f"le-us:{month}", legal_entity_id="le-us", name=f"{month}",
                             start_date=start, end_date=end, status=PeriodStatus.OPEN)
        )  # fmt: skip

    periods = await uow.reference.periods("le-us", date(2026, 10, 28))

    assert [p.start_date.month for p in periods] == [10, 11, 12]
    assert await uow.reference.periods("le-us", date(2026, 10, 29)) == periods[1:]
