"""Tax by region (DOMAIN.md §4.6): domestic standard rates, EU reverse charge with a validated
VAT id, EU B2C at the seller's rate, exports of services exempt; and line tax rounding."""

from decimal import Decimal

import pytest

from billing_readiness.domain import VAT_RATES, TaxDecision, decide_tax, line_tax, tax_problem
from tandem_connectors.ports import TaxTreatment
from tandem_contracts import Money
from tandem_testing import sibling_module

_builders = sibling_module(__file__, "billing_builders.py", "billing_readiness_unit_builders")
customer = _builders.customer
money = _builders.money

FR_VAT = "FR12345678221"


def test_a_domestic_supply_bears_the_sellers_standard_rate() -> None:
    assert decide_tax("GB", customer("GB")) == TaxDecision(TaxTreatment.STANDARD, Decimal(20), None)
    assert decide_tax("DE", customer("DE", "DE123454789")).rate_pct == Decimal(19)
    assert tax_problem("GB", customer("GB")) is None


def test_a_country_without_vat_makes_a_domestic_supply_exempt() -> None:
    assert VAT_RATES["US"] == 0
    assert decide_tax("US", customer("US")) == TaxDecision(TaxTreatment.EXEMPT, Decimal(0), None)
    assert decide_tax("BR", customer("BR")).treatment is TaxTreatment.EXEMPT


def test_an_eu_business_abroad_with_a_validated_vat_id_is_reverse_charged() -> None:
    buyer = customer("FR", "fr 123 456 782 21", validated=True)
    decision = decide_tax("DE", buyer)
    assert (decision.treatment, decision.rate_pct) == (TaxTreatment.REVERSE_CHARGE, Decimal(0))
    assert decision.mention is not None
    assert "art. 44/196" in decision.mention
    assert FR_VAT in decision.mention
    assert tax_problem("DE", buyer) is None


def test_a_vat_id_not_checked_in_vies_cannot_be_reverse_charged() -> None:
    buyer = customer("FR", FR_VAT)
    assert tax_problem("DE", buyer) == "vat_id_not_validated"
    assert decide_tax("DE", buyer) == TaxDecision(TaxTreatment.STANDARD, Decimal(19), None)


@pytest.mark.parametrize(
    ("vat_id", "problem"),
    [
        (None, "vat_id_missing"),
        ("  ", "vat_id_missing"),
        ("FR12345678222", "vat_id_invalid"),  # check digits
        ("DE123454789", "vat_id_invalid"),  # valid, but another member state's
        ("12345678221", "vat_id_invalid"),  # no prefix
    ],
)
def test_an_eu_business_customer_needs_a_valid_vat_id_of_its_country(
    vat_id: str | None, problem: str
) -> None:
    assert tax_problem("DE", customer("FR", vat_id, validated=True)) == problem


def test_greek_vat_ids_use_the_el_prefix() -> None:
    assert tax_problem("DE", customer("GR", "EL123454789", validated=True)) is None
    assert tax_problem("DE", customer("GR", "GR123454789", validated=True)) == "vat_id_invalid"


def test_an_eu_consumer_in_another_member_state_pays_the_sellers_vat() -> None:
    consumer = customer("FR", b2c=True)
    assert tax_problem("DE", consumer) is None
    assert decide_tax("DE", consumer) == TaxDecision(TaxTreatment.STANDARD, Decimal(19), None)


@pytest.mark.parametrize(
    ("seller", "country"),
    [("GB", "US"), ("US", "DE"), ("DE", "US"), ("DE", "GB"), ("GB", "FR"), ("SG", "AU")],
)
def test_services_leaving_the_sellers_tax_area_are_exempt(seller: str, country: str) -> None:
    buyer = customer(country)
    assert decide_tax(seller, buyer) == TaxDecision(TaxTreatment.EXEMPT, Decimal(0), None)
    assert tax_problem(seller, buyer) is None


def test_line_tax_rounds_per_line_symmetrically_for_credits() -> None:
    assert line_tax(money("10.05"), Decimal(19)) == money("1.91")  # 1.9095
    assert line_tax(money("0.25"), Decimal(20)) == money("0.05")
    assert line_tax(money("0.125"), Decimal(20)) == money("0.03")  # 0.13 x 20 % = 0.026
    assert line_tax(money("-10.05"), Decimal(19)) == money("-1.91")
    assert line_tax(money("1000", "JPY"), Decimal("10")) == money("100", "JPY")
    assert line_tax(money("12.345", "KWD"), Decimal("5")) == money("0.617", "KWD")


def test_a_tax_of_exactly_half_a_cent_goes_to_the_even_cent_as_the_erp_rounds() -> None:
    # 19 % of 1.50 is 0.285: Tryton (and the sandbox ERP) say 0.28; half-up would say 0.29.
    assert line_tax(Money.of("1.50", "EUR"), Decimal(19)) == Money.of("0.28", "EUR")
    # 19 % of 0.50 is 0.095: the even cent is above.
    assert line_tax(Money.of("0.50", "EUR"), Decimal(19)) == Money.of("0.10", "EUR")
    assert line_tax(Money.of("-1.50", "EUR"), Decimal(19)) == Money.of("-0.28", "EUR")
