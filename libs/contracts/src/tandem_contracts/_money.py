"""Money: a ``Decimal`` amount with an ISO-4217 currency, rounded to the currency's minor unit."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = ["CurrencyCode", "DecimalString", "Money", "PositiveRate", "minor_unit"]

# ISO 4217 active codes. Exponent 2 unless listed in _EXPONENTS.
_ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD
    JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF
    XPF YER ZAR ZMW ZWG
    """.split()
)
_EXPONENTS = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def minor_unit(currency: str) -> int:
    """Return the number of decimal places of ``currency`` (ISO 4217 exponent)."""
    return _EXPONENTS.get(currency, 2)


def _check_currency(value: Any) -> Any:
    if isinstance(value, str) and value not in _ISO_4217:
        raise PydanticCustomError(
            "currency_code", "{value!r} is not an active ISO-4217 currency code", {"value": value}
        )
    return value


CurrencyCode = Annotated[
    str,
    BeforeValidator(_check_currency),
    WithJsonSchema(
        {"type": "string", "enum": sorted(_ISO_4217), "description": "active ISO-4217 code"}
    ),
]
"""An active ISO-4217 alphabetic code, e.g. ``EUR``."""


_MAX_INTEGER_DIGITS = 18
_DECIMAL_PATTERN = r"^-?\d+(\.\d+)?$"


def _to_decimal(value: Any) -> Any:
    # JSON numbers become floats and lose cents; the wire format is a decimal string.
    if isinstance(value, float | bool):
        raise PydanticCustomError(
            "float_money",
            "money amounts and rates must be decimal strings, not {kind}",
            {"kind": type(value).__name__},
        )
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except InvalidOperation:
            raise PydanticCustomError(
                "decimal_parsing", "{value!r} is not a decimal number", {"value": value[:40]}
            ) from None
    if isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise PydanticCustomError("finite_number", "decimal numbers must be finite")
        if value and value.adjusted() >= _MAX_INTEGER_DIGITS:
            # Beyond this, rounding to a minor unit overflows the decimal context.
            raise PydanticCustomError(
                "decimal_range",
                "decimal numbers must be below 10^{digits}",
                {"digits": _MAX_INTEGER_DIGITS},
            )
    return value


DecimalString = Annotated[
    Decimal,
    BeforeValidator(_to_decimal),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": _DECIMAL_PATTERN}),
]
"""An exact decimal (amount, rate, quantity, percentage): a decimal string on the wire, never a
JSON float. Field constraints (``gt``, ``max_digits``) still apply after parsing."""

# 1 to 10 digits before the point and up to 10 after, not zero: spelt out per position of the
# first non-zero fractional digit, so that the JSON Schema says exactly what is accepted.
_FRACTION = "|".join(f"0{{{k}}}[1-9][0-9]{{0,{9 - k}}}" for k in range(10))
_POSITIVE_RATE_PATTERN = rf"^(?:[1-9][0-9]{{0,9}}(?:\.[0-9]{{1,10}})?|0\.(?:{_FRACTION}))$"
_POSITIVE_RATE = re.compile(_POSITIVE_RATE_PATTERN)


def _to_rate(value: Any) -> Decimal:
    if isinstance(value, float | bool):
        _to_decimal(value)  # refuses it as float_money, like any amount
    text = format(value, "f") if isinstance(value, Decimal) else value
    if not isinstance(text, str):
        raise PydanticCustomError(
            "rate_type", "a rate must be a decimal string such as '1.0825', not {kind}",
            {"kind": type(value).__name__},
        )  # fmt: skip
    if _POSITIVE_RATE.fullmatch(text) is None:
        raise PydanticCustomError(
            "rate_format",
            "a rate is a positive decimal string, at most 10 digits before the point and 10 "
            "after, such as '1.0825'",
        )
    return Decimal(text)


PositiveRate = Annotated[
    Decimal,
    PlainValidator(_to_rate),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": _POSITIVE_RATE_PATTERN, "examples": ["1.0825"]}),
]
"""An exchange rate: a positive decimal string, 1-10 digits before the point and at most 10
after; the schema's pattern and the validator are one rule."""

Amount = Annotated[
    DecimalString,
    WithJsonSchema({"type": "string", "pattern": _DECIMAL_PATTERN, "examples": ["750.00"]}),
]


class Money(BaseModel):
    """An exact amount of one currency, e.g. ``Money(amount=Decimal("750.00"), currency="EUR")``.

    The amount is rounded half-up to the currency's minor unit on construction, so two equal
    amounts always compare and serialise equal. On the wire it is a decimal string.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Amount
    currency: CurrencyCode

    @model_validator(mode="after")
    def _round_to_minor_unit(self) -> Self:
        quantum = Decimal(1).scaleb(-minor_unit(self.currency))
        rounded = self.amount.quantize(quantum, rounding=ROUND_HALF_UP)
        if rounded != self.amount or rounded.as_tuple() != self.amount.as_tuple():
            object.__setattr__(self, "amount", rounded)
        return self

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        """Build money from a decimal string, an int or a ``Decimal`` (never a float)."""
        return cls(amount=Decimal(amount), currency=currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(amount=-self.amount, currency=self.currency)

    def times(self, factor: Decimal | int) -> Money:
        """Multiply by an exact factor (hours, quantity, markup) and round once."""
        return Money(amount=self.amount * factor, currency=self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
