from decimal import Decimal

import pytest
from pydantic import ValidationError

from tandem_contracts import Money, minor_unit


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("10.005", "USD", "10.01"),  # half-up at the cent
        ("10.004", "EUR", "10.00"),
        ("1234.5", "JPY", "1235"),  # no minor unit
        ("1.0005", "KWD", "1.001"),  # three decimals
        ("7", "INR", "7.00"),  # always at full precision
        ("-2.345", "GBP", "-2.35"),  # half away from zero for negatives
    ],
)
def test_amounts_are_rounded_to_the_currency_minor_unit(
    amount: str, currency: str, expected: str
) -> None:
    money = Money.of(amount, currency)
    assert str(money.amount) == expected
    assert money.amount.as_tuple().exponent == -minor_unit(currency)


def test_money_travels_as_a_decimal_string() -> None:
    money = Money.of("750.1", "EUR")
    assert money.model_dump_json() == '{"amount":"750.10","currency":"EUR"}'
    assert Money.model_validate_json(money.model_dump_json()) == money


def test_a_float_amount_is_refused_with_its_own_error_kind() -> None:
    with pytest.raises(ValidationError) as caught:
        Money.model_validate_json('{"amount": 750.1, "currency": "EUR"}')
    assert caught.value.errors()[0]["type"] == "float_money"
    with pytest.raises(ValidationError):
        Money(amount=0.1, currency="USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-inf", "12,50", "", "1e"])
def test_non_finite_or_malformed_amounts_are_refused(amount: str) -> None:
    with pytest.raises(ValidationError):
        Money.model_validate({"amount": amount, "currency": "USD"})


@pytest.mark.parametrize("currency", ["usd", "XYZ", "EURO", "", "DEM"])
def test_only_active_iso_4217_codes_are_accepted(currency: str) -> None:
    with pytest.raises(ValidationError):
        Money.of("1", currency)


def test_arithmetic_keeps_currency_and_precision() -> None:
    rate = Money.of("150.00", "USD")
    assert rate.times(Decimal("2.5")) == Money.of("375.00", "USD")
    assert rate + Money.of("0.01", "USD") == Money.of("150.01", "USD")
    assert -(rate - Money.of("50", "USD")) == Money.of("-100", "USD")
    assert Money.of("1", "JPY").times(Decimal("0.5")) == Money.of("1", "JPY")


def test_mixing_currencies_is_an_error() -> None:
    with pytest.raises(ValueError, match="USD with EUR"):
        Money.of("1", "USD") + Money.of("1", "EUR")


def test_money_is_immutable() -> None:
    money = Money.of("1", "USD")
    with pytest.raises(ValidationError):
        money.amount = Decimal(2)  # type: ignore[misc]
