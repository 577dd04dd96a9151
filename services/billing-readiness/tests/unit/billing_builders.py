"""Small builders for the domain tests: a project's terms, posted time and expenses, customers.

Everything defaults to one US project (``prj-1``) of customer ``cus-1`` billed in USD by entity
``le-us``; each test overrides what it is about.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from billing_readiness.domain import (
    BillingTerms,
    ChargeLine,
    CustomerStanding,
    Ledger,
    Policy,
    PostedExpense,
    PostedTime,
)
from tandem_contracts import Money
from tandem_contracts.entities import BillingModel, TaxpayerKind, TaxProfile

PROJECT = "prj-1"
DAY = date(2026, 10, 14)
POLICY = Policy()


def money(amount: str | int | Decimal, currency: str = "USD") -> Money:
    return Money(amount=Decimal(amount), currency=currency)


def terms(model: BillingModel = BillingModel.TIME_AND_MATERIALS, **changes: Any) -> BillingTerms:
    fields: dict[str, Any] = {
        "project_id": PROJECT,
        "customer_id": "cus-1",
        "legal_entity_id": "le-us",
        "currency": "USD",
        "model": model,
    }
    fields.update(changes)
    return BillingTerms(**fields)


def ledger(billed: str = "0", drawn: str = "0", currency: str = "USD") -> Ledger:
    return Ledger(money(billed, currency), money(drawn, currency))


def time(minutes: int = 60, rate: str | None = "150.00", **changes: Any) -> PostedTime:
    currency = changes.pop("currency", "USD")
    entry = PostedTime(
        time_entry_id=changes.pop("time_entry_id", "te-1"),
        project_id=PROJECT,
        worker_id="wrk-1",
        work_date=DAY,
        accounting_date=DAY,
        minutes=minutes,
        billable=True,
        bill_rate=money(rate, currency) if rate is not None else None,
        bill_amount=None,
        cost_amount=None,
        worker_entity=None,
        project_entity=None,
    )
    return entry._replace(**changes)


def expense(amount: str = "100.00", **changes: Any) -> PostedExpense:
    entry = PostedExpense(
        expense_id="ex-1",
        project_id=PROJECT,
        expense_date=DAY,
        amount=money(amount),
        billable=True,
        markup=Decimal(1),
        category="travel",
    )
    return entry._replace(**changes)


def customer(
    country: str = "US",
    vat_id: str | None = None,
    *,
    validated: bool = False,
    b2c: bool = False,
    on_credit_hold: bool = False,
) -> CustomerStanding:
    profile = TaxProfile(
        country=country,
        vat_id=vat_id,
        vat_id_validated_at=datetime(2026, 1, 5, tzinfo=UTC) if validated else None,
        taxable_person=TaxpayerKind.B2C if b2c else TaxpayerKind.B2B,
    )
    return CustomerStanding("cus-1", country, profile, on_credit_hold)


def total(lines: list[ChargeLine], currency: str = "USD") -> Money:
    result = money(0, currency)
    for line in lines:
        result += line.amount
    return result
