"""``SqlSagas``: the sagas, their step visits and their log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from project_sync.adapters import codec
from project_sync.adapters.repositories._json import dumped, loaded
from project_sync.domain.saga import Saga, Step, Visit
from project_sync.service_layer.unit_of_work import AbstractSagas, Placement
from tandem_messaging import DbConnection

__all__ = ["SqlSagas"]


_SAVE_SAGA = """
INSERT INTO project_sync.sagas (
    opportunity_id, generation, project_id, step, entered_at, opportunity_version, customer_id,
    legal_entity_id, setup, sow, waiting_for, failure_reason, failure, resume_on, last_error,
    attempts, erp_instance, erp_project_ref, project_code, psa_instance, psa_project_ref,
    erp_activated, compensation, recommit, alerted_visit, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12, $13::jsonb, $14, $15,
        $16, $17, $18, $19, $20, $21, $22, $23::jsonb, $24::jsonb, $25, $26)
ON CONFLICT (opportunity_id, generation) DO UPDATE SET
    step = EXCLUDED.step, entered_at = EXCLUDED.entered_at,
    opportunity_version = EXCLUDED.opportunity_version, customer_id = EXCLUDED.customer_id,
    legal_entity_id = EXCLUDED.legal_entity_id, setup = EXCLUDED.setup, sow = EXCLUDED.sow,
    waiting_for = EXCLUDED.waiting_for, failure_reason = EXCLUDED.failure_reason,
    failure = EXCLUDED.failure, resume_on = EXCLUDED.resume_on,
    last_error = EXCLUDED.last_error, attempts = EXCLUDED.attempts,
    erp_instance = coalesce(EXCLUDED.erp_instance, project_sync.sagas.erp_instance),
    erp_project_ref = EXCLUDED.erp_project_ref, project_code = EXCLUDED.project_code,
    psa_instance = coalesce(EXCLUDED.psa_instance, project_sync.sagas.psa_instance),
    psa_project_ref = EXCLUDED.psa_project_ref, erp_activated = EXCLUDED.erp_activated,
    compensation = EXCLUDED.compensation, recommit = EXCLUDED.recommit,
    alerted_visit = EXCLUDED.alerted_visit, updated_at = EXCLUDED.updated_at
