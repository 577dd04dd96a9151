"""The composition of the builders into one firm."""

from __future__ import annotations

from datetime import date

from tandem_sandbox.scenario._context import Context
from tandem_sandbox.scenario._customers import build_customers
from tandem_sandbox.scenario._expenses import build_expenses
from tandem_sandbox.scenario._firm import Firm
from tandem_sandbox.scenario._fx import build_fx
from tandem_sandbox.scenario._org import build_org
from tandem_sandbox.scenario._people import build_people
from tandem_sandbox.scenario._periods import build_periods
from tandem_sandbox.scenario._portfolio import build_portfolio
from tandem_sandbox.scenario._ratecards import build_rate_cards
from tandem_sandbox.scenario._staffing import build_staffing
from tandem_sandbox.scenario._time import build_time

__all__ = ["generate"]

_MIN_CONSULTANTS = 10
_MIN_CUSTOMERS = 6


def generate(
    seed: int = 7,
    *,
    consultants: int = 220,
    customers: int = 60,
    month: date = date(2026, 10, 1),
) -> Firm:
    """Generate the firm for ``seed``: same arguments, same firm; ``month`` is any day of it."""
    if consultants < _MIN_CONSULTANTS or customers < _MIN_CUSTOMERS:
        raise ValueError(
            f"need at least {_MIN_CONSULTANTS} consultants and {_MIN_CUSTOMERS} customers"
        )
    ctx = Context(seed, month.replace(day=1))
    org = build_org(ctx)
    people = build_people(ctx, org, consultants)
    clients = build_customers(ctx, org, customers)
    book = build_rate_cards(ctx, org, clients)
    portfolio = build_portfolio(ctx, org, people, clients, book)
    staffing = build_staffing(ctx, people, portfolio, book)
    time = build_time(ctx, people, portfolio, staffing, book)
    fx = build_fx(ctx)
    expenses = build_expenses(ctx, people.workers, portfolio.projects, clients, time.entries, fx)
    return Firm(
        seed=seed,
        month=ctx.month,
        legal_entities=org.legal_entities,
        org_units=org.org_units,
        roles=org.roles,
        skills=org.skills,
        workers=people.workers,
        cost_rates=people.cost_rates,
        resources=people.resources,
        customers=clients,
        rate_cards=book.cards,
        opportunities=tuple(portfolio.opportunities),
        contracts=tuple(portfolio.contracts),
        projects=tuple(portfolio.projects),
        work_items=tuple(portfolio.work_items),
        milestones=tuple(portfolio.milestones),
        resource_requests=tuple(portfolio.resource_requests),
        assignments=staffing.assignments,
        timesheets=time.timesheets,
        time_entries=time.entries,
        expenses=expenses,
        fx_rates=fx.rates,
        periods=build_periods(ctx, org.legal_entities),
    )
