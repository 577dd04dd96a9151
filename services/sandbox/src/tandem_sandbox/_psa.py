"""The PSA's delivery and staffing side (Kantata-like): projects, tasks, resources, rate cards
(change orders in ``_psa_changes``, resource requests in ``_psa_requests``).

Money is a decimal string with its currency (Kantata's integer cents are an adapter concern
the sandbox does not imitate); durations are integer minutes. A project is cancelled only by
``POST /v1/projects/{id}/cancel``, while no time entry or expense names it (409
``PROJECT_HAS_ACTIVITY``), and is then closed to time and expenses; ``GET
/v1/projects/{id}/activity`` counts what names it. Entries read their project with a share lock
(``_psa_time``), so a cancel and a first entry on the same project never both pass.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tandem_contracts import CurrencyCode
from tandem_sandbox._collections import Collection, collection_router, load, require
from tandem_sandbox._http import SandboxError
from tandem_sandbox._psa_changes import change_order_routers
from tandem_sandbox._psa_requests import resource_request_routers
from tandem_sandbox._state import StateDep
from tandem_sandbox._store import Tx

__all__ = ["ProjectStatus", "psa_routers"]

Rate = Annotated[Decimal, Field(max_digits=18, decimal_places=2, ge=0)]
ProjectStatus = Literal["estimate", "in_progress", "on_hold", "completed", "cancelled"]
Id = Annotated[str, Field(min_length=1, max_length=100)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExternalReference(_Model):
    """Another system's id for this record (Kantata ``external_references``)."""

    system: str = Field(min_length=1, max_length=40)
    object_type: str = Field(min_length=1, max_length=60)
    external_id: str = Field(min_length=1, max_length=100)


class ProjectCreate(_Model):
    """A delivery project (Kantata workspace)."""

    name: str = Field(min_length=1, max_length=200)
    code: str | None = Field(default=None, max_length=60)
    customer: str | None = Field(default=None, max_length=200)
    currency: CurrencyCode
    status: ProjectStatus = "estimate"
    open_for_time: bool = False
    open_for_expenses: bool = False
    start_date: date | None = None
    end_date: date | None = None
    rate_card_id: str | None = None
    external_references: list[ExternalReference] = Field(default_factory=list, max_length=20)
    external_id: Id | None = None


class ProjectPatch(_Model):
    """The changeable fields of a project: status (cancelled only by its action), the entry
    flags, the ERP code."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    code: str | None = Field(default=None, max_length=60)
    status: Literal["estimate", "in_progress", "on_hold", "completed"] | None = None
    open_for_time: bool | None = None
    open_for_expenses: bool | None = None
    end_date: date | None = None
    external_references: list[ExternalReference] | None = Field(default=None, max_length=20)


class TaskCreate(_Model):
    """A task, phase, milestone or deliverable of a project (Kantata story); a milestone's
    ``billing_amount`` is its fee, in the project's currency."""

    project_id: Id
    parent_id: Id | None = None
    type: Literal["phase", "task", "milestone", "deliverable"] = "task"
    name: str = Field(min_length=1, max_length=200)
    planned_minutes: int | None = Field(default=None, ge=0)
    start_date: date | None = None
    due_date: date | None = None
    billable: bool = True
    billing_amount: Rate | None = None
    status: Literal["not_started", "started", "needs_info", "completed"] = "not_started"
    external_id: Id | None = None


