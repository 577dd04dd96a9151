"""What other contexts tell billing-readiness: customers, contracts, projects, change orders.

Each keeps its newest version only (an older one changes nothing), so any delivery order ends
on the same terms. A change of standing — a customer put on or taken off credit hold, its tax
profile fixed, a PO on an amended SOW — restates the holds of every open charge of its projects
(``ChargeHeld`` / ``ChargeReleased``). A fixed-fee or retainer project's schedule is charged
when it is activated (its instalments dated at each month's end; an invoice only takes those of
ended periods).
"""

from __future__ import annotations

from typing import Any

from billing_readiness.domain import charge_instalment, fixed_fee_schedule
from billing_readiness.service_layer.charging import announce_created
from billing_readiness.service_layer.dependencies import Dependencies
from billing_readiness.service_layer.invoicing import customer_key
from billing_readiness.service_layer.keys import contract_key, project_key, waiting_for_project
from billing_readiness.service_layer.standing import (
    charging_by_standing,
    in_handler,
    restate,
    standing_of,
)
from billing_readiness.service_layer.unit_of_work import AbstractUnitOfWork
from tandem_contracts import Envelope, SystemKind
from tandem_contracts.events import (
    AccountUpserted,
    ChangeOrderApproved,
    CustomerLinked,
    ProjectActivated,
    RateCardPublished,
    SOWApproved,
)
from tandem_messaging import HandlerContext, Router

__all__ = ["handlers"]

handlers = Router()


@handlers.handles(AccountUpserted)
async def keep_customer(
    envelope: Envelope[AccountUpserted],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    deps: Dependencies,
) -> None:
    """Keep the customer's standing; restate its projects' holds when it changed."""
    customer = envelope.payload.customer
    if not await uow.customers.keep(customer, envelope.subject_version):
        return
    for project_id in await uow.projects.of_customer(customer.id):
        await restate(uow, in_handler(ctx), project_id, deps)


@handlers.handles(CustomerLinked)
async def link_customer(
    envelope: Envelope[CustomerLinked], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Keep the customer's ERP id: the party its invoices are made out to."""
    await uow.refs.link("customer", envelope.payload.customer_id, envelope.payload.erp_ref)
    ctx.satisfy(customer_key(envelope.payload.customer_id))


@handlers.handles(SOWApproved)
async def keep_contract(
    envelope: Envelope[SOWApproved],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    deps: Dependencies,
) -> None:
    """Keep the approved contract (model, value, cap, PO); restate its projects' holds."""
    approved = envelope.payload
    contract = approved.contract
    keys = [f"contract:{contract.id}", *(f"project:{p}" for p in approved.project_ids)]
    await uow.projects.lock_terms(keys)
    kept = await uow.projects.keep_contract(
        contract, approved.project_ids, envelope.subject_version
    )
    # Released even for a version kept already: a charge may wait on a redelivery.
    ctx.satisfy(contract_key(contract.id))
    if not kept:
        return
    # Its projects: those it names, and those that name it (project-sync's SOW names none).
    governed = sorted({*approved.project_ids, *await uow.projects.of_contract(contract.id)})
    for project_id in governed:
        await restate(uow, in_handler(ctx), project_id, deps)
        await _schedule(uow, ctx, deps, project_id)


@handlers.handles(ProjectActivated)
async def keep_project(
    envelope: Envelope[ProjectActivated],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    deps: Dependencies,
) -> None:
    """Keep the active project's terms, link its ERP project, charge a fee schedule, and
    release what waited for it."""
    project = envelope.payload.project
    keys = [f"project:{project.id}"]
    if project.contract_id is not None:
        keys.append(f"contract:{project.contract_id}")
    await uow.projects.lock_terms(keys)
    kept = await uow.projects.keep(
        project, envelope.data_residency_region, envelope.subject_version,
        envelope.correlation_id,
    )  # fmt: skip
    ctx.satisfy(project_key(project.id))
    if not kept:
        return
    for ref in project.refs:
        if ref.system is SystemKind.ERP and ref.object_type == "project":
            await uow.refs.link("project", project.id, ref)
    await _schedule(uow, ctx, deps, project.id)


@handlers.handles(RateCardPublished)
async def keep_rate_card(
    envelope: Envelope[RateCardPublished], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Keep the published card: the standard its time is measured against (time billed below
    it is leakage). Approved time keeps its frozen rate: a card never re-rates a charge."""
    published = envelope.payload
    await uow.rate_cards.keep(published.rate_card, published.published_version)


@handlers.handles(ChangeOrderApproved)
async def apply_change_order(
    envelope: Envelope[ChangeOrderApproved],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
) -> None:
    """A change order's new cap and value. Overage held already stays held: approving it is
    a person's decision (``POST /v1/projects/{id}/overage``), as the change order may have
    been priced for other work."""
    change = envelope.payload
    if await uow.projects.get(change.project_id) is None:
        raise waiting_for_project(change.project_id)
    await uow.projects.change_order(change.project_id, change.cap, change.total_value)


async def _schedule(
    uow: AbstractUnitOfWork, ctx: HandlerContext[Any], deps: Dependencies, project_id: str
) -> None:
    """Charge a fixed-fee or retainer project's instalments (each once: ids are the
    project's and the period's)."""
    known = await uow.projects.get(project_id)
    if known is None:
        return
    await charging_by_standing(uow, known)
    standing = await standing_of(uow, project_id, deps)
    lines = [
        charge_instalment(known.terms, period, bill_date, amount, standing)
        for period, bill_date, amount in fixed_fee_schedule(known.terms)
    ]
    for line in await uow.charges.add(lines):
        await announce_created(ctx, line, known.terms.contract_id)
