"""Untrusted bodies: decode() refuses unsafe text, extreme values, floats for exact decimals
and fuzzy dates with a typed DecodeError, never with a crash (issue 11)."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tandem_contracts import (
    DecodeError,
    EncodingError,
    FloatMoneyError,
    Money,
    SchemaValidationError,
    decode,
    encode,
)
from tandem_contracts._types import CalendarDate, UtcDatetime
from tandem_contracts.entities import FxRate
from tandem_contracts.errors import UnsafeTextError
from tandem_contracts.samples import sample_envelopes

SAMPLES = {e.event_type: json.loads(encode(e)) for e in sample_envelopes()}


def sample(event_type: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(SAMPLES[event_type]))
    return data


def with_value(event_type: str, path: str, value: Any) -> bytes:
    """The sample of ``event_type`` with the field at dotted ``path`` set to ``value``."""
    data = sample(event_type)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[last] = value
    return json.dumps(data).encode()


def refused(body: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(body)
    return caught.value


# --- unsafe text in the raw body -------------------------------------------------------------


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800", "\\udc00", "a\\ud800b", "\\ud800\\u0041"])
def test_a_body_escaping_nul_or_a_lone_surrogate_is_refused_before_validation(
    escape: str,
) -> None:
    body = with_value("OpportunityLost", "payload.reason", "X").replace(
        b'"reason": "X"', f'"reason": "{escape}"'.encode()
    )
    error = refused(body)
    assert isinstance(error, UnsafeTextError)
    assert isinstance(error, EncodingError)
    assert error.reason == "unsafe_text"
    assert "NUL" in str(error) or "surrogate" in str(error)


def test_an_escaped_surrogate_pair_and_an_escaped_backslash_still_decode() -> None:
    body = with_value("OpportunityLost", "payload.reason", "X").replace(
        b'"reason": "X"', b'"reason": "budget \\ud83d\\ude00 \\\\u0000"'
    )
    assert decode(body).payload.reason == "budget \U0001f600 \\u0000"


# --- extreme JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["root", "payload"])
def test_ten_thousand_levels_of_nesting_are_a_decode_error(where: str) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    if where == "root":
        body = ('{"a":' * 10_000 + "1" + "}" * 10_000).encode()
    else:
        body = with_value("OpportunityLost", "payload.reason", "X").replace(b'"X"', deep.encode())
    assert isinstance(refused(body), EncodingError)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("subject_version", 10**30),
        ("subject_version", 2**63),
        ("schema_version", 10**30),
        ("payload.entry.duration_minutes", 10**30),
        ("payload.approval_version", -(10**30)),
        ("payload.entry.rate_source.rate_card_version", 2**64),
    ],
)
def test_integers_beyond_64_bits_are_a_decode_error(path: str, value: int) -> None:
    refused(with_value("TimeApproved", path, value))


@pytest.mark.parametrize("amount", ["1e30", "-1e40", "123456789012345678901234567890.5"])
def test_a_money_amount_too_large_to_round_is_a_decode_error_not_a_crash(amount: str) -> None:
    # Rounding it to cents used to raise decimal.InvalidOperation out of decode().
    error = refused(with_value("TimeApproved", "payload.entry.bill_rate.amount", amount))
    assert isinstance(error, SchemaValidationError)
    assert "payload.entry.bill_rate.amount" in error.paths


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"])
def test_an_instant_at_the_edge_of_the_calendar_is_a_decode_error_not_a_crash(at: str) -> None:
    # Shifting it to UTC used to raise OverflowError out of decode().
    error = refused(with_value("TimeApproved", "occurred_at", at))
    assert isinstance(error, SchemaValidationError)
    assert "occurred_at" in error.paths


# --- exact decimals are decimal strings --------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "path"),
    [
        ("UtilizationThresholdBreached", "payload.actual_pct"),
        ("UtilizationThresholdBreached", "payload.target_pct"),
        ("InvoiceReady", "payload.lines.0.quantity"),
    ],
)
def test_a_json_float_for_a_rate_quantity_or_percentage_is_float_money(
    event_type: str, path: str
) -> None:
    error = refused(with_value(event_type, path, 1.25))
    assert isinstance(error, FloatMoneyError)
    assert error.reason == "float_money"
    assert path in error.paths


def fx_used(rate: object) -> dict[str, object]:
    return {"rate_id": "fx-eur-usd-1001", "rate": rate, "rate_date": "2026-10-01"}


def test_an_applied_fx_rate_as_a_json_float_is_float_money() -> None:
    error = refused(with_value("ExpensePosted", "payload.fx", fx_used(1.0834567891)))
    assert isinstance(error, FloatMoneyError)
    assert error.paths == ("payload.fx.rate",)


def test_the_same_rate_as_a_decimal_string_decodes_exactly() -> None:
    envelope = decode(with_value("ExpensePosted", "payload.fx", fx_used("1.0834567891")))
    assert envelope.payload.fx.rate == Decimal("1.0834567891")
    assert json.loads(encode(envelope))["payload"]["fx"]["rate"] == "1.0834567891"


def test_fx_rates_refuse_floats_in_python_too() -> None:
    fields = {
        "id": "fx-1",
        "base": "EUR",
        "quote": "USD",
        "rate_type": "spot",
        "effective_date": "2026-10-01",
        "source": "ecb",
    }
    assert FxRate.model_validate({**fields, "rate": "1.08"}).rate == Decimal("1.08")
    with pytest.raises(ValidationError, match="decimal strings"):
        FxRate.model_validate({**fields, "rate": 1.08})


# --- dates are calendar days in a sane range ---------------------------------------------------


class Dated(BaseModel):
    day: CalendarDate
    at: UtcDatetime | None = None


@pytest.mark.parametrize(
    "day",
    [
        "2026-10-01T00:00:00",
        "2026-10-01T00:00:00Z",
        "2026-10-01 00:00",
        "20261001",
        "1899-12-31",
        "3000-01-01",
        "0001-01-01",
        1790000000,
        0,
        None,
    ],
)
def test_a_date_field_takes_only_a_yyyy_mm_dd_string_of_a_sane_year(day: object) -> None:
    with pytest.raises(ValidationError):
        Dated.model_validate_json(json.dumps({"day": day}))


def test_a_calendar_date_round_trips_and_python_dates_still_work() -> None:
    assert Dated.model_validate_json('{"day": "2026-10-01"}').day == date(2026, 10, 1)
    assert Dated(day=date(1900, 1, 1)).day == date(1900, 1, 1)
    with pytest.raises(ValidationError):
        Dated(day=datetime(2026, 10, 1, tzinfo=UTC))


def test_a_datetime_where_a_contract_expects_a_date_is_a_decode_error() -> None:
    error = refused(with_value("TimeApproved", "payload.entry.work_date", "2026-10-26T00:00:00"))
    assert "payload.entry.work_date" in error.paths  # type: ignore[attr-defined]


@pytest.mark.parametrize("at", ["3000-01-01T00:00:00Z", "1899-12-31T23:59:59Z", 1790000000])
def test_an_instant_outside_sane_years_or_as_a_number_is_refused(at: object) -> None:
    with pytest.raises(ValidationError):
        Dated.model_validate_json(json.dumps({"day": "2026-10-01", "at": at}))
    refused(with_value("OpportunityLost", "payload.lost_at", at))


# --- free text is bounded ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "path", "limit"),
    [
        ("TimeApproved", "payload.entry.source_status", 80),
        ("TimeApproved", "payload.entry.notes", 4000),
        ("OpportunityLost", "payload.reason", 500),
    ],
)
def test_free_text_fields_are_bounded(event_type: str, path: str, limit: int) -> None:
    assert decode(with_value(event_type, path, "x" * limit))
    refused(with_value(event_type, path, "x" * (limit + 1)))


def test_money_still_takes_integers_and_strings() -> None:
    assert Money.model_validate_json('{"amount": 12, "currency": "EUR"}').amount == Decimal("12.00")
    with pytest.raises(ValidationError):
        Money.model_validate_json('{"amount": 12.5, "currency": "EUR"}')
