"""Pure mappings of the Tryton adapter: keys, durations, money, periods, billing models."""

import datetime as dt
from decimal import Decimal

import pytest

from tandem_connectors.tryton._keys import _key_of
from tandem_connectors.tryton._mapping import (
    duration_of,
    external_ref,
    fiscal_years_around,
    invoice_method,
    minutes_of,
    money_of,
    period_status,
    record_key,
)
from tandem_contracts import Money
from tandem_contracts.entities import BillingModel, PeriodStatus


def test_record_keys_sort_as_strings_in_id_order() -> None:
    ids = [1, 9, 10, 99, 100, 123456789]
    keys = [record_key(i) for i in ids]
    assert sorted(keys) == keys
    assert record_key(42) == "000000000042"
    with pytest.raises(ValueError, match="positive"):
        record_key(-1)


@pytest.mark.parametrize("minutes", [0, 1, 15, 90, 480, 1439])
def test_minutes_round_trip_through_a_tryton_duration(minutes: int) -> None:
    assert minutes_of(duration_of(minutes)) == minutes
    assert duration_of(minutes) == dt.timedelta(minutes=minutes)


def test_period_states_map_and_an_unknown_one_is_refused() -> None:
    assert period_status("open") is PeriodStatus.OPEN
    assert period_status("closed") is PeriodStatus.CLOSED
    assert period_status("locked") is PeriodStatus.LOCKED
    with pytest.raises(ValueError, match="draft"):
        period_status("draft")


def test_tryton_amounts_become_money_rounded_to_the_currency() -> None:
    assert money_of(Decimal("750.005"), "USD") == Money.of("750.01", "USD")
    assert money_of(0, "EUR") == Money.of("0.00", "EUR")


def test_time_billing_models_bill_the_timesheet() -> None:
    assert invoice_method(BillingModel.TIME_AND_MATERIALS) == "timesheet"
    assert invoice_method(BillingModel.CAPPED_TM) == "timesheet"
    assert invoice_method(BillingModel.FIXED_FEE) == "progress"
    assert invoice_method(BillingModel.MILESTONE) == "manual"


def test_the_previous_current_and_next_years_are_kept_open() -> None:
    assert list(fiscal_years_around(dt.date(2027, 1, 1))) == [2026, 2027, 2028]


def test_a_dotted_key_field_is_read_from_trytons_nested_answer() -> None:
    assert _key_of({"id": 3, "party.": {"id": 8, "code": "le-us"}}, "party.code") == "le-us"
    assert _key_of({"id": 3, "description": "te-1"}, "description") == "te-1"


def test_references_name_the_erp_instance_and_model() -> None:
    ref = external_ref("us", "timesheet.line", 7)
    assert (ref.system, ref.instance, ref.object_type, ref.external_id) == (
        "erp",
        "us",
        "timesheet.line",
        "7",
    )
