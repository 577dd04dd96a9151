"""The tables of a project's life after activation: its announcement versions, what the PSA
reported of it (closed for time, milestones, change orders), and its assignments."""

from __future__ import annotations

from datetime import date, datetime

from project_sync.service_layer.unit_of_work import (
    AbstractAssignments,
    AbstractDelivery,
    DeliveredProject,
)
from tandem_contracts.entities import Assignment, Milestone
from tandem_contracts.events import ChangeOrderApproved
from tandem_messaging import DbConnection

__all__ = ["SqlAssignments", "SqlDelivery"]

_PROJECT = """
SELECT project_id, opportunity_id, generation, legal_entity_id, currency, contract_id,
       open_from, closed_from
FROM project_sync.projects WHERE project_id = $1
"""
_NEXT_VERSION = """
INSERT INTO project_sync.project_versions (project_id, version) VALUES ($1, $2)
ON CONFLICT (project_id) DO UPDATE
SET version = greatest(project_sync.project_versions.version + 1, EXCLUDED.version)
RETURNING version
"""
# Never before the project opened (the table's CHECK): time it took stays taken.
_CLOSE = """
UPDATE project_sync.projects
SET closed_from = greatest($2::date, open_from), closed_reason = $3,
    updated_at = clock_timestamp()
WHERE project_id = $1 AND closed_from IS NULL
RETURNING true
"""
_MILESTONE = """
INSERT INTO project_sync.milestones
    (milestone_id, project_id, psa_instance, psa_task_id, completed_at, data)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
ON CONFLICT DO NOTHING
RETURNING true
"""
_CHANGE_ORDER = """
INSERT INTO project_sync.change_orders
    (change_order_id, project_id, psa_instance, psa_id, effective_from, approved_at, data)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
ON CONFLICT DO NOTHING
RETURNING true
"""
_FIGURES = """
UPDATE project_sync.projects
SET budget = $2::jsonb, total_value = coalesce($3::jsonb, total_value),
    cap = coalesce($4::jsonb, cap), updated_at = clock_timestamp()
WHERE project_id = $1
"""


class SqlDelivery(AbstractDelivery):
    """``project_versions``, ``milestones``, ``change_orders`` and the projects' closing."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def project(self, project_id: str) -> DeliveredProject | None:
        row = await self.db.fetchrow(_PROJECT, project_id)
        return None if row is None else DeliveredProject(**dict(row))

    async def next_version(self, project_id: str, floor: int) -> int:
        return int(await self.db.fetchval(_NEXT_VERSION, project_id, floor))

    async def close_for_time(self, project_id: str, closed_from: date, reason: str) -> bool:
        return bool(await self.db.fetchval(_CLOSE, project_id, closed_from, reason))

    async def record_milestone(
        self, milestone: Milestone, psa_instance: str, psa_task_id: str, completed_at: datetime
    ) -> bool:
        return bool(
            await self.db.fetchval(
                _MILESTONE,
                milestone.id,
                milestone.project_id,
                psa_instance,
                psa_task_id,
                completed_at,
                milestone.model_dump_json(),
            )
        )

    async def record_change_order(
        self, change: ChangeOrderApproved, psa_instance: str, psa_id: str
    ) -> bool:
        new = await self.db.fetchval(
            _CHANGE_ORDER, change.change_order_id, change.project_id, psa_instance, psa_id,
            change.effective_from, change.approved_at, change.model_dump_json(),
        )  # fmt: skip
        if new:
            await self.db.execute(
                _FIGURES,
                change.project_id,
                change.budget.model_dump_json(),
                change.total_value.model_dump_json() if change.total_value else None,
                change.cap.model_dump_json() if change.cap else None,
            )
        return bool(new)


_CONFIRM = """
INSERT INTO project_sync.project_assignments
    (assignment_id, project_id, worker_id, start_date, end_date, status, version)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (assignment_id) DO UPDATE SET
    project_id = EXCLUDED.project_id, worker_id = EXCLUDED.worker_id,
    start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date, status = EXCLUDED.status,
    version = EXCLUDED.version, updated_at = clock_timestamp()
WHERE project_sync.project_assignments.version < EXCLUDED.version
RETURNING true
"""
_CANCEL = """
INSERT INTO project_sync.project_assignments (assignment_id, project_id, status, version)
VALUES ($1, $2, 'cancelled', $3)
ON CONFLICT (assignment_id) DO UPDATE SET
    status = 'cancelled', version = EXCLUDED.version, updated_at = clock_timestamp()
WHERE project_sync.project_assignments.version < EXCLUDED.version
RETURNING true
"""


class SqlAssignments(AbstractAssignments):
    """``project_sync.project_assignments``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def confirm(self, assignment: Assignment, version: int) -> bool:
        return bool(
            await self.db.fetchval(
                _CONFIRM,
                assignment.id,
                assignment.project_id,
                assignment.worker_id,
                assignment.start_date,
                assignment.end_date,
                assignment.status.value,
                version,
            )
        )

    async def cancel(self, assignment_id: str, project_id: str, version: int) -> bool:
        return bool(await self.db.fetchval(_CANCEL, assignment_id, project_id, version))
