"""Tax registration (DOMAIN.md §4.6): an EU business customer needs a VAT id valid for its
country; the answer is typed problems, never a guess."""

from datetime import UTC, datetime, timedelta

import pytest

from project_sync.domain import (
    EU_COUNTRIES,
    Problem,
    ProblemCode,
    check_tax,
    check_tax_profile,
    vies_validation,
)
from tandem_contracts.entities import TaxpayerKind, TaxProfile

VALID = [
    ("AT", "ATU12342678"),
    ("BE", "BE0123452789"),
    ("BE", "BE1234567894"),
    ("DE", "DE123454789"),
    ("DK", "DK12344678"),
    ("GR", "EL123454789"),
    ("ES", "ESA12345674"),  # a company: letter, seven digits, control digit
    ("ES", "ESB1235567C"),  # ... or control letter
    ("ES", "ES12345678Z"),  # a person (DNI)
    ("FI", "FI12340678"),
    ("FR", "FR12345678221"),
    ("FR", "FRK7399859412"),  # letters in the key, never I or O
    ("IE", "IE1234567T"),
    ("IE", "IE1234567TW"),  # since 2013: a second letter
    ("IE", "IE8Z49289F"),  # the old style
    ("IT", "IT12345670801"),
    ("NL", "NL123456769B01"),
    ("PL", "PL1234565890"),
    ("PT", "PT123456789"),
    ("SE", "SE123456789701"),
    ("CZ", "CZ12348678"),  # no pattern of its own: two letters and 2 to 13 characters
    ("HU", "HU12347678"),
]

INVALID = [
    ("AT", "AT12345678"),  # the U is missing
    ("BE", "BE2123456789"),  # starts with 0 or 1
    ("BE", "BE123456789"),  # nine digits: the old format
    ("DE", "DE12345678"),
    ("DE", "DE1234567890"),
    ("DK", "DK1234567"),
    ("GR", "EL12345678"),
    ("ES", "ES123456789"),  # at least one letter
    ("ES", "ESAB2345678"),
    ("FI", "FI123456789"),
    ("FR", "FRIO123456789"),  # I and O are not used
    ("FR", "FR1234567890"),
    ("IE", "IE12345678"),
    ("IT", "IT1234567890"),
    ("NL", "NL123456789A01"),
    ("NL", "NL123456789B1"),
    ("PL", "PL123456789"),
    ("PT", "PT12345678"),
    ("SE", "SE123456789702"),  # ends in 01
    ("CZ", "CZ1"),
    ("CZ", "CZ12345678901234"),
]


@pytest.mark.parametrize(("country", "vat_id"), VALID)
def test_a_valid_vat_id_has_no_problem(country: str, vat_id: str) -> None:
    assert check_tax(country, vat_id) == []


@pytest.mark.parametrize(("country", "vat_id"), INVALID)
def test_an_invalid_vat_id_is_vat_invalid(country: str, vat_id: str) -> None:
    problems = check_tax(country, vat_id, key="customer:c-1")

    assert [p.code for p in problems] == [ProblemCode.VAT_INVALID]
    assert problems[0].field == "tax_profile.vat_id"
    assert problems[0].key == "customer:c-1"
    assert not problems[0].waits  # fixed at the source, not waited for


@pytest.mark.parametrize(
    ("country", "vat_id"),
    [("DE", "FR12345678221"), ("FR", "DE123454789"), ("DE", "EL123454789"), ("GR", "CY12345678L")],
)
def test_a_vat_id_of_another_member_state_is_a_country_mismatch(country: str, vat_id: str) -> None:
    assert [p.code for p in check_tax(country, vat_id)] == [ProblemCode.VAT_COUNTRY_MISMATCH]


@pytest.mark.parametrize(
    ("country", "vat_id"),
    [("GR", "GR123456789"), ("DE", "123456789"), ("NL", "XX123456789B01")],
)
def test_a_vat_id_without_its_country_prefix_is_invalid(country: str, vat_id: str) -> None:
    problems = check_tax(country, vat_id)
    assert [p.code for p in problems] == [ProblemCode.VAT_INVALID]
    assert ("EL" if country == "GR" else country) in problems[0].message


