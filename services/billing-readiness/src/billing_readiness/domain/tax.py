"""How a customer invoice line is taxed, decided from the seller's country and the customer's
tax profile (DOMAIN.md §4.6); the ERP computes the taxes, billing-readiness says which and
predicts the amount.

* A domestic supply (customer taxed in the seller's country) bears the seller's standard rate;
  a country without VAT or GST (the US: sales tax is out of scope) makes it ``EXEMPT``.
* Between EU member states, a business customer with a valid VAT id that was checked in VIES
  is invoiced without VAT under reverse charge (VAT Directive art. 44 and 196; Implementing
  Reg. 282/2011 art. 18), with the mention and the customer's VAT id on the invoice. Without
  such an id the supplier may not treat it as taxable: ``tax_problem`` names why, and the
  invoice waits. A consumer (B2C) in another member state bears the seller's rate (art. 45).
* Any other cross-border supply of services leaves the seller's tax area (an export of
  services): ``EXEMPT`` at 0. Great Britain is not in the EU since 2021.

The rates are the standard ones of each country in 2026; a deployment reads its own from the
ERP's tax table, this table only predicts the ERP's amount.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from types import MappingProxyType
from typing import NamedTuple

from stdnum.eu import vat as eu_vat

from billing_readiness.domain.terms import CustomerStanding
from tandem_connectors.ports import TaxTreatment
from tandem_contracts import Money, minor_unit
from tandem_contracts.entities import TaxpayerKind

__all__ = ["EU_COUNTRIES", "VAT_RATES", "TaxDecision", "decide_tax", "line_tax", "tax_problem"]

EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
"""The 27 member states (ISO 3166 alpha-2; Greece is ``GR``, its VAT prefix ``EL``)."""

_STANDARD_RATES = {
    # EU member states
    "AT": "20", "BE": "21", "BG": "20", "CY": "19", "CZ": "21", "DE": "19", "DK": "25",
    "EE": "24", "ES": "21", "FI": "25.5", "FR": "20", "GR": "24", "HR": "25", "HU": "27",
    "IE": "23", "IT": "22", "LT": "21", "LU": "17", "LV": "21", "MT": "18", "NL": "21",
    "PL": "23", "PT": "23", "RO": "21", "SE": "25", "SI": "22", "SK": "23",
    # elsewhere: VAT or GST
    "GB": "20", "CH": "8.1", "NO": "25", "IN": "18", "SG": "9", "AU": "10", "NZ": "15",
    "JP": "10", "CA": "5", "US": "0",
}  # fmt: skip
VAT_RATES: Mapping[str, Decimal] = MappingProxyType(
    {country: Decimal(rate) for country, rate in _STANDARD_RATES.items()}
)
"""Standard VAT/GST rate (percent) by seller country; the US has none (sales tax is out of
scope), Canada's is the federal GST."""

_REVERSE_CHARGE = "Reverse charge: VAT Directive art. 44/196; customer VAT id {vat_id}"
_SEPARATORS = re.compile(r"[\s.\-/]")


class TaxDecision(NamedTuple):
    """The treatment of every line of one customer invoice, its rate, and the mention the
    invoice must carry (reverse charge), if any."""

    treatment: TaxTreatment
    rate_pct: Decimal
    mention: str | None


def _vat_id(customer: CustomerStanding) -> str | None:
    """The customer's VAT id without the spaces, dots and dashes people type (None: none)."""
    given = customer.tax_profile.vat_id
    if given is None or not given.strip():
        return None
    return _SEPARATORS.sub("", given).upper()


def _needs_vat_id(seller_country: str, customer: CustomerStanding) -> bool:
    """Whether the supply is EU B2B across a border: reverse charge, which needs a VAT id."""
    country = customer.tax_profile.country
    return (
        seller_country in EU_COUNTRIES
        and country in EU_COUNTRIES
        and country != seller_country
        and customer.tax_profile.taxable_person is TaxpayerKind.B2B
    )


def tax_problem(seller_country: str, customer: CustomerStanding) -> str | None:
    """Why the customer cannot be invoiced (a code), or None.

    An EU business customer of an EU seller in another member state needs a VAT id valid for
    its country (format and check digits, as python-stdnum knows them: ``vat_id_missing`` /
    ``vat_id_invalid``) that was checked in VIES (``vat_id_validated_at`` set, Reg. 282/2011
    art. 18: ``vat_id_not_validated``). Every other customer can be invoiced as it is.
    """
    if not _needs_vat_id(seller_country, customer):
        return None
    vat_id = _vat_id(customer)
    if vat_id is None:
        return "vat_id_missing"
    country = customer.tax_profile.country
    prefix = "EL" if country == "GR" else country
    if not vat_id.startswith(prefix) or not eu_vat.is_valid(vat_id):
        return "vat_id_invalid"
    if customer.tax_profile.vat_id_validated_at is None:
        return "vat_id_not_validated"
    return None


def _domestic(seller_country: str) -> TaxDecision:
    rate = VAT_RATES.get(seller_country, Decimal(0))
    if rate == 0:
        return TaxDecision(TaxTreatment.EXEMPT, Decimal(0), None)
    return TaxDecision(TaxTreatment.STANDARD, rate, None)


def decide_tax(seller_country: str, customer: CustomerStanding) -> TaxDecision:
    """The tax of a supply of services from ``seller_country`` to ``customer``.

    Domestic: ``STANDARD`` at the seller's rate (``EXEMPT`` 0 where there is none). EU to an
    EU business in another member state with a valid, validated VAT id: ``REVERSE_CHARGE`` 0
    with the mention. EU to an EU consumer in another member state, or to an EU business whose
    VAT id is not fit (``tax_problem``; the supplier may then not treat it as taxable):
    ``STANDARD`` at the seller's rate. Anything else leaves the seller's tax area: ``EXEMPT`` 0.
    """
    country = customer.tax_profile.country
    if country == seller_country:
        return _domestic(seller_country)
    if seller_country in EU_COUNTRIES and country in EU_COUNTRIES:
        reverse = _needs_vat_id(seller_country, customer)
        if reverse and tax_problem(seller_country, customer) is None:
            mention = _REVERSE_CHARGE.format(vat_id=_vat_id(customer))
            return TaxDecision(TaxTreatment.REVERSE_CHARGE, Decimal(0), mention)
        return _domestic(seller_country)
    return TaxDecision(TaxTreatment.EXEMPT, Decimal(0), None)


def line_tax(amount: Money, rate_pct: Decimal) -> Money:
    """The tax of one line: ``amount`` x ``rate_pct`` / 100, rounded once per line and
    half-even, as the ERP computes it (Tryton rounds a tax of exactly half a cent to the even
    cent: 19 % of 1.50 is 0.28, where half-up would say 0.29; the sandbox ERP does the same);
    a credit's negative amount rounds symmetrically."""
    exact = amount.amount * rate_pct / 100
    quantum = Decimal(1).scaleb(-minor_unit(amount.currency))
    return Money(amount=exact.quantize(quantum, rounding=ROUND_HALF_EVEN), currency=amount.currency)
