"""What project-sync's handlers, jobs and routes are given (``bootstrap`` builds it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from project_sync.service_layer.runner import Clock, SagaRunner
from project_sync.service_layer.unit_of_work import AbstractUnitOfWork
from project_sync.settings import Settings
from tandem_connectors.directory import ErpDirectory
from tandem_connectors.ports import AbstractCrm
from tandem_messaging import Transactions

__all__ = ["Dependencies"]


@dataclass(frozen=True)
class Dependencies:
    """The settings, the ERP directory, the CRMs, the saga runner, the clock, and transactions
    with a unit of work."""

    settings: Settings
    erps: ErpDirectory
    crms: Mapping[str, AbstractCrm]
    runner: SagaRunner
    clock: Clock
    transactions: Transactions[AbstractUnitOfWork]