@pytest.mark.parametrize("vat_id", [None, "", "   "])
def test_an_eu_business_customer_without_a_vat_id_is_vat_missing(vat_id: str | None) -> None:
    problems = check_tax("FR", vat_id)
    assert problems == [
        Problem(
            ProblemCode.VAT_MISSING,
            "tax_profile.vat_id",
            "an EU customer in FR needs a VAT id for reverse charge",
        )
    ]


@pytest.mark.parametrize("vat_id", ["de 123.454.789", "NL 1234.56.769.B.01", "fr-12-345678221"])
def test_vat_ids_are_read_as_people_type_them(vat_id: str) -> None:
    country = vat_id[:2].upper()
    assert check_tax(country, vat_id) == []


def test_an_eu_consumer_needs_no_vat_id_but_one_given_must_be_valid() -> None:
    assert check_tax("FR", None, business=False) == []
    bad = check_tax("FR", "FR123", business=False)
    assert [p.code for p in bad] == [ProblemCode.VAT_INVALID]


@pytest.mark.parametrize(
    ("country", "tax_id"),
    [("US", None), ("US", "12-3456789"), ("US", "123456789"), ("GB", None), ("CH", "anything")],
)
def test_outside_the_eu_no_vat_id_is_required(country: str, tax_id: str | None) -> None:
    assert check_tax(country, tax_id) == []


def test_a_us_tax_id_given_must_look_like_an_ein() -> None:
    assert [p.code for p in check_tax("US", "12-345")] == [ProblemCode.TAX_ID_INVALID]


def test_the_eu_list_has_the_27_member_states_and_no_others() -> None:
    assert len(EU_COUNTRIES) == 27
    assert {"DE", "FR", "GR", "IE"} <= EU_COUNTRIES
    assert EU_COUNTRIES.isdisjoint({"GB", "CH", "NO", "US", "EL"})


def test_a_tax_profile_is_checked_by_its_taxpayer_kind() -> None:
    business = TaxProfile(country="IT", vat_id=None)
    consumer = TaxProfile(country="IT", vat_id=None, taxable_person=TaxpayerKind.B2C)

    assert [p.code for p in check_tax_profile(business, key="customer:c")] == [
        ProblemCode.VAT_MISSING
    ]
    assert check_tax_profile(business, key="customer:c")[0].key == "customer:c"
    assert check_tax_profile(consumer) == []


@pytest.mark.parametrize(
    ("country", "vat_id"),
    [
        ("DE", "DE123456789"),
        ("NL", "NL123456789B01"),
        ("FR", "FR12345678901"),
        ("IT", "IT12345678901"),
        ("AT", "ATU12345678"),
    ],
)
def test_a_vat_id_of_the_right_shape_with_wrong_check_digits_is_invalid(
    country: str, vat_id: str
) -> None:
    # What a real ERP (Tryton's eu_vat) refuses is refused here first, as a business problem.
    [problem] = check_tax(country, vat_id)
    assert problem.code is ProblemCode.VAT_INVALID
    assert "check digits" in problem.message


CHECKED = datetime(2026, 9, 14, 10, 30, tzinfo=UTC)


def test_a_vies_date_on_a_number_validates_it() -> None:
    assert vies_validation("FR40303265045", CHECKED) == CHECKED
    held = TaxProfile(country="FR", vat_id="FR40303265045", vat_id_validated_at=CHECKED)
    assert vies_validation("fr 40 303.265.045", CHECKED, held) == CHECKED  # the same, retyped


@pytest.mark.parametrize("vat_id", [None, "", "  "])
def test_a_vies_date_without_a_number_validates_nothing(vat_id: str | None) -> None:
    assert vies_validation(vat_id, CHECKED) is None


def test_a_new_number_is_validated_only_by_a_check_after_the_one_it_replaced() -> None:
    held = TaxProfile(country="FR", vat_id="FR40303265045", vat_id_validated_at=CHECKED)
    # A CRM that kept the old number's date across the change: that date is not this number's.
    assert vies_validation("FR83404833048", CHECKED, held) is None
    assert vies_validation("FR83404833048", CHECKED - timedelta(days=1), held) is None
    later = CHECKED + timedelta(minutes=5)
    assert vies_validation("FR83404833048", later, held) == later
    assert vies_validation("FR83404833048", None, held) is None
