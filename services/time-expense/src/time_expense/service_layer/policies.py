"""What the use cases are configured by besides their ports: the tenant's policies, a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from time_expense.domain import LatePolicy
from time_expense.domain.checks import IntercompanyPolicy

__all__ = ["Clock", "Policies", "utc_now"]

Clock = Callable[[], datetime]
"""Now, tz-aware UTC (injected, so a test can fix it)."""


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Policies:
    """The tenant's posting settings (DOMAIN.md §7)."""

    late_time: LatePolicy = LatePolicy.POST_TO_NEXT_OPEN
    intercompany: IntercompanyPolicy = field(default_factory=IntercompanyPolicy)
