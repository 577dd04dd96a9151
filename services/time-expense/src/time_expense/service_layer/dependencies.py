"""What time-expense's handlers, jobs and routes are given (``bootstrap`` builds it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tandem_connectors.directory import ErpDirectory
from tandem_messaging import Transactions
from time_expense.service_layer.policies import Clock, Policies
from time_expense.service_layer.reconciliation import Reconciler
from time_expense.service_layer.unit_of_work import AbstractUnitOfWork

__all__ = ["Dependencies"]


@dataclass(frozen=True)
class Dependencies:
    """The ERP directory, the tenant's policies, the clock, transactions with a unit of work,
    a reconciler per PSA instance."""

    erps: ErpDirectory
    policies: Policies
    clock: Clock
    transactions: Transactions[AbstractUnitOfWork]
    reconcilers: Mapping[str, Reconciler]
    tenant_id: str
