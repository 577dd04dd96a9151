"""Keys: the canonical project id of an opportunity's saga, what each write to a system is made
under, and what a held saga waits for.

One function per kind of key, used wherever the key is raised, released or written, so they can
never disagree on spelling. Every write key carries the saga's **generation**: an opportunity
lost after commit and won again starts a new saga whose ERP shell must not be found as the
cancelled one. (A legal entity's company in an ERP: ``tandem_connectors.directory.company_key``,
since the directory resolves it.)
"""

from __future__ import annotations

import uuid
from enum import StrEnum

__all__ = [
    "Write",
    "customer_key",
    "event_key",
    "legal_entity_key",
    "project_id",
    "rate_card_key",
    "rate_cards_key",
    "saga_key",
    "stuck_key",
    "write_key",
]

# Fixed for ever: changing it would give every existing opportunity a new project id.
_PROJECTS = uuid.UUID("6b1f0c4e-3d2a-5e8f-9a41-7c2d0e5b9f13")


class Write(StrEnum):
    """A write to a system of record that a saga makes, at most once per generation."""

    ERP_SHELL = "erp-shell"
    PSA_SHELL = "psa-shell"
    CRM_CODE = "crm-code"
    ERP_ACTIVATION = "erp-activate"
    PSA_ACTIVATION = "psa-activate"
    ERP_CANCEL = "erp-cancel"
    PSA_CANCEL = "psa-cancel"
    ERP_CLOSE = "erp-close"
    PSA_CLOSE = "psa-close"


def _check_generation(generation: int) -> None:
    if generation < 1:
        raise ValueError(f"a saga generation starts at 1, not {generation}")


def saga_key(opportunity_id: str, generation: int) -> str:
    """The key of the opportunity's saga of ``generation`` (the root of its write keys)."""
    _check_generation(generation)
    return f"project:{opportunity_id}:g{generation}"


def project_id(opportunity_id: str, generation: int) -> str:
    """The canonical id of the project the opportunity's saga of ``generation`` creates.

    Derived, not drawn: a saga resumed after a crash names the same project. A UUID (36
    characters) whatever the opportunity id's length, so it is always a canonical id.
    """
    return str(uuid.uuid5(_PROJECTS, saga_key(opportunity_id, generation)))


def write_key(opportunity_id: str, generation: int, write: Write) -> str:
    """The idempotency key ``write`` is made under in its system (kept with the record)."""
    return f"{saga_key(opportunity_id, generation)}:{write}"


def event_key(opportunity_id: str, generation: int, event_type: str) -> str:
    """The idempotency key of the saga's ``event_type`` announcement (one per generation)."""
    return f"{saga_key(opportunity_id, generation)}:{event_type}"


def stuck_key(opportunity_id: str, generation: int, step: str, visit: int) -> str:
    """The idempotency key of the stuck alert for the saga's ``visit``-th step (``step``)."""
    return f"{saga_key(opportunity_id, generation)}:stuck:{visit}:{step}"


def customer_key(customer_id: str) -> str:
    """The dependency key released when the customer is linked to its ERP customer, or its
    data (tax registration) is fixed at the source."""
    return f"customer:{customer_id}"


def legal_entity_key(legal_entity_id: str) -> str:
    """The dependency key released when the legal entity becomes known or allowed."""
    return f"legal-entity:{legal_entity_id}"


def rate_card_key(rate_card_id: str) -> str:
    """The dependency key released when the rate card is published."""
    return f"rate-card:{rate_card_id}"


def rate_cards_key(currency: str) -> str:
    """The dependency key released when a rate card in ``currency`` is published."""
    return f"rate-cards:{currency}"
