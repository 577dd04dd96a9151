"""Holds: why a charge may not be invoiced yet (DOMAIN.md §2.5 ``hold_reason``).

Some holds are the project's *standing*: every new customer charge takes them, and they lift
by themselves when their cause goes (the customer off credit hold, a PO on an amended SOW, the
refused time resolved, the tax profile fixed). ``release`` drops those when the standing no
longer has them. Others are about one charge and only a person lifts them: the cap reached
(approving an overage is a commercial decision), an intercompany pair not allowed, a dispute.
Intercompany charges take none of the customer's holds: they are invoiced between entities.
"""

from __future__ import annotations

from billing_readiness.domain.tax import tax_problem
from billing_readiness.domain.terms import BillingTerms, CustomerStanding, Policy
from tandem_contracts.events import HoldReason

__all__ = ["PERSON_KINDS", "STANDING_KINDS", "release", "restand", "standing_holds"]

STANDING_KINDS: frozenset[HoldReason] = frozenset(
    {
        HoldReason.CREDIT_HOLD,
        HoldReason.MISSING_PO,
        HoldReason.BUSINESS_EXCEPTION,
        HoldReason.TAX_PROFILE_INVALID,
    }
)
"""Holds that follow the project's standing: they go when their cause goes."""

PERSON_KINDS: frozenset[HoldReason] = frozenset(HoldReason) - STANDING_KINDS
"""Holds only a person releases: cap reached, intercompany not allowed, disputed."""


def standing_holds(
    terms: BillingTerms,
    customer: CustomerStanding | None,
    *,
    open_exceptions: int,
    policy: Policy,
    disputed: bool = False,
    seller_country: str | None = None,
) -> frozenset[HoldReason]:
    """The holds every new customer charge of the project takes now.

    ``CREDIT_HOLD``: the customer is on credit hold. ``MISSING_PO``: the policy requires a PO
    and the contract has none. ``BUSINESS_EXCEPTION``: time of the project refused by the ERP
    or by time-expense and not resolved (``open_exceptions`` > 0): the invoice would miss it.
    ``TAX_PROFILE_INVALID``: ``tax_problem`` finds one (checked when ``seller_country`` is
    known; ``propose_invoice`` checks it again). ``DISPUTED``: the project is disputed.
    A customer not known yet takes no customer hold: readiness waits for it separately.
    """
    holds: set[HoldReason] = set()
    if customer is not None:
        if customer.on_credit_hold:
            holds.add(HoldReason.CREDIT_HOLD)
        if seller_country is not None and tax_problem(seller_country, customer) is not None:
            holds.add(HoldReason.TAX_PROFILE_INVALID)
    if policy.require_po and not (terms.po_number or "").strip():
        holds.add(HoldReason.MISSING_PO)
    if open_exceptions > 0:
        holds.add(HoldReason.BUSINESS_EXCEPTION)
    if disputed:
        holds.add(HoldReason.DISPUTED)
    return frozenset(holds)


def release(
    holds: frozenset[HoldReason],
    now_standing: frozenset[HoldReason],
    kinds: frozenset[HoldReason] = STANDING_KINDS,
) -> frozenset[HoldReason]:
    """The holds a charge keeps when the standing changes: those of ``kinds`` that
    ``now_standing`` no longer has are dropped; the others (cap reached, intercompany not
    allowed, disputed) are kept, only a person releases them."""
    return holds - (kinds - now_standing)


def restand(
    holds: frozenset[HoldReason],
    now_standing: frozenset[HoldReason],
    kinds: frozenset[HoldReason] = STANDING_KINDS,
) -> frozenset[HoldReason]:
    """The holds of an open customer charge after the standing changed: the lifted ones
    released, the new ones of ``now_standing`` taken (a customer put on credit hold holds what
    is not invoiced yet)."""
    return release(holds, now_standing, kinds) | now_standing
