"""``SqlProjects``: the read model of the projects the sagas made."""

from __future__ import annotations

from datetime import date

from project_sync.domain.saga import ENDED, Saga, Step
from project_sync.service_layer.unit_of_work import AbstractProjects
from tandem_contracts.entities import BillingModel, Project, ProjectStatus
from tandem_messaging import DbConnection

__all__ = ["SqlProjects"]


_STATUS = {
    Step.ACTIVE: ProjectStatus.ACTIVE,
    Step.CANCELLED: ProjectStatus.CANCELLED,
    Step.FLAGGED_FOR_FINANCE: ProjectStatus.CLOSED,
}


class SqlProjects(AbstractProjects):
    """``project_sync.projects``: the billing-code checks' read model.

    ``time_requires_assignment``: the tenant's projects take time only from assigned workers.
    """

    def __init__(self, connection: DbConnection, time_requires_assignment: bool = False) -> None:
        self.db = connection
        self.time_requires_assignment = time_requires_assignment

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
            "contract_id, open_from, closed_from, flagged_for_finance, data, "
            "time_requires_assignment) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, "
            "$16) "
            "ON CONFLICT (project_id) DO UPDATE SET code = EXCLUDED.code, "
            "erp_instance = coalesce(EXCLUDED.erp_instance, project_sync.projects.erp_instance), "
            "status = EXCLUDED.status, billing_model = EXCLUDED.billing_model, "
            "contract_id = EXCLUDED.contract_id, open_from = EXCLUDED.open_from, "
            # A closing the PSA reported stays (the saga's state does not know it): the
            # earlier of the two closings holds (``least`` ignores a null).
            "closed_from = least(EXCLUDED.closed_from, project_sync.projects.closed_from), "
            "time_requires_assignment = EXCLUDED.time_requires_assignment, "
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
            self.time_requires_assignment,
        )
