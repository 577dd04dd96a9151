"""Is a customer's tax registration fit to invoice it (DOMAIN.md §4.6)?

An EU business customer is invoiced under reverse charge, which needs its VAT id: one valid for
its country — the country's VAT prefix (Greece: ``EL``), its format and its check digits, as
python-stdnum knows each member state's (a real ERP such as Tryton refuses the same numbers).
A consumer (B2C) in the EU needs none, but one given must be valid. Outside the EU no VAT id is
required; a US tax id (EIN), when given, must look like one. The answer is a list of typed
problems, never a guess.

The VIES registration check (Reg. 282/2011 art. 18) is not made here: the CRM's VIES app makes
it and records on the account when it confirmed the number, and clears that date when the
number changes. ``vies_validation`` carries the date into ``TaxProfile.vat_id_validated_at``
only while it can be this number's; without it billing-readiness holds the reverse-charge
charges (``vat_id_not_validated``).
"""

from __future__ import annotations

import re
from datetime import datetime

from stdnum.eu import vat as eu_vat
from stdnum.us import ein as us_ein

from project_sync.domain.problems import Problem, ProblemCode
from tandem_contracts.entities import TaxpayerKind, TaxProfile

__all__ = [
    "EU_COUNTRIES",
    "check_tax",
    "check_tax_profile",
    "normalise_tax_id",
    "vat_prefix",
    "vies_validation",
]

EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)

_SEPARATORS = re.compile(r"[\s.\-/]")


def vat_prefix(country: str) -> str:
    """The VAT prefix of an EU ``country`` (ISO 3166 alpha-2): the code itself, Greece ``EL``."""
    return "EL" if country == "GR" else country


_EU_PREFIXES = frozenset(vat_prefix(country) for country in EU_COUNTRIES)


def normalise_tax_id(value: str) -> str:
    """``value`` upper-cased without the spaces, dots, dashes and slashes people type."""
    return _SEPARATORS.sub("", value).upper()


def check_tax(
    country: str,
    vat_id: str | None,
    *,
    business: bool = True,
    field: str = "tax_profile.vat_id",
    key: str | None = None,
) -> list[Problem]:
    """The problems of a customer in ``country`` registered as ``vat_id`` (none: fit).

    ``key`` is the dependency released when the customer's data changes at the source.
    """
    given = normalise_tax_id(vat_id) if vat_id is not None and vat_id.strip() else None
    if country not in EU_COUNTRIES:
        if country == "US" and given is not None and not us_ein.is_valid(given):
            return [_problem(ProblemCode.TAX_ID_INVALID, field, key, f"{vat_id!r} is no US EIN")]
        return []
    if given is None and business:
        message = f"an EU customer in {country} needs a VAT id for reverse charge"
        return [_problem(ProblemCode.VAT_MISSING, field, key, message)]
    if given is None:
        return []
    return _check_vat(country, given, field, key)


def check_tax_profile(profile: TaxProfile, *, key: str | None = None) -> list[Problem]:
    """The problems of a customer's tax profile (see ``check_tax``)."""
    business = profile.taxable_person is TaxpayerKind.B2B
    return check_tax(profile.country, profile.vat_id, business=business, key=key)


def vies_validation(
    vat_id: str | None, validated_at: datetime | None, held: TaxProfile | None = None
) -> datetime | None:
    """When ``vat_id`` was confirmed in VIES, as the CRM says; None when that cannot be it.

    A date without a number validates nothing. ``held`` is the customer's profile as last
    known: a check of this new number comes after the check of the number it replaced, so a
    date not later than that one is the old number's, kept by a CRM that did not clear it.
    """
    if validated_at is None or vat_id is None or not vat_id.strip():
        return None
    if held is None or held.vat_id is None or held.vat_id_validated_at is None:
        return validated_at
    renumbered = normalise_tax_id(held.vat_id) != normalise_tax_id(vat_id)
    if renumbered and validated_at <= held.vat_id_validated_at:
        return None
    return validated_at


def _check_vat(country: str, vat: str, field: str, key: str | None) -> list[Problem]:
    expected, prefix = vat_prefix(country), vat[:2]
    if prefix != expected and prefix in _EU_PREFIXES:
        message = f"VAT id {vat} is registered in {prefix}, the customer is in {country}"
        return [_problem(ProblemCode.VAT_COUNTRY_MISMATCH, field, key, message)]
    if prefix != expected:
        message = f"VAT id {vat} does not start with {expected}"
        return [_problem(ProblemCode.VAT_INVALID, field, key, message)]
    if not eu_vat.is_valid(vat):
        message = f"VAT id {vat} is not a valid {expected} VAT number (format or check digits)"
        return [_problem(ProblemCode.VAT_INVALID, field, key, message)]
    return []


def _problem(code: ProblemCode, field: str, key: str | None, message: str) -> Problem:
    return Problem(code, field, message, key=key, waits=False)