"""


class SqlSagas(AbstractSagas):
    """``project_sync.sagas``, ``saga_steps`` and ``saga_log``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def latest(self, opportunity_id: str) -> Saga | None:
        # One opportunity's saga is decided by one transaction at a time, whichever lane or
        # route asks (its events, a customer's release, an operator, the watchdog).
        await self.db.execute(
            "SELECT pg_advisory_xact_lock(hashtext('project-sync:saga:' || $1))", opportunity_id
        )
        row = await self.db.fetchrow(
            "SELECT * FROM project_sync.sagas WHERE opportunity_id = $1 "
            "ORDER BY generation DESC LIMIT 1",
            opportunity_id,
        )
        if row is None:
            return None
        visits = await self.db.fetch(
            "SELECT step, entered_at FROM project_sync.saga_steps "
            "WHERE opportunity_id = $1 AND generation = $2 ORDER BY visit",
            opportunity_id,
            row["generation"],
        )
        return _saga(row, tuple(Visit(Step(v["step"]), v["entered_at"]) for v in visits))

    async def save(self, saga: Saga, placement: Placement) -> None:
        setup, failure = saga.setup, saga.failure
        await self.db.execute(
            _SAVE_SAGA,
            saga.opportunity_id,
            saga.generation,
            saga.project_id if saga.generation >= 1 else None,
            saga.step.value,
            saga.entered_at,
            saga.opportunity_version,
            setup.customer_id if setup else None,
            setup.selling_legal_entity_id if setup else None,
            dumped(codec.setup_json(setup) if setup else None),
            dumped(codec.sow_json(saga.sow) if saga.sow else None),
            saga.waiting_for,
            failure.reason.value if failure else None,
            dumped(codec.failure_json(failure) if failure else None),
            list(failure.resume_on) if failure else [],
            saga.last_error,
            saga.attempts,
            placement.erp_instance,
            saga.erp_project_ref,
            saga.project_code,
            placement.psa_instance,
            saga.psa_project_ref,
            saga.erp_activated,
            dumped(codec.compensation_json(saga.compensation) if saga.compensation else None),
            dumped(codec.recommit_json(saga.recommit) if saga.recommit else None),
            saga.alerted_visit,
            saga.updated_at,
        )
        stored = await self.db.fetchval(
            "SELECT count(*) FROM project_sync.saga_steps "
            "WHERE opportunity_id = $1 AND generation = $2",
            saga.opportunity_id,
            saga.generation,
        )
        new = [(index, visit) for index, visit in enumerate(saga.history) if index >= stored]
        if new:
            await self.db.executemany(
                "INSERT INTO project_sync.saga_steps "
                "(opportunity_id, generation, visit, step, entered_at) VALUES ($1, $2, $3, $4, $5)",
                [
                    (saga.opportunity_id, saga.generation, index, visit.step.value, visit.at)
                    for index, visit in new
                ],
            )
            await self.db.execute(
                "UPDATE project_sync.saga_steps s SET left_at = n.entered_at "
                "FROM project_sync.saga_steps n WHERE s.opportunity_id = $1 "
                "AND s.generation = $2 AND n.opportunity_id = s.opportunity_id "
                "AND n.generation = s.generation AND n.visit = s.visit + 1 AND s.left_at IS NULL",
                saga.opportunity_id,
                saga.generation,
            )

    async def log(
        self,
        saga: Saga,
        event: str,
        detail: dict[str, Any],
        actor: str | None = None,
        why: str | None = None,
    ) -> None:
        await self.db.execute(
            "INSERT INTO project_sync.saga_log "
            "(opportunity_id, generation, event, step, state, detail, actor, why) "
            "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)",
            saga.opportunity_id,
            saga.generation,
            event,
            saga.step.value,
            saga.state,
            json.dumps(detail, default=str),
            actor,
            why,
        )

    async def held_by(self, key: str) -> list[str]:
        rows = await self.db.fetch(
            "SELECT DISTINCT opportunity_id FROM project_sync.sagas "
            "WHERE waiting_for = $1 OR (failure_reason IS NOT NULL AND $1 = ANY(resume_on)) "
            "ORDER BY opportunity_id",
            key,
        )
        return [row["opportunity_id"] for row in rows]

    async def held(self, limit: int) -> list[tuple[str, str, datetime | None]]:
        rows = await self.db.fetch(
            "SELECT opportunity_id, waiting_for AS key, NULL::timestamptz AS failed_at "
            "FROM project_sync.sagas WHERE waiting_for IS NOT NULL UNION "
            "SELECT opportunity_id, unnest(resume_on), updated_at FROM project_sync.sagas "
            "WHERE failure_reason IS NOT NULL ORDER BY 1, 2 LIMIT $1",
            limit,
        )
        return [(row["opportunity_id"], row["key"], row["failed_at"]) for row in rows]

    async def in_flight(self, limit: int) -> list[str]:
        rows = await self.db.fetch(
            "SELECT opportunity_id FROM project_sync.sagas "
            "WHERE step NOT IN ('not_started', 'active', 'cancelled', 'flagged_for_finance') "
            "ORDER BY entered_at LIMIT $1",
            limit,
        )
        return [row["opportunity_id"] for row in rows]


def _saga(row: Any, history: tuple[Visit, ...]) -> Saga:
    setup, sow = loaded(row["setup"]), loaded(row["sow"])
    failure, compensation = loaded(row["failure"]), loaded(row["compensation"])
    recommit = loaded(row["recommit"])
    return Saga(
        opportunity_id=row["opportunity_id"],
        generation=row["generation"],
        step=Step(row["step"]),
        opportunity_version=row["opportunity_version"],
        history=history or (Visit(Step(row["step"]), row["entered_at"]),),
        updated_at=row["updated_at"],
        setup=codec.setup_from(setup) if setup else None,
        sow=codec.sow_from(sow) if sow else None,
        waiting_for=row["waiting_for"],
        failure=codec.failure_from(row["failure_reason"], failure, list(row["resume_on"]))
        if failure
        else None,
        last_error=row["last_error"],
        attempts=row["attempts"],
        erp_project_ref=row["erp_project_ref"],
        project_code=row["project_code"],
        psa_project_ref=row["psa_project_ref"],
        erp_activated=row["erp_activated"],
        compensation=codec.compensation_from(compensation) if compensation else None,
        recommit=codec.recommit_from(recommit) if recommit else None,
        alerted_visit=row["alerted_visit"],
    )
