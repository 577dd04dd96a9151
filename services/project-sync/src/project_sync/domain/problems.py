"""What is wrong with a proposed project: typed problems, every one listed at once.

A problem either **waits** for something that will come in the ordinary course (a customer not
yet linked to its ERP customer: DOMAIN.md §4.8, customer before project) or needs a **fix at the
source** (an invalid VAT id, an entity not allowed). Either way it names the dependency key whose
release may clear it, so a saga held by it resumes by itself once the fix arrives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Fails", "Outcome", "Passes", "Problem", "ProblemCode", "Waits", "outcome_of"]


class ProblemCode(StrEnum):
    """Why a set-up, a customer's tax data or a statement of work is not acceptable."""

    VAT_MISSING = "vat_missing"
    VAT_INVALID = "vat_invalid"
    VAT_COUNTRY_MISMATCH = "vat_country_mismatch"
    TAX_ID_INVALID = "tax_id_invalid"
    ENTITY_UNKNOWN = "entity_unknown"
    ENTITY_NOT_ALLOWED = "entity_not_allowed"
    CURRENCY_NOT_ALLOWED = "currency_not_allowed"
    CUSTOMER_UNKNOWN = "customer_unknown"
    CUSTOMER_NOT_LINKED = "customer_not_linked"
    RATE_CARD_MISSING = "rate_card_missing"
    RATE_CARD_UNKNOWN = "rate_card_unknown"
    RATE_CARD_CURRENCY_MISMATCH = "rate_card_currency_mismatch"
    CONTRACT_NOT_APPROVED = "contract_not_approved"
    PO_MISSING = "po_missing"
    BILLING_MODEL_UNKNOWN = "billing_model_unknown"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with ``field``; ``key`` is the dependency whose release may clear it,
    ``waits`` whether it is expected to clear by itself (else it needs a fix at the source)."""

    code: ProblemCode
    field: str
    message: str
    key: str | None = None
    waits: bool = False


@dataclass(frozen=True)
class Passes:
    """Nothing is wrong."""


@dataclass(frozen=True)
class Waits:
    """Only waits: hold until ``key`` (the first) is released, then check again."""

    key: str
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Fails:
    """Something needs a fix at the source; any of ``resume_on`` released checks again."""

    problems: tuple[Problem, ...]
    resume_on: tuple[str, ...]


Outcome = Passes | Waits | Fails


def outcome_of(problems: Iterable[Problem]) -> Outcome:
    """Whether ``problems`` pass, only wait, or need a fix (a fix wins over a wait)."""
    found = tuple(problems)
    if not found:
        return Passes()
    if all(problem.waits and problem.key is not None for problem in found):
        return Waits(str(found[0].key), found)
    keys = dict.fromkeys(problem.key for problem in found if problem.key is not None)
    return Fails(found, tuple(key for key in keys if key is not None))
