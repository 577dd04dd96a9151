"""The canonical ``Project`` a saga makes, as the systems and the announcements see it."""

from __future__ import annotations

from project_sync.domain.saga import Saga
from project_sync.domain.setup import ProjectSetup
from tandem_contracts.entities import BillingModel, Project, ProjectStatus

__all__ = ["project_of", "setup_of"]


def setup_of(saga: Saga) -> ProjectSetup:
    """The saga's set-up: every step past validation has one."""
    if saga.setup is None:
        raise ValueError(f"the saga of {saga.opportunity_id} has no set-up at {saga.step}")
    return saga.setup


def project_of(saga: Saga, setup: ProjectSetup, project_id: str, code: str | None) -> Project:
    """The saga's project as a shell, under ``code`` when the ERP has minted it."""
    sow = saga.sow
    model = sow.billing_model if sow is not None and sow.billing_model else None
    return Project(
        id=project_id,
        code=code,
        name=setup.name[:200],
        customer_id=setup.customer_id,
        contract_id=sow.contract_id if sow is not None else None,
        opportunity_id=saga.opportunity_id,
        legal_entity_id=setup.selling_legal_entity_id,
        org_unit_ids=setup.org_unit_ids,
        currency=setup.currency,
        billing_model=model or BillingModel.TIME_AND_MATERIALS,
        rate_card_id=setup.rate_card_id,
        status=ProjectStatus.SHELL,
    )
