"""project-sync's tables behind the service layer's ports (plain SQL on one transaction)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from project_sync.adapters import codec
from project_sync.domain import CustomerFacts, ReferenceData
from project_sync.domain.saga import ENDED, Saga, Step, Visit
from project_sync.service_layer.unit_of_work import (
    AbstractApprovals,
    AbstractCustomers,
    AbstractOpportunities,
    AbstractProjects,
    AbstractReference,
    AbstractSagas,
    CustomerRecord,
    OpportunityRecord,
    Placement,
)
from tandem_contracts.entities import (
    BillingModel,
    Contract,
    Customer,
    OpportunityStatus,
    Project,
    ProjectStatus,
)
from tandem_messaging import DbConnection

__all__ = [
    "SqlApprovals",
    "SqlCustomers",
    "SqlOpportunities",
    "SqlProjects",
    "SqlReference",
    "SqlSagas",
]


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


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
            _json(codec.setup_json(setup) if setup else None),
            _json(codec.sow_json(saga.sow) if saga.sow else None),
            saga.waiting_for,
            failure.reason.value if failure else None,
            _json(codec.failure_json(failure) if failure else None),
            list(failure.resume_on) if failure else [],
            saga.last_error,
            saga.attempts,
            placement.erp_instance,
            saga.erp_project_ref,
            saga.project_code,
            placement.psa_instance,
            saga.psa_project_ref,
            saga.erp_activated,
            _json(codec.compensation_json(saga.compensation) if saga.compensation else None),
            _json(codec.recommit_json(saga.recommit) if saga.recommit else None),
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
    setup, sow = _loaded(row["setup"]), _loaded(row["sow"])
    failure, compensation = _loaded(row["failure"]), _loaded(row["compensation"])
    recommit = _loaded(row["recommit"])
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


_SAVE_CUSTOMER = """
INSERT INTO project_sync.customers (
    customer_id, crm_instance, crm_account_id, legal_entity_id, country, tax_id, tax_problems,
    erp_instance, erp_customer_ref, matched_by, linked_at, crm_linked_at, version, data,
    updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10,
        CASE WHEN $9::text IS NULL THEN NULL ELSE clock_timestamp() END,
        CASE WHEN $11 THEN clock_timestamp() END, $12, $13::jsonb, clock_timestamp())
ON CONFLICT (customer_id) DO UPDATE SET
    legal_entity_id = EXCLUDED.legal_entity_id, country = EXCLUDED.country,
    tax_id = EXCLUDED.tax_id, tax_problems = EXCLUDED.tax_problems,
    erp_instance = EXCLUDED.erp_instance, erp_customer_ref = EXCLUDED.erp_customer_ref,
    matched_by = EXCLUDED.matched_by,
    linked_at = CASE WHEN EXCLUDED.erp_customer_ref IS NULL THEN NULL
                     ELSE coalesce(project_sync.customers.linked_at, EXCLUDED.linked_at) END,
    crm_linked_at = CASE WHEN $11 THEN coalesce(project_sync.customers.crm_linked_at,
                                                 clock_timestamp()) END,
    version = EXCLUDED.version, data = EXCLUDED.data, updated_at = clock_timestamp()
