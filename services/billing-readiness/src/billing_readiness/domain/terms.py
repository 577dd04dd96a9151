"""What a charge is made against: the project's billing terms, its customer, the firm's policy.

``BillingTerms`` is what ``ProjectActivated``, ``SOWApproved`` and ``ChangeOrderApproved`` leave
of a project (DOMAIN.md §2.3 ``Contract``/``Project``): its selling entity, the only one that
invoices the customer (§4.5), its currency, billing model, cap and value. ``CustomerStanding`` is
the part of the customer billing needs: where it is taxed and whether it is on credit hold.
``Policy`` holds the per-tenant settings (§7): what becomes of a cap overage, whether a PO is
required, which intercompany pairs are allowed and at what markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from tandem_contracts import Money
from tandem_contracts.entities import BillingModel, TaxProfile

__all__ = ["BillingTerms", "CustomerStanding", "Policy"]


@dataclass(frozen=True, slots=True)
class BillingTerms:
    """A project's billing set-up (ProjectActivated + SOWApproved + ChangeOrderApproved).

    ``legal_entity_id`` is the project's (selling) entity: the only one invoicing the customer.
    ``cap`` is a capped T&M contract's not-to-exceed; ``total_value`` a fixed fee's total or a
    retainer's amount. Both are in ``currency``, the project's.
    """

    project_id: str
    customer_id: str
    legal_entity_id: str
    currency: str
    model: BillingModel
    contract_id: str | None = None
    cap: Money | None = None
    total_value: Money | None = None
    start: date | None = None
    end: date | None = None
    po_number: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerStanding:
    """What billing needs of a customer: its tax profile (the VAT rules follow
    ``tax_profile.country``) and whether it is on credit hold (``CustomerStatus.ON_HOLD``)."""

    customer_id: str
    country: str
    tax_profile: TaxProfile
    on_credit_hold: bool


@dataclass(frozen=True, slots=True)
class Policy:
    """The tenant's billing settings.

    ``overage``: a capped T&M overage is held for a person to approve, or written off at once.
    ``intercompany_pairs``: allowed (worker entity, project entity) pairs, none by default
    (DOMAIN.md §7.5). ``intercompany_markup``: transfer price = cost x markup.
    ``leakage_after_days``: billable value older than this and not invoiced is leakage.
    """

    overage: Literal["hold", "write_off"] = "hold"
    require_po: bool = False
    intercompany_pairs: frozenset[tuple[str, str]] = frozenset()
    intercompany_markup: Decimal = Decimal("1.10")
    leakage_after_days: int = 10
