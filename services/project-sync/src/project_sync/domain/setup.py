"""Validate a proposed project set-up before anything is created: every problem at once.

Used by the saga's validate step and by the synchronous validation API alike. The reference data
is what project-sync keeps from events (legal entities and their currencies, rate cards,
customers with their ERP link and tax problems); nothing here calls a system.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from project_sync.domain.keys import (
    customer_key,
    legal_entity_key,
    rate_card_key,
    rate_cards_key,
)
from project_sync.domain.problems import Problem, ProblemCode
from project_sync.domain.tax import check_tax_profile
from tandem_contracts.entities import TaxProfile

__all__ = ["CustomerFacts", "ProjectSetup", "ReferenceData", "validate_setup"]


@dataclass(frozen=True)
class ProjectSetup:
    """A project as proposed: from a committed opportunity, or asked about over the API.

    ``tax_profile`` proposes the customer's tax data for this project; None uses what is known
    of the customer. ``rate_card_id`` None takes the rate card of the currency.
    """

    opportunity_id: str
    name: str
    selling_legal_entity_id: str
    customer_id: str
    currency: str
    rate_card_id: str | None = None
    tax_profile: TaxProfile | None = None
    org_unit_ids: tuple[str, ...] = ()
    """The org units that will deliver it (practice, region): the project's."""


@dataclass(frozen=True)
class CustomerFacts:
    """What project-sync knows of a customer: linked to its ERP customer? its tax problems."""

    customer_id: str
    erp_linked: bool
    tax_problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class ReferenceData:
    """Known legal entities and their currencies (``allowed_entities`` None: all known ones),
    rate cards (id → currency) and customers."""

    entity_currencies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    allowed_entities: frozenset[str] | None = None
    rate_cards: Mapping[str, str] = field(default_factory=dict)
    customers: Mapping[str, CustomerFacts] = field(default_factory=dict)


def validate_setup(setup: ProjectSetup, reference: ReferenceData) -> tuple[Problem, ...]:
    """Every problem of ``setup`` against ``reference``, in field order (empty: it may go)."""
    return (
        *_check_entity(setup, reference),
        *_check_customer(setup, reference),
        *_check_rate_card(setup, reference),
    )


def _check_entity(setup: ProjectSetup, reference: ReferenceData) -> list[Problem]:
    entity, key = setup.selling_legal_entity_id, legal_entity_key(setup.selling_legal_entity_id)
    currencies = reference.entity_currencies.get(entity)
    if currencies is None:
        return [
            Problem(
                ProblemCode.ENTITY_UNKNOWN,
                "selling_legal_entity_id",
                f"legal entity {entity} is not known",
                key=key,
            )
        ]
    problems = []
    if reference.allowed_entities is not None and entity not in reference.allowed_entities:
        problems.append(
            Problem(
                ProblemCode.ENTITY_NOT_ALLOWED,
                "selling_legal_entity_id",
                f"legal entity {entity} may not sell projects",
                key=key,
            )
        )
    if setup.currency not in currencies:
        allowed = ", ".join(sorted(currencies)) or "none"
        problems.append(
            Problem(
                ProblemCode.CURRENCY_NOT_ALLOWED,
                "currency",
                f"{entity} does not sell in {setup.currency} (only {allowed})",
                key=key,
            )
        )
    return problems


def _check_customer(setup: ProjectSetup, reference: ReferenceData) -> list[Problem]:
    key = customer_key(setup.customer_id)
    facts = reference.customers.get(setup.customer_id)
    problems = []
    if facts is None:
        problems.append(
            Problem(
                ProblemCode.CUSTOMER_UNKNOWN,
                "customer_id",
                f"customer {setup.customer_id} is not known yet",
                key=key,
                waits=True,
            )
        )
    elif not facts.erp_linked:
        problems.append(
            Problem(
                ProblemCode.CUSTOMER_NOT_LINKED,
                "customer_id",
                f"customer {setup.customer_id} is not in the ERP yet",
                key=key,
                waits=True,
            )
        )
    if setup.tax_profile is not None:
        problems.extend(check_tax_profile(setup.tax_profile, key=key))
    elif facts is not None:
        problems.extend(facts.tax_problems)
    return problems


def _check_rate_card(setup: ProjectSetup, reference: ReferenceData) -> list[Problem]:
    if setup.rate_card_id is None:
        if setup.currency in reference.rate_cards.values():
            return []
        return [
            Problem(
                ProblemCode.RATE_CARD_MISSING,
                "rate_card_id",
                f"no rate card in {setup.currency}",
                key=rate_cards_key(setup.currency),
            )
        ]
    card, key = setup.rate_card_id, rate_card_key(setup.rate_card_id)
    currency = reference.rate_cards.get(card)
    if currency is None:
        return [
            Problem(
                ProblemCode.RATE_CARD_UNKNOWN,
                "rate_card_id",
                f"rate card {card} is not known",
                key=key,
            )
        ]
    if currency != setup.currency:
        return [
            Problem(
                ProblemCode.RATE_CARD_CURRENCY_MISMATCH,
                "rate_card_id",
                f"rate card {card} is in {currency}, the project in {setup.currency}",
                key=key,
            )
        ]
    return []
