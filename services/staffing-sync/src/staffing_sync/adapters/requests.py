"""The read model a request's candidates are built from, and the requests with their proposals
(plain SQL on one transaction).

Candidates are narrowed in SQL (employed over the dates, not terminated, with a PSA resource
and a role, the role and entities asked) and their cost rates and confirmed assignments over
the dates read in one query each, so a request against thousands of workers is three queries.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from staffing_sync.service_layer.bookings import booking_id
from staffing_sync.service_layer.unit_of_work import (
    AbstractCandidates,
    AbstractProposals,
    CandidateQuery,
    CandidateRow,
    KnownRequest,
)
from tandem_contracts import Money
from tandem_contracts.entities import Assignment, CostRate, ResourceRequest, Worker
from tandem_messaging import DbConnection

__all__ = ["SqlCandidates", "SqlProposals"]

_CANDIDATES = """
SELECT w.worker_id, w.worker, w.role_id, p.instance AS psa_instance, p.external_id AS psa_ref
FROM staffing_sync.workers w
JOIN staffing_sync.synced p ON p.worker_id = w.worker_id AND p.system = 'psa'
WHERE w.start_date <= $2 AND (w.last_day IS NULL OR w.last_day >= $1)
  AND w.status <> 'terminated' AND w.role_id IS NOT NULL
  AND ($3::text IS NULL OR w.role_id = $3)
  AND ($4::text[] IS NULL OR w.legal_entity_id = ANY($4))
ORDER BY w.worker_id
"""
_RATES = """
SELECT worker_id, effective_from, effective_to, amount, currency FROM staffing_sync.cost_rates
WHERE worker_id = ANY($1) ORDER BY worker_id, effective_from
"""
_ASSIGNMENTS = """
SELECT worker_id, announced FROM staffing_sync.bookings
WHERE worker_id = ANY($1) AND announced IS NOT NULL
  AND (announced->>'start_date')::date <= $3 AND (announced->>'end_date')::date >= $2
ORDER BY worker_id, assignment_id
"""
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
    """``staffing_sync.workers`` with their PSA resource, cost rates and bookings."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def for_request(self, query: CandidateQuery) -> list[CandidateRow]:
        entities = list(query.entities) if query.entities is not None else None
        rows = await self.db.fetch(
            _CANDIDATES, query.start_date, query.end_date, query.role_id, entities
        )
        ids = [row["worker_id"] for row in rows]
        rates: defaultdict[str, list[CostRate]] = defaultdict(list)
        for row in await self.db.fetch(_RATES, ids):
            money = Money(amount=row["amount"], currency=row["currency"])
            rates[row["worker_id"]].append(CostRate(
                worker_id=row["worker_id"], hourly_cost=money,
                effective_from=row["effective_from"], effective_to=row["effective_to"],
            ))  # fmt: skip
        booked: defaultdict[str, list[Assignment]] = defaultdict(list)
        for row in await self.db.fetch(_ASSIGNMENTS, ids, query.start_date, query.end_date):
            booked[row["worker_id"]].append(Assignment.model_validate(_loaded(row["announced"])))
        return [_row(row, rates[row["worker_id"]], booked[row["worker_id"]]) for row in rows]


def _row(row: Any, rates: list[CostRate], booked: list[Assignment]) -> CandidateRow:
    worker = Worker.model_validate(_loaded(row["worker"]))
    resource = booking_id(row["psa_instance"], row["psa_ref"])
    return CandidateRow(worker, row["role_id"], resource, tuple(rates), tuple(booked))


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
