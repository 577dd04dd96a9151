"""A ranking as the canonical ``StaffingOptionsProposed``: its wire shape, mapped explicitly.

The event has room for the total, free minutes, rate and reasons of each option; the per-factor
breakdown travels as reasons (one sentence per factor, with its score and weight) until the
contract gains typed fields for it. Reasons name ids, codes and figures, never a person
(DOMAIN.md §2.6, §4.7).
"""

from __future__ import annotations

from datetime import datetime

from staffing_sync.domain.options import Option, Ranking
from tandem_contracts.events import StaffingOption, StaffingOptionsProposed

__all__ = ["MAX_REASON", "options_proposed", "staffing_option"]

MAX_REASON = 500
"""The contract's limit on one reason."""


def staffing_option(option: Option) -> StaffingOption:
    """One option on the wire: warnings first, then why it ranks there, then each factor."""
    warnings = [f"warning: {warning}" for warning in option.warnings]
    return StaffingOption(
        resource_id=option.resource_id,
        worker_id=option.worker_id,
        fit_score=option.fit_score,
        available_minutes=option.available_minutes,
        proposed_rate=option.proposed_rate,
        reasons=tuple(_fit(reason) for reason in (*warnings, *option.reasons)),
    )


def options_proposed(ranking: Ranking, proposed_at: datetime) -> StaffingOptionsProposed:
    """The event for ``ranking``, best option first."""
    return StaffingOptionsProposed(
        request_id=ranking.request_id,
        options=tuple(staffing_option(option) for option in ranking.options),
        proposed_at=proposed_at,
    )


def _fit(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"