"""


_CUSTOMER = "SELECT * FROM project_sync.customers WHERE customer_id = $1"
_CUSTOMER_LOCKED = _CUSTOMER + " FOR UPDATE"


class SqlCustomers(AbstractCustomers):
    """``project_sync.customers``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def get(self, customer_id: str, *, lock: bool = True) -> CustomerRecord | None:
        query = _CUSTOMER_LOCKED if lock else _CUSTOMER
        row = await self.db.fetchrow(query, customer_id)
        if row is None:
            return None
        return CustomerRecord(
            customer=Customer.model_validate(_loaded(row["data"])),
            crm_instance=row["crm_instance"],
            crm_account_id=row["crm_account_id"],
            version=row["version"],
            tax_problems=tuple(codec.problem_from(p) for p in _loaded(row["tax_problems"])),
            erp_instance=row["erp_instance"],
            erp_customer_ref=row["erp_customer_ref"],
            matched_by=row["matched_by"],
            crm_linked=row["crm_linked_at"] is not None,
            updated_at=row["updated_at"],
        )

    async def save(self, record: CustomerRecord) -> None:
        customer = record.customer
        await self.db.execute(
            _SAVE_CUSTOMER,
            customer.id,
            record.crm_instance,
            record.crm_account_id,
            customer.legal_entity_id,
            customer.country,
            customer.tax_profile.vat_id,
            json.dumps([codec.problem_json(p) for p in record.tax_problems]),
            record.erp_instance,
            record.erp_customer_ref,
            record.matched_by,
            record.crm_linked,
            record.version,
            customer.model_dump_json(),
        )


class SqlOpportunities(AbstractOpportunities):
    """``project_sync.opportunities``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def get(self, opportunity_id: str) -> OpportunityRecord | None:
        row = await self.db.fetchrow(
            "SELECT * FROM project_sync.opportunities WHERE opportunity_id = $1 FOR UPDATE",
            opportunity_id,
        )
        if row is None:
            return None
        return OpportunityRecord(
            row["opportunity_id"],
            row["crm_instance"],
            row["crm_id"],
            row["customer_id"],
            row["legal_entity_id"],
            row["stage"],
            OpportunityStatus(row["status"]),
            row["version"],
            _loaded(row["data"]),
        )

    async def save(self, record: OpportunityRecord) -> None:
        await self.db.execute(
            "INSERT INTO project_sync.opportunities (opportunity_id, crm_instance, crm_id, "
            "customer_id, legal_entity_id, stage, status, version, data) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb) "
            "ON CONFLICT (opportunity_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, "
            "legal_entity_id = EXCLUDED.legal_entity_id, stage = EXCLUDED.stage, "
            "status = EXCLUDED.status, version = EXCLUDED.version, data = EXCLUDED.data, "
            "updated_at = clock_timestamp()",
            record.opportunity_id,
            record.crm_instance,
            record.crm_id,
            record.customer_id,
            record.legal_entity_id,
            record.stage,
            record.status.value,
            record.version,
            json.dumps(record.data, default=str),
        )


class SqlReference(AbstractReference):
    """Legal entities (``TANDEM_ENTITY_CURRENCIES`` over the table), rate cards, customers."""

    def __init__(self, connection: DbConnection, entity_currencies: Mapping[str, frozenset[str]]):
        self.db = connection
        self.entity_currencies = entity_currencies

    async def reference_data(self, customer_ids: Sequence[str]) -> ReferenceData:
        entities = dict(self.entity_currencies)
        allowed: set[str] = set(entities)
        if not entities:
            for row in await self.db.fetch(
                "SELECT legal_entity_id, currencies, allowed FROM project_sync.legal_entities"
            ):
                entities[row["legal_entity_id"]] = frozenset(row["currencies"])
                if row["allowed"]:
                    allowed.add(row["legal_entity_id"])
        cards = {
            row["rate_card_id"]: row["currency"]
            for row in await self.db.fetch(
                "SELECT rate_card_id, currency FROM project_sync.rate_cards "
                "WHERE status = 'published'"
            )
        }
        customers = {
            row["customer_id"]: CustomerFacts(
                row["customer_id"],
                row["erp_customer_ref"] is not None,
                tuple(codec.problem_from(p) for p in _loaded(row["tax_problems"])),
            )
            for row in await self.db.fetch(
                "SELECT customer_id, erp_customer_ref, tax_problems FROM project_sync.customers "
                "WHERE customer_id = ANY($1::text[])",
                list(customer_ids),
            )
        }
        return ReferenceData(entities, frozenset(allowed), cards, customers)

    async def keep_rate_card(
        self, rate_card_id: str, currency: str, status: str, version: int
    ) -> bool:
        kept = await self.db.fetchval(
            "INSERT INTO project_sync.rate_cards (rate_card_id, currency, status, version) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (rate_card_id) DO UPDATE SET "
            "currency = EXCLUDED.currency, status = EXCLUDED.status, version = EXCLUDED.version, "
            "updated_at = clock_timestamp() WHERE project_sync.rate_cards.version < "
            "EXCLUDED.version RETURNING true",
            rate_card_id,
            currency,
            status,
            version,
        )
        return bool(kept)


class SqlApprovals(AbstractApprovals):
    """``project_sync.contract_approvals``."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def record(self, contract: Contract, version: int, actor: str, why: str) -> None:
        await self.db.execute(
            "INSERT INTO project_sync.contract_approvals "
            "(contract_id, version, opportunity_id, contract, actor, why) "
            "VALUES ($1, $2, $3, $4::jsonb, $5, $6) ON CONFLICT DO NOTHING",
            contract.id,
            version,
            contract.opportunity_id,
            contract.model_dump_json(),
            actor,
            why,
        )


