"""What staffing-sync's handlers and routes are given (``bootstrap`` builds it)."""

from __future__ import annotations

from dataclasses import dataclass

from staffing_sync.service_layer.unit_of_work import AbstractUnitOfWork
from staffing_sync.settings import Settings
from tandem_connectors.directory import ErpDirectory
from tandem_connectors.ports import AbstractPsa
from tandem_messaging import Transactions

__all__ = ["Dependencies"]


@dataclass(frozen=True)
class Dependencies:
    """The settings, the ERP directory, the PSA resources are kept in, and transactions."""

    settings: Settings
    erps: ErpDirectory
    psa: AbstractPsa
    transactions: Transactions[AbstractUnitOfWork]
