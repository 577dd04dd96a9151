"""billing-readiness's rules: pure, with no I/O (DOMAIN.md §2.5, §4.2, §4.4-§4.6, §5).

Billing terms and policy (``terms``), charges per billing model (``charges``; the row and its
sums in ``lines``, milestones and fee schedules in ``schedule``), holds (``holds``), tax by
region (``tax``), invoice and credit proposals (``invoices``) and revenue leakage
(``leakage``). The service layer reads and writes; everything here only computes.
"""

from billing_readiness.domain.charges import (
    NOTE_BEYOND_RETAINER,
    NOTE_CAP_HELD,
    NOTE_CAP_WRITTEN_OFF,
    NOTE_RETAINER_DRAWDOWN,
    ChargeLine,
    Ledger,
    PostedExpense,
    PostedTime,
    cap_usage,
    charge_expense,
    charge_id,
    charge_instalment,
    charge_milestone,
    charge_time,
    fixed_fee_schedule,
    is_cap_overage,
    is_written_off,
    ledger_of,
    reverse_charge,
)
from billing_readiness.domain.errors import (
    BillingError,
    CurrencyMismatch,
    MilestoneUndated,
    MissingRate,
    NothingToCredit,
)
from billing_readiness.domain.holds import (
    PERSON_KINDS,
    STANDING_KINDS,
    release,
    restand,
    standing_holds,
)
from billing_readiness.domain.invoices import (
    NotReady,
    Proposal,
    ProposedLine,
    intercompany_proposal,
    netted_charge_ids,
    propose_credit,
    propose_invoice,
)
from billing_readiness.domain.leakage import ChargeView, Leak, find_leaks
from billing_readiness.domain.periods import month_end, months, period_end, period_of
from billing_readiness.domain.tax import (
    EU_COUNTRIES,
    VAT_RATES,
    TaxDecision,
    decide_tax,
    line_tax,
    tax_problem,
)
from billing_readiness.domain.terms import BillingTerms, CustomerStanding, Policy

__all__ = [
    "EU_COUNTRIES",
    "NOTE_BEYOND_RETAINER",
    "NOTE_CAP_HELD",
    "NOTE_CAP_WRITTEN_OFF",
    "NOTE_RETAINER_DRAWDOWN",
    "PERSON_KINDS",
    "STANDING_KINDS",
    "VAT_RATES",
    "BillingError",
    "BillingTerms",
    "ChargeLine",
    "ChargeView",
    "CurrencyMismatch",
    "CustomerStanding",
    "Leak",
    "Ledger",
    "MilestoneUndated",
    "MissingRate",
    "NotReady",
    "NothingToCredit",
    "Policy",
    "PostedExpense",
    "PostedTime",
    "Proposal",
    "ProposedLine",
    "TaxDecision",
    "cap_usage",
    "charge_expense",
    "charge_id",
    "charge_instalment",
    "charge_milestone",
    "charge_time",
    "decide_tax",
    "find_leaks",
    "fixed_fee_schedule",
    "intercompany_proposal",
    "is_cap_overage",
    "is_written_off",
    "ledger_of",
    "line_tax",
    "month_end",
    "months",
    "netted_charge_ids",
    "period_end",
    "period_of",
    "propose_credit",
    "propose_invoice",
    "release",
    "restand",
    "reverse_charge",
    "standing_holds",
    "tax_problem",
]
