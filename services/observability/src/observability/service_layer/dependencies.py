"""What observability's jobs and routes work with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from observability.metrics import Metrics
from observability.service_layer.ports import BrokerState, FleetSource, KpiStore, ParkingLots
from observability.service_layer.unit_of_work import AbstractUnitOfWork
from observability.settings import Settings
from tandem_messaging import Transactions

__all__ = ["Clock", "Dependencies"]

Clock = Callable[[], datetime]


@dataclass
class Dependencies:
    """The collaborators of observability's jobs and routes (built in ``bootstrap``)."""

    settings: Settings
    pool: asyncpg.Pool
    transactions: Transactions[AbstractUnitOfWork]
    store: KpiStore
    metrics: Metrics
    clock: Clock
    parking_lots: ParkingLots
    fleet: FleetSource | None
    broker: BrokerState | None
