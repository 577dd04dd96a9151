"""Customers in several countries and currencies, with tax profiles (EU B2B with VAT ids)."""

from __future__ import annotations

import random
from datetime import timedelta

from stdnum.es import dni as es_dni
from stdnum.eu import vat as eu_vat

from tandem_contracts.entities import Customer, CustomerStatus, TaxProfile
from tandem_sandbox.scenario._catalog import (
    CITIES,
    COUNTRIES,
    EU_COUNTRIES,
    NAME_STEMS,
    NAME_TRADES,
    US_STATES,
    CountrySpec,
)
from tandem_sandbox.scenario._context import Context
from tandem_sandbox.scenario._org import Org

__all__ = ["build_customers"]

# The first customers land in each entity's home market so every entity sells something.
_ANCHORS = ("US", "GB", "DE", "IN", "SG", "FR")
_BY_CODE = {spec.code: spec for spec in COUNTRIES}
_VAT_DRAWS = 10_000


def build_customers(ctx: Context, org: Org, count: int) -> tuple[Customer, ...]:
    """Build ``count`` customers with unique names, each sold by its market's legal entity."""
    rng = ctx.rng("customers")
    names = rng.sample([(s, t) for s in NAME_STEMS for t in NAME_TRADES], min(count, 375))
    customers = []
    for n in range(count):
        spec = _BY_CODE[_ANCHORS[n]] if n < len(_ANCHORS) else _pick_country(rng)
        stem, trade = names[n % len(names)]
        name = f"{stem} {trade} {rng.choice(spec.suffixes)}"
        if n >= len(names):
            name = f"{stem} {trade} {n // len(names) + 1} {spec.suffixes[0]}"
        customers.append(_customer(ctx, org, rng, spec, name))
    return tuple(customers)


def _pick_country(rng: random.Random) -> CountrySpec:
    return rng.choices(COUNTRIES, [spec.weight for spec in COUNTRIES])[0]


def _customer(ctx: Context, org: Org, rng: random.Random, spec: CountrySpec, name: str) -> Customer:
    roll = rng.random()
    status = (
        CustomerStatus.PROSPECT
        if roll < 0.08
        else CustomerStatus.ON_HOLD
        if roll < 0.11
        else CustomerStatus.ACTIVE
    )
    return Customer(
        id=ctx.new_id(),
        name=name,
        legal_entity_id=org.entity_ids[spec.entity],
        country=spec.code,
        currency=spec.currency,
        tax_profile=_tax_profile(ctx, rng, spec),
        payment_terms_days=rng.choice((30, 30, 30, 45, 60) if spec.code != "IN" else (45, 60)),
        billing_address=_address(rng, spec.code),
        status=status,
        source_status={
            CustomerStatus.PROSPECT: "Prospect",
            CustomerStatus.ON_HOLD: "Credit Hold",
        }.get(status, "Customer"),
    )


def _tax_profile(ctx: Context, rng: random.Random, spec: CountrySpec) -> TaxProfile:
    seller_country = {"us": "US", "uk": "GB", "de": "DE", "in": "IN", "sg": "SG"}[spec.entity]
    domestic = spec.code == seller_country
    if spec.code in EU_COUNTRIES or spec.code in ("GB", "CH"):
        # A VAT id checked in VIES is what lets the seller apply the EU reverse charge.
        validated = rng.random() < 0.9
        return TaxProfile(
            country=spec.code,
            vat_id=_vat_id(rng, spec),
            vat_id_validated_at=ctx.at(ctx.month - timedelta(days=rng.randint(20, 700)), 10)
            if validated
            else None,
            default_tax_code=_vat_code(spec.code, domestic=domestic, validated=validated),
        )
    if spec.code == "US":
        certificate = f"EXM-{rng.randint(100000, 999999)}" if rng.random() < 0.1 else None
        return TaxProfile(
            country="US",
            subdivision=rng.choice(US_STATES),
            exemption_certificate=certificate,
            default_tax_code="US-SVC-NT",
        )
    if spec.code == "IN":
        state, pan = rng.randint(10, 36), f"AAB{rng.choice('CFP')}{rng.randint(1000, 9999)}"
        gstin = f"{state}{pan}{rng.choice('ABCDE')}1Z{rng.randint(1, 9)}"
        return TaxProfile(country="IN", vat_id=gstin, default_tax_code="IN-GST-18")
    return TaxProfile(country=spec.code, default_tax_code="SG-GST-9" if domestic else "EXPORT-0")


def _vat_code(country: str, *, domestic: bool, validated: bool) -> str | None:
    if domestic:
        return f"{country}-STD"
    if country not in EU_COUNTRIES:
        return "EXPORT-0"
    # Without a validated VAT id the reverse charge cannot apply; finance must decide.
    return "EU-B2B-RC" if validated else None


def _vat_id(rng: random.Random, spec: CountrySpec) -> str:
    """A VAT id of ``spec``'s format; for an EU country one whose check digits hold (as
    VIES-style checks and a real ERP such as Tryton verify), drawn until one does."""
    for _ in range(_VAT_DRAWS):
        candidate = _vat_candidate(rng, spec)
        if spec.code not in EU_COUNTRIES or eu_vat.is_valid(candidate):
            return candidate
    raise AssertionError(f"no valid {spec.code} VAT id in {_VAT_DRAWS} draws")  # pragma: no cover


def _vat_candidate(rng: random.Random, spec: CountrySpec) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(9))
    if spec.code == "NL":
        return f"NL{digits}B01"
    if spec.code == "CH":
        return f"CHE-{digits[:3]}.{digits[3:6]}.{digits[6:]} MWST"
    if spec.code == "FR":
        return f"FR{rng.randint(10, 99)}{digits}"
    if spec.code == "IE":
        return f"IE{digits[:7]}{rng.choice('ABCDEFGHW')}"
    if spec.code == "ES":  # a DNI: eight digits and their check letter
        return f"ES{digits[:8]}{es_dni.calc_check_digit(digits[:8])}"
    if spec.code == "DE":
        return f"DE{rng.randint(1, 9)}{digits[1:]}"
    if spec.code == "IT":
        return f"IT{digits[:7]}{rng.randint(1, 100):03d}{rng.randint(0, 9)}"
    if spec.code == "AT":
        return f"ATU{digits[:8]}"
    return f"{spec.vat_prefix}{digits}"


def _address(rng: random.Random, country: str) -> str:
    street = f"{rng.randint(1, 250)} {rng.choice(NAME_STEMS)} Street"
    return f"{street}, {rng.choice(CITIES[country])}"
