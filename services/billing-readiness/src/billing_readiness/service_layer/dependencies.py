"""What billing-readiness's handlers, jobs and routes are given (``bootstrap`` builds it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from billing_readiness.domain import Policy
from billing_readiness.service_layer.unit_of_work import AbstractUnitOfWork
from billing_readiness.settings import Settings
from tandem_connectors.directory import ErpDirectory
from tandem_messaging import Transactions

__all__ = ["Dependencies", "policy_of"]


def policy_of(settings: Settings) -> Policy:
    """The billing policy the settings describe."""
    return Policy(
        overage=settings.cap_overage,
        require_po=settings.require_po,
        intercompany_pairs=settings.intercompany_pairs,
        intercompany_markup=settings.intercompany_markup,
        leakage_after_days=settings.leakage_after_days,
    )


@dataclass(frozen=True)
class Dependencies:
    """The settings and policy, the ERP directory, transactions and the clock."""

    settings: Settings
    policy: Policy
    erps: ErpDirectory
    transactions: Transactions[AbstractUnitOfWork]
    clock: Callable[[], datetime]
