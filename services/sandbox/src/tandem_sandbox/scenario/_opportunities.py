"""CRM opportunities across stages; the won ones become contracts and projects."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from tandem_contracts import Money
from tandem_contracts.entities import (
    Customer,
    CustomerStatus,
    Opportunity,
    OpportunityLine,
    OpportunityStatus,
    ProjectStatus,
)
from tandem_sandbox.scenario._catalog import PROJECT_NAMES
from tandem_sandbox.scenario._context import Context
from tandem_sandbox.scenario._org import Org
from tandem_sandbox.scenario._ratecards import RateBook

__all__ = ["Pursuit", "opportunity", "plan_pursuits"]

_PRACTICE_WEIGHTS = {"strategy": 15, "data": 28, "cloud": 22, "erp": 25, "security": 10}
_WON = {CustomerStatus.ON_HOLD: 1}
_OTHERS = (OpportunityStatus.LOST, OpportunityStatus.OPEN, OpportunityStatus.REOPENED)
_OPEN_STAGES = (("Qualification", 20), ("Proposal", 50), ("Negotiation", 75))


@dataclass(frozen=True)
class Pursuit:
    """What a customer is being sold: practice, engagement name, dates and the outcome."""

    customer: Customer
    practice: str
    name: str
    outcome: OpportunityStatus
    start: date
    end: date
    project_status: ProjectStatus | None
    """The status the won engagement's project has at the month's end; None if not won."""

    def scope(self, org: Org) -> dict[str, str]:
        """Return the rate-card scope ids of the engagement, by level."""
        return {
            "account": self.customer.id,
            "region": org.region_of(self.customer.legal_entity_id),
            "practice": org.practice_ids[self.practice],
            "group": org.group_id,
        }


def plan_pursuits(ctx: Context, customers: tuple[Customer, ...]) -> list[Pursuit]:
    """Decide each customer's won, lost, open and reopened engagements."""
    rng = ctx.rng("pursuits")
    pursuits = []
    for customer in customers:
        won = _WON.get(customer.status, 0)
        if customer.status is CustomerStatus.ACTIVE:
            won = rng.choices((1, 2, 3), (55, 35, 10))[0]
        others = rng.choices(_OTHERS, (45, 45, 10), k=rng.randint(0 if won else 1, 2))
        for outcome in [OpportunityStatus.COMMITTED] * won + others:
            practice = rng.choices(list(_PRACTICE_WEIGHTS), list(_PRACTICE_WEIGHTS.values()))[0]
            status, start, end = _timeline(ctx, rng, customer, outcome)
            name = rng.choice(PROJECT_NAMES[practice])
            pursuits.append(Pursuit(customer, practice, name, outcome, start, end, status))
    return pursuits


def _timeline(
    ctx: Context, rng: random.Random, customer: Customer, outcome: OpportunityStatus
) -> tuple[ProjectStatus | None, date, date]:
    later = ctx.month_end + timedelta(days=rng.randint(20, 300))
    if outcome is not OpportunityStatus.COMMITTED:
        start = ctx.month_end + timedelta(days=rng.randint(10, 120))
        return None, start, start + timedelta(days=rng.randint(60, 240))
    if customer.status is CustomerStatus.ON_HOLD:
        return ProjectStatus.ON_HOLD, ctx.month - timedelta(days=rng.randint(30, 200)), later
    roll = rng.random()
    # Most projects run through the month; some start or finish inside it, some next month.
    if roll < 0.08:
        return ProjectStatus.ACTIVE, rng.choice(ctx.weekdays[2:12]), later
    if roll < 0.13:
        return (
            ProjectStatus.COMPLETED,
            ctx.month - timedelta(days=rng.randint(60, 300)),
            rng.choice(ctx.weekdays[5:-5]),
        )
    if roll < 0.20:
        start = ctx.month_end + timedelta(days=rng.randint(1, 20))
        return ProjectStatus.PLANNED, start, start + timedelta(days=rng.randint(60, 240))
    return ProjectStatus.ACTIVE, ctx.month - timedelta(days=rng.randint(1, 240)), later


def opportunity(
    ctx: Context,
    org: Org,
    rng: random.Random,
    book: RateBook,
    pursuit: Pursuit,
    owner_id: str | None,
) -> Opportunity:
    """Price a pursuit from its rate card and return it as a CRM opportunity."""
    customer = pursuit.customer
    card, level = book.card_for(customer.currency, pursuit.scope(org))
    roles = rng.sample(list(org.role_specs), rng.randint(2, 4))
    lines = []
    for role in roles:
        rate, _ = book.rate(card, level, role, max(pursuit.start, card.versions[0].effective_from))
        minutes = rng.randint(5, 80) * 480
        lines.append(
            OpportunityLine(
                role_id=role, minutes=minutes, rate=rate, amount=rate.times(minutes // 60)
            )
        )
    amount = sum((line.amount for line in lines), Money.of(0, customer.currency))
    stage, probability, close = _stage(ctx, rng, pursuit)
    return Opportunity(
        id=ctx.new_id(),
        customer_id=customer.id,
        selling_legal_entity_id=customer.legal_entity_id,
        name=f"{customer.name.split()[0]} - {pursuit.name}",
        stage=stage,
        status=pursuit.outcome,
        amount=amount,
        close_date=close,
        probability_pct=probability,
        owner_id=owner_id,
        expected_start=pursuit.start,
        lines=tuple(lines),
    )


def _stage(ctx: Context, rng: random.Random, pursuit: Pursuit) -> tuple[str, int, date]:
    if pursuit.outcome is OpportunityStatus.COMMITTED:
        return "Closed Won", 100, pursuit.start - timedelta(days=rng.randint(7, 45))
    if pursuit.outcome is OpportunityStatus.LOST:
        return "Closed Lost", 0, ctx.month - timedelta(days=rng.randint(10, 200))
    stage, probability = rng.choice(_OPEN_STAGES)
    if pursuit.outcome is OpportunityStatus.REOPENED:
        stage, probability = "Re-engaged", 40
    return stage, probability, pursuit.start - timedelta(days=rng.randint(5, 30))
