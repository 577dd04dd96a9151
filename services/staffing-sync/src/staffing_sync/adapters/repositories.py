"""staffing-sync's tables behind the service layer's ports (plain SQL on one transaction)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from staffing_sync.service_layer.mapping import WorkerRecord
from staffing_sync.service_layer.unit_of_work import (
    AbstractCostRates,
    AbstractSync,
    AbstractWorkers,
)
from tandem_contracts import Money
from tandem_contracts.entities import CostRate, Worker
from tandem_messaging import DbConnection

__all__ = ["SqlCostRates", "SqlSync", "SqlWorkers"]

_GET_WORKER = """
SELECT worker, hired_in, role_id, start_date, version FROM staffing_sync.workers
WHERE worker_id = $1 FOR UPDATE
"""
_SAVE_WORKER = """
INSERT INTO staffing_sync.workers (worker_id, worker_number, legal_entity_id, hired_in, status,
    start_date, last_day, role_id, version, worker, hire_date, work_country)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12)
ON CONFLICT (worker_id) DO UPDATE SET worker_number = EXCLUDED.worker_number,
    legal_entity_id = EXCLUDED.legal_entity_id, status = EXCLUDED.status,
    start_date = EXCLUDED.start_date, last_day = EXCLUDED.last_day, role_id = EXCLUDED.role_id,
    version = EXCLUDED.version, worker = EXCLUDED.worker, hire_date = EXCLUDED.hire_date,
    work_country = EXCLUDED.work_country, updated_at = clock_timestamp()
"""
_KEEP_RATE = """
INSERT INTO staffing_sync.cost_rates (worker_id, effective_from, effective_to, amount, currency,
    version)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (worker_id, effective_from) DO UPDATE SET effective_to = EXCLUDED.effective_to,
    amount = EXCLUDED.amount, currency = EXCLUDED.currency, version = EXCLUDED.version,
    updated_at = clock_timestamp()
WHERE staffing_sync.cost_rates.version < EXCLUDED.version
RETURNING true
"""
_SERIES = """
SELECT effective_from, effective_to, amount, currency FROM staffing_sync.cost_rates
WHERE worker_id = $1 ORDER BY effective_from
"""
_SYNCED = """
WITH cleared AS (DELETE FROM staffing_sync.failures WHERE worker_id = $1)
INSERT INTO staffing_sync.synced (worker_id, system, instance, external_id, version)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (worker_id, system) DO UPDATE SET instance = EXCLUDED.instance,
    external_id = EXCLUDED.external_id, version = EXCLUDED.version,
    synced_at = clock_timestamp()
"""
_FAILED = """
INSERT INTO staffing_sync.failures (worker_id, event_type, reason, detail, waiting_for)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (worker_id) DO UPDATE SET event_type = EXCLUDED.event_type,
    reason = EXCLUDED.reason, detail = EXCLUDED.detail, waiting_for = EXCLUDED.waiting_for,
    at = clock_timestamp()
"""


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class SqlWorkers(AbstractWorkers):
    """``staffing_sync.workers``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def get(self, worker_id: str) -> WorkerRecord | None:
        row = await self.db.fetchrow(_GET_WORKER, worker_id)
        if row is None:
            return None
        worker = Worker.model_validate(_loaded(row["worker"]))
        return WorkerRecord(
            worker, row["hired_in"], row["role_id"], row["start_date"], int(row["version"])
        )

    async def save(self, record: WorkerRecord) -> None:
        worker = record.worker
        await self.db.execute(
            _SAVE_WORKER, worker.id, worker.worker_number, worker.legal_entity_id,
            record.hired_in, worker.status.value, record.start_date, worker.termination_date,
            record.role_id, record.version, worker.model_dump_json(), worker.hire_date,
            worker.work_country,
        )  # fmt: skip


class SqlCostRates(AbstractCostRates):
    """``staffing_sync.cost_rates``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def keep(self, rate: CostRate, version: int) -> bool:
        kept = await self.db.fetchval(
            _KEEP_RATE, rate.worker_id, rate.effective_from, rate.effective_to,
            rate.hourly_cost.amount, rate.hourly_cost.currency, version,
        )  # fmt: skip
        return bool(kept)

    async def series(self, worker_id: str) -> list[CostRate]:
        return [
            _rate(worker_id, row["effective_from"], row["effective_to"], row)
            for row in await self.db.fetch(_SERIES, worker_id)
        ]


def _rate(worker_id: str, start: date, end: date | None, row: Any) -> CostRate:
    money = Money(amount=row["amount"], currency=row["currency"])
    return CostRate(worker_id=worker_id, hourly_cost=money, effective_from=start, effective_to=end)


class SqlSync(AbstractSync):
    """``staffing_sync.synced`` and ``staffing_sync.failures``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def synced(
        self, worker_id: str, system: str, instance: str, external_id: str, version: int
    ) -> None:
        await self.db.execute(_SYNCED, worker_id, system, instance, external_id, version)

    async def failed(
        self, worker_id: str, event_type: str, reason: str, detail: str, waiting_for: str | None
    ) -> None:
        await self.db.execute(_FAILED, worker_id, event_type, reason, detail, waiting_for)
