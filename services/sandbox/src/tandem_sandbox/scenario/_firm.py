"""The generated firm: one immutable snapshot of every canonical entity, as of the month's end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import TypeVar

from pydantic import BaseModel

from tandem_contracts.entities import (
    AccountingPeriod,
    Assignment,
    Contract,
    CostRate,
    Customer,
    Expense,
    FxRate,
    LegalEntity,
    Milestone,
    Opportunity,
    OrgUnit,
    Project,
    RateCard,
    Resource,
    ResourceRequest,
    Role,
    Skill,
    TimeEntry,
    Timesheet,
    Worker,
    WorkItem,
)
from tandem_sandbox.scenario._compensation import effective

__all__ = ["Firm"]

_T = TypeVar("_T", bound=BaseModel)


@dataclass(frozen=True, repr=False)
class Firm:
    """A deterministic professional-services firm: every tuple is in creation (id) order."""

    seed: int
    """The seed the firm was generated from."""
    month: date
    """The first day of the simulated month (time, expenses and FX cover it)."""
    legal_entities: tuple[LegalEntity, ...]
    """Employing and invoicing companies (US, UK, DE, IN, SG), each with a residency region."""
    org_units: tuple[OrgUnit, ...]
    """The group, its regions (Americas, EMEA, APAC) and practices (Strategy, Data & AI, ...)."""
    roles: tuple[Role, ...]
    """Delivery roles with a default USD bill and cost rate."""
    skills: tuple[Skill, ...]
    """Skills and certifications resources are rated on."""
    workers: tuple[Worker, ...]
    """HRIS workers: employees and contractors, a few hired, terminated or pre-hire in the month."""
    cost_rates: tuple[CostRate, ...]
    """Dated hourly costs per worker in the home currency; some change mid-month."""
    resources: tuple[Resource, ...]
    """One bookable resource per worker plus unnamed placeholders (``worker_id`` None)."""
    customers: tuple[Customer, ...]
    """Clients in several countries and currencies, each sold by one legal entity."""
    rate_cards: tuple[RateCard, ...]
    """Per-currency cards scoped to group, practice, region or account, with dated versions."""
    opportunities: tuple[Opportunity, ...]
    """CRM opportunities: committed (won, with a project), lost, open and reopened."""
    contracts: tuple[Contract, ...]
    """One statement of work per won opportunity."""
    projects: tuple[Project, ...]
    """Delivery projects in the customer's currency, owned by the selling legal entity."""
    work_items: tuple[WorkItem, ...]
    """Phases, tasks and milestones of each project (time is booked to tasks)."""
    milestones: tuple[Milestone, ...]
    """Billing milestones of milestone and fixed-fee projects."""
    resource_requests: tuple[ResourceRequest, ...]
    """Open demand on planned projects."""
    assignments: tuple[Assignment, ...]
    """Bookings of resources on projects; some cross-entity (intercompany)."""
    timesheets: tuple[Timesheet, ...]
    """Weekly (Monday to Sunday) containers of each worker's time in the month."""
    time_entries: tuple[TimeEntry, ...]
    """Daily time per worker and project on weekdays of the month, in multiples of 15 minutes."""
    expenses: tuple[Expense, ...]
    """Travel, meal and lodging lines in the project's or the worker's currency."""
    fx_rates: tuple[FxRate, ...]
    """Weekday spot and month-average rates from every currency into each functional one."""
    periods: tuple[AccountingPeriod, ...]
    """The months before (closed), of and after (open) the scenario month, per legal entity."""

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{name}={len(value)}" for name, value in vars(self).items() if isinstance(value, tuple)
        )
        return f"Firm(seed={self.seed}, month={self.month.isoformat()}, {sizes})"

    @cached_property
    def _index(self) -> dict[str, BaseModel]:
        index: dict[str, BaseModel] = {}
        for group in (
            self.legal_entities, self.org_units, self.roles, self.skills, self.workers,
            self.resources, self.customers, self.rate_cards, self.opportunities, self.contracts,
            self.projects, self.work_items, self.milestones, self.resource_requests,
            self.assignments, self.timesheets, self.time_entries, self.expenses, self.fx_rates,
            self.periods,
        ):  # fmt: skip
            index.update((item.id, item) for item in group)
        return index

    def by_id(self, entity_id: str) -> BaseModel:
        """Return the entity with this id; raise KeyError if there is none."""
        return self._index[entity_id]

    def get(self, kind: type[_T], entity_id: str) -> _T:
        """Return the entity with this id, checked to be of ``kind``."""
        found = self._index[entity_id]
        if not isinstance(found, kind):
            raise TypeError(f"{entity_id} is a {type(found).__name__}, not a {kind.__name__}")
        return found

    @cached_property
    def _cost_rates_of(self) -> dict[str | None, list[CostRate]]:
        grouped: dict[str | None, list[CostRate]] = {}
        for rate in self.cost_rates:
            grouped.setdefault(rate.worker_id, []).append(rate)
        return grouped

    def cost_rate_on(self, worker_id: str, day: date) -> CostRate | None:
        """Return the worker's cost rate effective on ``day``, if any."""
        return effective(self._cost_rates_of.get(worker_id, []), day)
