"""Tryton's JSON-RPC value encoding round-trips every type it has."""

import datetime as dt
import json
from decimal import Decimal

import pytest

from tandem_connectors.tryton import from_wire, to_wire


@pytest.mark.parametrize(
    "value",
    [
        Decimal("750.00"),
        Decimal("-0.0001"),
        dt.date(2026, 10, 31),
        dt.datetime(2026, 11, 2, 9, 30, 15, 250),
        dt.time(17, 45, 1),
        dt.timedelta(hours=7, minutes=30),
        b"\x00receipt\xff",
        {"lines": [{"hours": dt.timedelta(minutes=90), "rate": Decimal("150")}], "n": 3},
    ],
)
def test_values_survive_the_wire(value: object) -> None:
    encoded = json.loads(json.dumps(to_wire(value)))
    assert from_wire(encoded) == value


def test_decimals_travel_as_plain_decimal_strings() -> None:
    assert to_wire(Decimal("1E+3")) == {"__class__": "Decimal", "decimal": "1000"}
    assert to_wire(dt.timedelta(hours=2)) == {"__class__": "timedelta", "seconds": 7200.0}
