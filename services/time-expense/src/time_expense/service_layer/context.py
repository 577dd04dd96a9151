"""What the use cases need besides the message: the ERP directory, the policies and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from time_expense.adapters.erp import ErpDirectory
from time_expense.domain import LatePolicy
from time_expense.domain.checks import IntercompanyPolicy

__all__ = ["Policies", "Services"]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Policies:
    """The tenant's posting settings (DOMAIN.md §7)."""

    late_time: LatePolicy = LatePolicy.POST_TO_NEXT_OPEN
    intercompany: IntercompanyPolicy = field(default_factory=IntercompanyPolicy)


@dataclass(frozen=True)
class Services:
    """The collaborators every handler gets (built once by ``bootstrap``)."""

    erps: ErpDirectory
    policies: Policies = field(default_factory=Policies)
    clock: Callable[[], datetime] = _now
