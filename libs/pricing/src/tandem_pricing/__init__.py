"""Pricing rules over the canonical contracts, in one place for every service that prices work.

time-expense resolves the bill rate of approved time, staffing-sync the rate of a booking at its
confirmation, billing-readiness the rate it charges: one precedence (DOMAIN.md §4.1, §7.2), so
a booking, its time and its charge can never disagree on which card answered.
"""

from tandem_pricing.rates import SCOPE_PRECEDENCE, RateQuery, ResolvedRate, resolve_bill_rate

__all__ = ["SCOPE_PRECEDENCE", "RateQuery", "ResolvedRate", "resolve_bill_rate"]