_STATUS = {
    Step.ACTIVE: ProjectStatus.ACTIVE,
    Step.CANCELLED: ProjectStatus.CANCELLED,
    Step.FLAGGED_FOR_FINANCE: ProjectStatus.CLOSED,
}


class SqlProjects(AbstractProjects):
    """``project_sync.projects``: the billing-code checks' read model."""

    def __init__(self, connection: DbConnection) -> None:
        self.db = connection

    async def keep(self, saga: Saga, erp_instance: str | None, today: date) -> None:
        setup = saga.setup
        if saga.generation < 1 or setup is None or saga.erp_project_ref is None:
            return
        active = next((v.at.date() for v in saga.history if v.step is Step.ACTIVE), None)
        status = _STATUS.get(saga.step, ProjectStatus.SHELL)
        if saga.step is Step.COMPENSATING and active is not None:
            status = ProjectStatus.ON_HOLD
        closed_from = None
        if saga.compensation is not None and (
            saga.step in ENDED or status is ProjectStatus.ON_HOLD
        ):
            closed_from = saga.compensation.at.date()
            if active is not None:
                closed_from = max(closed_from, active)
        model = saga.sow.billing_model if saga.sow and saga.sow.billing_model else None
        project = Project(
            id=saga.project_id,
            code=saga.project_code,
            name=setup.name,
            customer_id=setup.customer_id,
            contract_id=saga.sow.contract_id if saga.sow else None,
            opportunity_id=saga.opportunity_id,
            legal_entity_id=setup.selling_legal_entity_id,
            currency=setup.currency,
            billing_model=model or BillingModel.TIME_AND_MATERIALS,
            rate_card_id=setup.rate_card_id,
            start_date=active,
            status=status,
        )
        await self.db.execute(
            "INSERT INTO project_sync.projects (project_id, code, erp_instance, opportunity_id, "
            "generation, customer_id, legal_entity_id, currency, status, billing_model, "
            "contract_id, open_from, closed_from, flagged_for_finance, data) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb) "
            "ON CONFLICT (project_id) DO UPDATE SET code = EXCLUDED.code, "
            "erp_instance = coalesce(EXCLUDED.erp_instance, project_sync.projects.erp_instance), "
            "status = EXCLUDED.status, billing_model = EXCLUDED.billing_model, "
            "contract_id = EXCLUDED.contract_id, open_from = EXCLUDED.open_from, "
            "closed_from = EXCLUDED.closed_from, "
            "flagged_for_finance = EXCLUDED.flagged_for_finance, data = EXCLUDED.data, "
            "updated_at = clock_timestamp()",
            project.id,
            project.code,
            erp_instance,
            saga.opportunity_id,
            saga.generation,
            setup.customer_id,
            setup.selling_legal_entity_id,
            setup.currency,
            status.value,
            model.value if model else None,
            project.contract_id,
            active,
            closed_from,
            saga.step is Step.FLAGGED_FOR_FINANCE,
            project.model_dump_json(),
        )
