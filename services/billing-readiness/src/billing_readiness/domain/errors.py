"""billing-readiness's domain exceptions: each carries a ``code`` an API or an event can name.

They are business exceptions, not bugs: an entry that cannot be charged waits for a person (a
rate to be set, a milestone to be dated), it is never charged at a guessed amount.
"""

from __future__ import annotations

__all__ = [
    "BillingError",
    "CurrencyMismatch",
    "MilestoneUndated",
    "MissingRate",
    "NothingToCredit",
]


class BillingError(Exception):
    """The root of billing-readiness's domain exceptions; ``code`` says which."""

    code: str = "billing_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MissingRate(BillingError):
    """A billable entry carries neither a bill rate nor a bill amount: nothing to charge it at
    (``charge_time`` raises it; the caller parks the entry for a person)."""

    code = "missing_rate"

    def __init__(self, time_entry_id: str) -> None:
        super().__init__(f"billable time entry {time_entry_id} has no bill rate and no amount")
        self.time_entry_id = time_entry_id


class CurrencyMismatch(BillingError):
    """A customer charge in another currency than the project's (rates and caps are kept in
    the project currency, DOMAIN.md §4.4): converting it here would be a guess."""

    code = "currency_mismatch"

    def __init__(self, item_id: str, currency: str, expected: str) -> None:
        super().__init__(f"{item_id} is in {currency}, its project bills in {expected}")
        self.item_id = item_id
        self.currency = currency
        self.expected = expected


class MilestoneUndated(BillingError):
    """A milestone due for billing has no actual nor planned date (and none was given)."""

    code = "milestone_undated"

    def __init__(self, milestone_id: str) -> None:
        super().__init__(f"milestone {milestone_id} is due for billing but has no date")
        self.milestone_id = milestone_id


class NothingToCredit(BillingError):
    """A credit note was asked for without any reversal to credit."""

    code = "nothing_to_credit"

    def __init__(self, invoice_id: str) -> None:
        super().__init__(f"no reversal to credit on invoice {invoice_id}")
        self.invoice_id = invoice_id
