"""Won opportunities become contracts and projects with work items, milestones and demand."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from tandem_contracts.entities import (
    BillingModel,
    Budget,
    Contract,
    ContractStatus,
    Customer,
    Milestone,
    Opportunity,
    OpportunityStatus,
    Project,
    ProjectFlags,
    ProjectStatus,
    RateCard,
    ResourceRequest,
    ResourceRequestStatus,
    RevenueMethod,
    WorkItem,
    WorkItemType,
)
from tandem_sandbox.scenario._context import Context
from tandem_sandbox.scenario._opportunities import Pursuit, opportunity, plan_pursuits
from tandem_sandbox.scenario._org import Org
from tandem_sandbox.scenario._people import People
from tandem_sandbox.scenario._prices import round_price
from tandem_sandbox.scenario._ratecards import RateBook
from tandem_sandbox.scenario._workitems import plan_work

__all__ = ["Portfolio", "build_portfolio"]

_MODELS = {
    BillingModel.TIME_AND_MATERIALS: (68, RevenueMethod.AS_BILLED),
    BillingModel.FIXED_FEE: (15, RevenueMethod.PERCENT_COMPLETE_HOURS),
    BillingModel.CAPPED_TM: (8, RevenueMethod.AS_BILLED),
    BillingModel.MILESTONE: (5, RevenueMethod.MILESTONE),
    BillingModel.RETAINER: (4, RevenueMethod.STRAIGHT_LINE),
}
_CONTRACT_STATUS = {
    ProjectStatus.PLANNED: ContractStatus.APPROVED,
    ProjectStatus.COMPLETED: ContractStatus.CLOSED,
}


@dataclass
class Portfolio:
    """The commercial pipeline and delivery structure, with lookups for staffing and time."""

    opportunities: list[Opportunity] = field(default_factory=list)
    contracts: list[Contract] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    work_items: list[WorkItem] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)
    resource_requests: list[ResourceRequest] = field(default_factory=list)
    card_of: dict[str, tuple[RateCard, str]] = field(default_factory=dict)
    tasks_of: dict[str, list[WorkItem]] = field(default_factory=dict)
    practice_of: dict[str, str] = field(default_factory=dict)


def build_portfolio(
    ctx: Context, org: Org, people: People, customers: tuple[Customer, ...], book: RateBook
) -> Portfolio:
    """Build opportunities for every customer and the contract and project of each won one."""
    rng = ctx.rng("portfolio")
    leads = _leads_by_entity(org, people)
    portfolio = Portfolio()
    for pursuit in plan_pursuits(ctx, customers):
        owners = leads.get(pursuit.customer.legal_entity_id, [])
        owner = rng.choice(owners) if owners else None
        deal = opportunity(ctx, org, rng, book, pursuit, owner)
        portfolio.opportunities.append(deal)
        if pursuit.outcome is OpportunityStatus.COMMITTED:
            _deliver(ctx, org, rng, book, portfolio, pursuit, deal, owners)
    return portfolio


def _leads_by_entity(org: Org, people: People) -> dict[str, list[str]]:
    leads: dict[str, list[str]] = {}
    for worker in people.workers:
        if org.role_specs[people.role_of[worker.id]].approver and worker.id in people.window:
            leads.setdefault(worker.legal_entity_id, []).append(worker.id)
    return leads


def _deliver(
    ctx: Context,
    org: Org,
    rng: random.Random,
    book: RateBook,
    portfolio: Portfolio,
    pursuit: Pursuit,
    deal: Opportunity,
    managers: list[str],
) -> None:
    model = rng.choices(list(_MODELS), [w for w, _ in _MODELS.values()])[0]
    card, level = book.card_for(deal.amount.currency, pursuit.scope(org))
    contract = _contract(ctx, rng, pursuit, deal, model, card.id)
    status = pursuit.project_status or ProjectStatus.ACTIVE
    entity_key = org.spec(deal.selling_legal_entity_id).key.upper()
    project = Project(
        id=ctx.new_id(),
        code=f"PRJ-{entity_key}-{len(portfolio.projects) + 1:04d}",
        name=f"{pursuit.customer.name.split()[0]} {pursuit.name}",
        customer_id=pursuit.customer.id,
        contract_id=contract.id,
        opportunity_id=deal.id,
        legal_entity_id=deal.selling_legal_entity_id,
        org_unit_ids=(  # every unit the project belongs to, up the tree, for rate-card scopes
            org.practice_ids[pursuit.practice],
            org.region_of(deal.selling_legal_entity_id),
            org.group_id,
        ),
        project_manager_id=rng.choice(managers) if managers else None,
        currency=deal.amount.currency,
        billing_model=model,
        revenue_method=_MODELS[model][1],
        budget=Budget(
            minutes=sum(line.minutes for line in deal.lines),
            amount=contract.total_value,
            cost=contract.total_value.times(Decimal("0.6")),
        ),
        rate_card_id=card.id,
        start_date=pursuit.start,
        end_date=pursuit.end,
        flags=_flags(rng, status),
        status=status,
    )
    items, milestones = plan_work(ctx, rng, project, f"SVC-{pursuit.practice.upper()}")
    portfolio.contracts.append(contract)
    portfolio.projects.append(project)
    portfolio.work_items += items
    portfolio.milestones += milestones
    portfolio.card_of[project.id] = (card, level)
    portfolio.tasks_of[project.id] = [item for item in items if item.type is WorkItemType.TASK]
    portfolio.practice_of[project.id] = pursuit.practice
    if status is ProjectStatus.PLANNED:
        portfolio.resource_requests += _demand(ctx, rng, book, project, deal, level, card)


def _flags(rng: random.Random, status: ProjectStatus) -> ProjectFlags:
    return ProjectFlags(
        billable=True,
        time_entry_open=status is ProjectStatus.ACTIVE,
        expense_entry_open=status is ProjectStatus.ACTIVE and rng.random() < 0.85,
        require_expense_approval=True,
        time_requires_assignment=rng.random() < 0.4,
    )


def _contract(
    ctx: Context,
    rng: random.Random,
    pursuit: Pursuit,
    deal: Opportunity,
    model: BillingModel,
    card_id: str,
) -> Contract:
    value = round_price(deal.amount.amount, deal.amount.currency)
    capped = model is BillingModel.CAPPED_TM
    return Contract(
        id=ctx.new_id(),
        number=f"SOW-{pursuit.start.year}-{rng.randint(1000, 9999)}",
        customer_id=deal.customer_id,
        selling_legal_entity_id=deal.selling_legal_entity_id,
        opportunity_id=deal.id,
        po_number=f"PO-{rng.randint(100000, 999999)}" if rng.random() < 0.5 else None,
        billing_model=model,
        total_value=value,
        cap=round_price(value.amount * Decimal("1.1"), value.currency) if capped else None,
        start_date=pursuit.start,
        end_date=pursuit.end,
        rate_card_id=card_id,
        payment_terms_days=pursuit.customer.payment_terms_days,
        status=_CONTRACT_STATUS.get(
            pursuit.project_status or ProjectStatus.ACTIVE, ContractStatus.ACTIVE
        ),
    )


def _demand(
    ctx: Context,
    rng: random.Random,
    book: RateBook,
    project: Project,
    deal: Opportunity,
    level: str,
    card: RateCard,
) -> list[ResourceRequest]:
    start, end = project.start_date or ctx.month, project.end_date or ctx.month_end
    requests = []
    for line in deal.lines:
        rate, _ = book.rate(card, level, line.role_id, start)
        requests.append(
            ResourceRequest(
                id=ctx.new_id(),
                project_id=project.id,
                role_id=line.role_id,
                minutes=line.minutes,
                start_date=start,
                end_date=end,
                proposed_rate=rate,
                priority=rng.randint(1, 5),
                status=rng.choice(
                    (ResourceRequestStatus.READY_TO_STAFF, ResourceRequestStatus.HELD)
                ),
            )
        )
    return requests