class TaskPatch(_Model):
    """The changeable fields of a task."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    status: Literal["not_started", "started", "needs_info", "completed"] | None = None
    planned_minutes: int | None = Field(default=None, ge=0)
    due_date: date | None = None
    billing_amount: Rate | None = None


class SkillLevel(_Model):
    """A skill and its level, 1 to 5."""

    skill: str = Field(min_length=1, max_length=80)
    level: int = Field(ge=1, le=5)


class ResourceCreate(_Model):
    """A bookable resource: a named user, or a placeholder when ``worker_ref`` is null.

    Bookable from ``start_date`` to ``end_date`` (its last day), either open: an assignment
    outside them is refused (409 ``RESOURCE_NOT_BOOKABLE``).
    """

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    worker_ref: str | None = Field(default=None, max_length=100)
    role: str | None = Field(default=None, max_length=80)
    skills: list[SkillLevel] = Field(default_factory=list, max_length=100)
    capacity_minutes_per_day: int = Field(default=480, ge=0, le=1440)
    utilization_target_pct: int = Field(default=80, ge=0, le=100)
    bookable: bool = True
    country: str | None = Field(default=None, min_length=2, max_length=2)
    calendar_id: str | None = Field(default=None, max_length=100)
    cost_center: str | None = Field(default=None, max_length=100)
    start_date: date | None = None
    end_date: date | None = None
    external_id: Id | None = None


class ResourcePatch(_Model):
    """The changeable fields of a resource (``end_date``: its last bookable day)."""

    role: str | None = Field(default=None, max_length=80)
    skills: list[SkillLevel] | None = Field(default=None, max_length=100)
    bookable: bool | None = None
    capacity_minutes_per_day: int | None = Field(default=None, ge=0, le=1440)
    end_date: date | None = None


class AssignmentCreate(_Model):
    """A booking of a resource on a project (Kantata allocation: total minutes + percent)."""

    project_id: Id
    resource_id: Id
    task_id: Id | None = None
    role: str | None = Field(default=None, max_length=80)
    start_date: date
    end_date: date
    minutes_per_day: int = Field(default=480, ge=0, le=1440)
    booking: Literal["hard", "soft"] = "hard"
    bill_rate: Rate | None = None
    currency: CurrencyCode | None = None
    external_id: Id | None = None


class AssignmentPatch(_Model):
    """The changeable fields of an assignment."""

    end_date: date | None = None
    minutes_per_day: int | None = Field(default=None, ge=0, le=1440)
    booking: Literal["hard", "soft"] | None = None
    status: Literal["active", "cancelled"] | None = None


class RoleRate(_Model):
    """A role's bill (and optional cost) rate in a rate-card version."""

    role: str = Field(min_length=1, max_length=80)
    bill_rate: Rate
    cost_rate: Rate | None = None


class RateCardVersion(_Model):
    """A dated version of a rate card; ``default_rate`` applies to roles not listed, less
    ``discount_pct``. ``version`` numbers it on its card (none: its position, from 1)."""

    version: int | None = Field(default=None, ge=1, le=1_000_000)
    effective_from: date
    effective_to: date | None = None
    default_rate: Rate | None = None
    role_rates: list[RoleRate] = Field(default_factory=list, max_length=500)
    discount_pct: Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)] | None = (
        None
    )


class RateCardScope(_Model):
    """Where a card applies (Certinia's scopes): a PSA project, a customer account (the CRM's
    account id, as the PSA's projects name their ``customer``), an org unit (region, practice,
    group: master-data ids); none named: every project."""

    project_id: Id | None = None
    account_id: Id | None = None
    region_id: Id | None = None
    practice_id: Id | None = None
    group_id: Id | None = None


class RateCardCreate(_Model):
    """A rate card in one currency, with dated versions (their numbers, when given, unique)."""

    name: str = Field(min_length=1, max_length=200)
    currency: CurrencyCode
    scope: RateCardScope = Field(default_factory=RateCardScope)
    versions: list[RateCardVersion] = Field(min_length=1, max_length=100)
    external_id: Id | None = None

    @model_validator(mode="after")
    def _versions_numbered_once(self) -> Self:
        numbers = [v.version for v in self.versions if v.version is not None]
        if len(numbers) != len(set(numbers)):
            raise ValueError("a version number is given twice")
        return self


async def _check_task(tx: Tx, data: dict[str, Any]) -> None:
    project = await require(tx, "projects", data["project_id"], "project_id")
    await require(tx, "tasks", data.get("parent_id"), "parent_id")
    if project is not None:  # a milestone's fee is in its project's currency
        data["currency"] = project.data["currency"]


async def _check_assignment(tx: Tx, data: dict[str, Any]) -> None:
    await require(tx, "projects", data["project_id"], "project_id")
    resource = await require(tx, "resources", data["resource_id"], "resource_id")
    await require(tx, "tasks", data.get("task_id"), "task_id")
    if resource is not None and data.get("status", "active") != "cancelled":
        _check_bookable(resource.data, data)
    data.setdefault("status", "active")


