"""The HRIS side of staffing-sync's tables: each worker's newest HRIS version, its cost rates
as the HRIS wrote them, and the worker's subject-version counter (plain SQL, one transaction)."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from typing import Any

from staffing_sync.domain import CostRateSeries, RateChange, WorkerVersion
from staffing_sync.service_layer.unit_of_work import AbstractHrisState
from tandem_contracts import Money
from tandem_messaging import DbConnection

__all__ = ["SqlHrisState"]

_WORKER = "SELECT state FROM staffing_sync.hris_workers WHERE worker_id = $1 FOR UPDATE"
_SAVE_WORKER = """
INSERT INTO staffing_sync.hris_workers (worker_id, instance, external_id, version, state)
VALUES ($1, $2, $3, $4, $5::jsonb)
ON CONFLICT (worker_id) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state,
    updated_at = clock_timestamp()
"""
_RATES = """
SELECT effective_from, amount, currency, written_at, version FROM staffing_sync.hris_cost_rates
WHERE worker_id = $1 ORDER BY effective_from
"""
_SAVE_RATE = """
INSERT INTO staffing_sync.hris_cost_rates (worker_id, effective_from, amount, currency,
    written_at, version)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (worker_id, effective_from) DO UPDATE SET amount = EXCLUDED.amount,
    currency = EXCLUDED.currency, written_at = EXCLUDED.written_at, version = EXCLUDED.version
"""
_NEXT_VERSION = """
INSERT INTO staffing_sync.worker_versions AS v (worker_id, version) VALUES ($1, $2)
ON CONFLICT (worker_id) DO UPDATE SET version = greatest(v.version + 1, EXCLUDED.version)
RETURNING version
"""
_DATES = frozenset({"hire_date", "termination_date", "effective_date"})


def _encoded(version: WorkerVersion) -> str:
    fields = dataclasses.asdict(version)
    return json.dumps(
        {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in fields.items()}
    )


def _decoded(state: Any) -> WorkerVersion:
    fields: dict[str, Any] = json.loads(state) if isinstance(state, str) else dict(state)
    for name in _DATES:
        fields[name] = date.fromisoformat(fields[name]) if fields.get(name) else None
    fields["updated_at"] = datetime.fromisoformat(fields["updated_at"])
    return WorkerVersion(**fields)


def _change(row: Any) -> RateChange:
    cost = Money(amount=row["amount"], currency=row["currency"])
    return RateChange(row["effective_from"], cost, row["written_at"], int(row["version"]))


class SqlHrisState(AbstractHrisState):
    """``staffing_sync.hris_workers``, ``hris_cost_rates`` and ``worker_versions``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def worker(self, worker_id: str) -> WorkerVersion | None:
        state = await self.db.fetchval(_WORKER, worker_id)
        return None if state is None else _decoded(state)

    async def save_worker(self, instance: str, external_id: str, version: WorkerVersion) -> None:
        await self.db.execute(
            _SAVE_WORKER, version.worker_id, instance, external_id, version.version,
            _encoded(version),
        )  # fmt: skip

    async def rates(self, worker_id: str) -> CostRateSeries:
        return CostRateSeries(tuple(_change(row) for row in await self.db.fetch(_RATES, worker_id)))

    async def save_rate(self, worker_id: str, change: RateChange) -> None:
        cost = change.hourly_cost
        await self.db.execute(
            _SAVE_RATE, worker_id, change.effective_from, cost.amount, cost.currency,
            change.written_at, change.version,
        )  # fmt: skip

    async def next_version(self, worker_id: str, floor: int) -> int:
        return int(await self.db.fetchval(_NEXT_VERSION, worker_id, max(floor, 1)))
