"""What other contexts tell staffing-sync to confirm bookings: active projects, rate cards and
the customers' CRM accounts.

``ProjectActivated`` keeps the project (its legal entity, customer, org units and currency:
what a rate is resolved by and an intercompany pair is judged on; the region its events go
to) and links its PSA project, by which a booking names it. ``RateCardPublished`` (staffing-sync's
own, from the PSA, or another producer's) keeps the card. ``AccountUpserted`` keeps which CRM
account the customer is, by which a PSA rate card names the account it is scoped to. All keep
the newest version only (the router passes older ones on), so any delivery order ends on the
same state. None re-rates an assignment announced already: a rate is frozen at confirmation
(DOMAIN.md §7.2); a booking waiting for its project is confirmed on the next ingestion pass,
and a resource request waiting for it is released (a rate card waiting for its project or
account is published on the next pass).
"""

from __future__ import annotations

from typing import Any

from staffing_sync.service_layer.candidates import project_known_key
from staffing_sync.service_layer.unit_of_work import AbstractUnitOfWork, CrmAccount, KnownProject
from tandem_contracts import Envelope, SystemKind
from tandem_contracts.events import AccountUpserted, ProjectActivated, RateCardPublished
from tandem_messaging import HandlerContext, Router

__all__ = ["handlers"]

handlers = Router()


@handlers.handles(ProjectActivated)
async def keep_project(
    envelope: Envelope[ProjectActivated], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Keep the active project and link its PSA project."""
    project = envelope.payload.project
    known = KnownProject(project, envelope.data_residency_region, envelope.subject_version)
    kept = await uow.projects.keep(known)
    # Released even for a version kept already: a request may wait on a redelivery.
    ctx.satisfy(project_known_key(project.id))
    if not kept:
        return  # a version as new is kept
    for ref in project.refs:
        if ref.system is SystemKind.PSA and ref.object_type == "project":
            await uow.refs.link("project", project.id, ref)


@handlers.handles(RateCardPublished)
async def keep_rate_card(
    envelope: Envelope[RateCardPublished], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Keep the published card (assignments announced keep their frozen rate)."""
    published = envelope.payload
    await uow.rate_cards.keep(published.rate_card, published.published_version)


@handlers.handles(AccountUpserted)
async def keep_account(
    envelope: Envelope[AccountUpserted], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Keep which CRM account the customer is (and its legal entity)."""
    customer = envelope.payload.customer
    for ref in customer.refs:
        if ref.system is SystemKind.CRM and ref.object_type == "account":
            account = CrmAccount(ref.instance, ref.external_id, customer.id,
                                 customer.legal_entity_id)  # fmt: skip
            await uow.crm_accounts.keep(account, envelope.subject_version)
