"""The read model a request's candidates are built from, and the requests with their proposals
(plain SQL on one transaction).

A request is ranked against every worker that may staff it, thousands in a large firm, so the
candidates are read in three flat queries that hand over only what ranking uses, from columns
kept for it (migration 0006): the workers' fields (not their JSON documents), the cost rate in
force on the request's start (not the series), and the live confirmed bookings over the dates
(not the announced assignments). They become the domain's plain records (``BenchWorker``,
``BenchCost``, ``Booking``): the values were validated when they were kept, and building ten
thousand canonical models again per request would cost more than ranking them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from staffing_sync.domain import LIVE_STATUSES, Booking
from staffing_sync.domain.staffable import BenchCost, BenchWorker
from staffing_sync.service_layer.bookings import booking_id
from staffing_sync.service_layer.unit_of_work import (
    AbstractCandidates,
    AbstractProposals,
    CandidateQuery,
    CandidateRow,
    KnownRequest,
)
from tandem_contracts import Money
from tandem_contracts.entities import BookingType, ResourceRequest, WorkerStatus
from tandem_messaging import DbConnection

__all__ = ["SqlCandidates", "SqlProposals"]

_CANDIDATES = """
SELECT w.worker_id, w.legal_entity_id, w.status, w.hire_date, w.last_day, w.work_country,
    w.role_id, p.instance AS psa_instance, p.external_id AS psa_ref
FROM staffing_sync.workers w
JOIN staffing_sync.synced p ON p.worker_id = w.worker_id AND p.system = 'psa'
WHERE w.status <> 'terminated' AND w.role_id IS NOT NULL
  AND w.hire_date <= $2 AND (w.last_day IS NULL OR w.last_day >= $1)
  AND ($3::text IS NULL OR w.role_id = $3)
  AND ($4::text[] IS NULL OR w.legal_entity_id = ANY($4))
ORDER BY w.worker_id
"""
# The cost rate in force on the start and the live bookings over the dates, of the workers
# the same narrowing admits (by role, by entity; not matched against thousands of ids).
_RATES = """
SELECT DISTINCT ON (c.worker_id) c.worker_id, c.effective_from, c.effective_to, c.amount,
    c.currency
FROM staffing_sync.cost_rates c
JOIN staffing_sync.workers w ON w.worker_id = c.worker_id
WHERE c.effective_from <= $1 AND (c.effective_to IS NULL OR c.effective_to >= $1)
  AND ($2::text IS NULL OR w.role_id = $2)
  AND ($3::text[] IS NULL OR w.legal_entity_id = ANY($3))
ORDER BY c.worker_id, c.effective_from DESC
"""
_BOOKINGS = """
SELECT k.worker_id, k.start_date, k.end_date, k.booking_type, k.minutes_per_day,
    k.total_minutes, k.billable
FROM staffing_sync.bookings k
JOIN staffing_sync.workers w ON w.worker_id = k.worker_id
WHERE k.announced IS NOT NULL AND k.status = ANY($3::text[])
  AND k.end_date >= $1 AND k.start_date <= $2
  AND ($4::text IS NULL OR w.role_id = $4)
  AND ($5::text[] IS NULL OR w.legal_entity_id = ANY($5))
ORDER BY k.worker_id, k.assignment_id
"""
_LIVE = sorted(status.value for status in LIVE_STATUSES)
_KINDS = {kind.value: kind for kind in BookingType}
_STATUSES = {status.value: status for status in WorkerStatus}
_GET = """
SELECT request, request_version, status, version, problem, options, excluded, proposed_at
FROM staffing_sync.requests WHERE request_id = $1 FOR UPDATE
"""
_SAVE = """
INSERT INTO staffing_sync.requests (request_id, project_id, request_version, version, status,
    problem, request, options, excluded, proposed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb, $10)
ON CONFLICT (request_id) DO UPDATE SET project_id = EXCLUDED.project_id,
    request_version = EXCLUDED.request_version, version = EXCLUDED.version,
    status = EXCLUDED.status, problem = EXCLUDED.problem, request = EXCLUDED.request,
    options = EXCLUDED.options, excluded = EXCLUDED.excluded,
    proposed_at = EXCLUDED.proposed_at, updated_at = clock_timestamp()
"""


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class SqlCandidates(AbstractCandidates):
    """``staffing_sync.workers`` with their PSA resource, cost rate and bookings."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def for_request(self, query: CandidateQuery) -> list[CandidateRow]:
        start, end = query.start_date, query.end_date
        entities = list(query.entities) if query.entities is not None else None
        rows = await self.db.fetch(_CANDIDATES, start, end, query.role_id, entities)
        money: dict[tuple[Any, str], Money] = {}  # a firm has few distinct cost rates
        rates: dict[str, tuple[BenchCost, ...]] = {}
        narrowing = (query.role_id, entities)
        for worker_id, effective_from, effective_to, amount, currency in await self.db.fetch(
            _RATES, start, *narrowing
        ):
            if (amount, currency) not in money:
                money[amount, currency] = Money(amount=amount, currency=currency)
            cost = money[amount, currency]
            rates[worker_id] = (BenchCost(worker_id, cost, effective_from, effective_to),)
        booked: defaultdict[str, list[Booking]] = defaultdict(list)
        for worker_id, first, last, kind, per_day, total, billable in await self.db.fetch(
            _BOOKINGS, start, end, _LIVE, *narrowing
        ):
            booked[worker_id].append(Booking(first, last, _KINDS[kind], per_day, total, billable))
        return [
            CandidateRow(
                BenchWorker(worker_id, entity, _STATUSES[status], hired, last_day, country),
                role_id, booking_id(instance, ref), rates.get(worker_id, ()),
                tuple(booked.get(worker_id, ())),
            )
            for worker_id, entity, status, hired, last_day, country, role_id, instance, ref
            in rows
        ]  # fmt: skip


class SqlProposals(AbstractProposals):
    """``staffing_sync.requests``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def get(self, request_id: str) -> KnownRequest | None:
        row = await self.db.fetchrow(_GET, request_id)
        if row is None:
            return None
        return KnownRequest(
            ResourceRequest.model_validate(_loaded(row["request"])),
            int(row["request_version"]), row["status"], int(row["version"]), row["problem"],
            tuple(_loaded(row["options"])), tuple(_loaded(row["excluded"])), row["proposed_at"],
        )  # fmt: skip

    async def save(self, known: KnownRequest) -> None:
        request = known.request
        await self.db.execute(
            _SAVE, request.id, request.project_id, known.request_version, known.version,
            known.status, known.problem, request.model_dump_json(),
            json.dumps(list(known.options)), json.dumps(list(known.excluded)),
            known.proposed_at,
        )  # fmt: skip