def _check_bookable(resource: dict[str, Any], booking: dict[str, Any]) -> None:
    """Refuse a booking outside the resource's dates."""
    first, last = resource.get("start_date"), resource.get("end_date")
    # ISO dates compare as text.
    if last is not None and str(booking["end_date"]) > last:
        detail = f"the resource's last day is {last}; the booking ends {booking['end_date']}"
        raise SandboxError(409, "RESOURCE_NOT_BOOKABLE", detail)
    if first is not None and str(booking["start_date"]) < first:
        detail = f"the resource starts {first}; the booking starts {booking['start_date']}"
        raise SandboxError(409, "RESOURCE_NOT_BOOKABLE", detail)


PROJECTS = Collection(
    "projects",
    "project",
    "prj",
    ProjectCreate,
    ProjectPatch,
    ("status", "code"),
    "update",
)
TASKS = Collection(
    "tasks", "task", "tsk", TaskCreate, TaskPatch, ("project_id",), "update", _check_task
)
RESOURCES = Collection(
    "resources", "resource", "usr", ResourceCreate, ResourcePatch, ("worker_ref",), "update"
)
ASSIGNMENTS = Collection(
    "assignments",
    "assignment",
    "asg",
    AssignmentCreate,
    AssignmentPatch,
    ("project_id", "resource_id"),
    "update",
    _check_assignment,
)
RATE_CARDS = Collection("rate-cards", "rate_card", "rcd", RateCardCreate, upsert="update")


_BOOKED = """
SELECT count(*) FILTER (WHERE collection = 'time-entries') AS time_entries,
    count(*) FILTER (WHERE collection = 'time-entries' AND data->>'status' = 'approved')
        AS approved_time_entries,
    count(*) FILTER (WHERE collection = 'expenses') AS expenses
FROM sandbox.records
WHERE system = 'psa' AND collection IN ('time-entries', 'expenses') AND data->>'project_id' = $1
"""


async def _activity(tx: Tx, project_id: str) -> dict[str, Any]:
    row = await tx.connection.fetchrow(_BOOKED, project_id)
    assert row is not None  # noqa: S101 - an aggregate always answers a row
    return {"project_id": project_id, **{k: int(v) for k, v in row.items()}}


def _project_router() -> APIRouter:
    router = APIRouter(prefix="/v1/projects", tags=["projects"])

    @router.post("/{project_id}/cancel", summary="Cancel a project nobody booked on")
    async def cancel(state: StateDep, project_id: str) -> dict[str, Any]:
        """Cancel the project (kept, closed to entry); refused when an entry names it."""
        async with state.store.tx("psa") as tx:
            project = await load(tx, "projects", project_id, lock=True)
            if project.data["status"] == "cancelled":
                return project.public()
            booked = await _activity(tx, project_id)
            if booked["time_entries"] or booked["expenses"]:
                detail = (
                    f"project {project_id} has {booked['time_entries']} time entries and "
                    f"{booked['expenses']} expenses"
                )
                raise SandboxError(409, "PROJECT_HAS_ACTIVITY", detail)
            closed = {"status": "cancelled", "open_for_time": False, "open_for_expenses": False}
            project = await tx.update(project, {**project.data, **closed})
            shown = project.public()
            await tx.emit("project.cancelled", "project", project.id, shown)
            await tx.emit("project.updated", "project", project.id, shown)
        return shown

    @router.get("/{project_id}/activity", summary="What names a project")
    async def activity(state: StateDep, project_id: str) -> dict[str, Any]:
        """Count the project's time entries (and the approved ones) and expenses."""
        async with state.store.tx("psa") as tx:
            await load(tx, "projects", project_id)
            return await _activity(tx, project_id)

    return router


def psa_routers() -> list[APIRouter]:
    """Return the PSA's delivery and staffing routes."""
    specs = (PROJECTS, TASKS, RESOURCES, ASSIGNMENTS, RATE_CARDS)
    return [
        _project_router(),
        *(collection_router("psa", spec) for spec in specs),
        *change_order_routers(),
        *resource_request_routers(),
    ]
