"""The saga's consumer handlers: the opportunity's signals, contracts, and released
dependencies, each applied to the opportunity's saga by the runner (``runner``)."""

from __future__ import annotations

from typing import Any

from project_sync.domain import ProjectSetup, Sow
from project_sync.domain.keys import customer_key, rate_card_key, rate_cards_key
from project_sync.domain.saga import Committed, Lost, Reopened, SowApproved
from project_sync.service_layer.runner import Clock, SagaRunner
from project_sync.service_layer.unit_of_work import AbstractUnitOfWork
from project_sync.settings import Settings
from tandem_contracts import Envelope
from tandem_contracts.entities import BillingModel, Contract, ContractStatus, RateCardStatus
from tandem_contracts.events import (
    CustomerLinked,
    OpportunityCommitted,
    OpportunityLost,
    OpportunityReopened,
    RateCardPublished,
    SOWApproved,
)
from tandem_messaging import HandlerContext, Router

__all__ = ["handlers", "sow_of"]

handlers = Router()


@handlers.handles(OpportunityCommitted)
async def committed(
    envelope: Envelope[OpportunityCommitted],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    runner: SagaRunner,
    settings: Settings,
) -> None:
    """Start (or renew) the opportunity's saga with the project it proposes."""
    event = envelope.payload
    opportunity = event.opportunity
    setup = ProjectSetup(
        opportunity_id=opportunity.id,
        name=opportunity.name,
        selling_legal_entity_id=opportunity.selling_legal_entity_id,
        customer_id=opportunity.customer_id,
        currency=opportunity.amount.currency,
        org_unit_ids=opportunity.org_unit_ids,
    )
    version = envelope.subject_version
    await runner.apply(uow, Committed(opportunity.id, version, event.committed_at, setup))
    if settings.sow_from_opportunity:
        # No contract system: the won deal is its own time-and-materials contract.
        sow = Sow(
            contract_id=f"{opportunity.id}-tm"[:64], version=version,
            status=ContractStatus.APPROVED, billing_model=BillingModel.TIME_AND_MATERIALS,
        )  # fmt: skip
        await runner.apply(uow, SowApproved(opportunity.id, event.committed_at, sow))


@handlers.handles(OpportunityLost)
async def lost(
    envelope: Envelope[OpportunityLost],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    runner: SagaRunner,
) -> None:
    """Compensate what the opportunity's commit created (nothing, if it never committed)."""
    event = envelope.payload
    lost = Lost(event.opportunity_id, envelope.subject_version, event.lost_at, event.reason)
    await runner.apply(uow, lost)


@handlers.handles(OpportunityReopened)
async def reopened(
    envelope: Envelope[OpportunityReopened],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    runner: SagaRunner,
) -> None:
    """Compensate a committed opportunity moved back to an open stage."""
    event = envelope.payload
    reopened = Reopened(event.opportunity_id, envelope.subject_version, event.reopened_at)
    await runner.apply(uow, reopened)


def sow_of(contract: Contract, version: int, *, po_required: bool = False) -> Sow:
    """What the saga's gates look at in an approved contract."""
    return Sow(
        contract_id=contract.id,
        version=version,
        status=contract.status,
        billing_model=contract.billing_model,
        po_required=po_required,
        po_number=contract.po_number,
    )


@handlers.handles(SOWApproved)
async def sow_approved(
    envelope: Envelope[SOWApproved],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    runner: SagaRunner,
) -> None:
    """Give the opportunity's saga its approved contract (activation's gates)."""
    event = envelope.payload
    opportunity_id = event.contract.opportunity_id
    if opportunity_id is None:
        return  # a contract of no opportunity: no saga of ours waits for it
    sow = sow_of(event.contract, envelope.subject_version)
    await runner.apply(uow, SowApproved(opportunity_id, event.approved_at, sow))


@handlers.handles(CustomerLinked)
async def customer_linked(
    envelope: Envelope[CustomerLinked],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    runner: SagaRunner,
) -> None:
    """Resume the sagas held by the customer (not yet linked, or its tax data fixed)."""
    key = customer_key(envelope.payload.customer_id)
    await runner.release(uow, key)
    ctx.satisfy(key)


@handlers.handles(RateCardPublished)
async def rate_card_published(
    envelope: Envelope[RateCardPublished],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    runner: SagaRunner,
    clock: Clock,
) -> None:
    """Keep the rate card for set-up validation; resume the sagas that lacked it."""
    card = envelope.payload.rate_card
    status = card.status.value
    version = envelope.payload.published_version
    newer = await uow.reference.keep_rate_card(card.id, card.currency, status, version)
    if newer and card.status is RateCardStatus.PUBLISHED:
        for key in (rate_card_key(card.id), rate_cards_key(card.currency)):
            await runner.release(uow, key)
            ctx.satisfy(key)
