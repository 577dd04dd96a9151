"""The PSA's resource requests (Kantata / Certinia resource requests): demand for a role on a
project, staffed by the resource managers' matching.

A request is made ``open`` (``POST /v1/resource-requests``) on a project that is neither
cancelled nor completed, for a role (the PSA role id bookings carry), the skills it needs and
``minutes`` in all from ``start_date`` to ``end_date``. ``PATCH /v1/resource-requests/{id}``
changes an open request's terms and moves its ``status`` once: ``open → cancelled`` or
``open → filled``, a filled one optionally naming the booking that filled it
(``filled_by_assignment``, a booking of the same project). A cancelled or filled request is
final: another status is 409 ``INVALID_TRANSITION``, another change 409 ``REQUEST_CLOSED``; a
patch that changes nothing answers the request as it is (no new version). Bad input is 422
with the reason (an end before the start, a booking named on a request not filled).

Every change is a new version with webhooks and the change feed like any PSA record
(``resource_request.created`` / ``updated``, and ``resource_request.cancelled`` / ``filled``
beside the update that made it so), so the sandbox's delivery faults apply to it as to the
others.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tandem_sandbox._collections import Collection, collection_router, load, require
from tandem_sandbox._http import SandboxError, parse
from tandem_sandbox._state import StateDep
from tandem_sandbox._store import Tx

__all__ = ["RESOURCE_REQUESTS", "resource_request_routers"]

Id = Annotated[str, Field(min_length=1, max_length=100)]
Skill = Annotated[str, Field(min_length=1, max_length=80)]
RequestStatus = Literal["open", "cancelled", "filled"]
_CLOSED_PROJECTS = frozenset({"cancelled", "completed"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResourceRequestCreate(_Model):
    """Demand for a role (and skills) on a project: ``minutes`` in all over the dates."""

    project_id: Id
    role: str = Field(min_length=1, max_length=80)
    required_skills: list[Skill] = Field(default_factory=list, max_length=50)
    minutes: int = Field(ge=1, le=527_040)
    start_date: date
    end_date: date
    priority: int = Field(default=3, ge=1, le=5)
    external_id: Id | None = None

    @model_validator(mode="after")
    def _check_dates(self) -> ResourceRequestCreate:
        if self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        return self


class ResourceRequestPatch(_Model):
    """The changeable fields of an open request, and its status."""

    role: str | None = Field(default=None, min_length=1, max_length=80)
    required_skills: list[Skill] | None = Field(default=None, max_length=50)
    minutes: int | None = Field(default=None, ge=1, le=527_040)
    start_date: date | None = None
    end_date: date | None = None
    priority: int | None = Field(default=None, ge=1, le=5)
    status: RequestStatus | None = None
    filled_by_assignment: Id | None = None

    @model_validator(mode="after")
    def _check_filled_by(self) -> ResourceRequestPatch:
        if self.filled_by_assignment is not None and self.status != "filled":
            raise ValueError("filled_by_assignment is given only with status filled")
        return self


async def _new_request(tx: Tx, data: dict[str, Any]) -> None:
    project = await require(tx, "projects", data["project_id"], "project_id")
    assert project is not None  # noqa: S101 - require answers the record of a given id
    if project.data["status"] in _CLOSED_PROJECTS:
        detail = f"project {project.id} is {project.data['status']}"
        raise SandboxError(409, "PROJECT_CLOSED", detail)
    data.update(status="open", filled_by_assignment=None)


async def _check_change(tx: Tx, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Refuse a change a request in its state does not take."""
    status, new = before["status"], after["status"]
    if status != "open":
        if new != status:
            raise SandboxError(409, "INVALID_TRANSITION", f"cannot make a {status} request {new}")
        raise SandboxError(409, "REQUEST_CLOSED", f"a {status} request is not changed")
    # ISO dates compare as text.
    if str(after["end_date"]) < str(after["start_date"]):
        detail = f"end_date {after['end_date']} is before start_date {after['start_date']}"
        raise SandboxError(422, "INVALID_DATES", detail)
    booking = await require(
        tx, "assignments", after.get("filled_by_assignment"), "filled_by_assignment"
    )
    if booking is not None and booking.data["project_id"] != after["project_id"]:
        detail = f"booking {booking.id} is on project {booking.data['project_id']}"
        raise SandboxError(409, "ASSIGNMENT_OTHER_PROJECT", detail)


RESOURCE_REQUESTS = Collection(
    "resource-requests",
    "resource_request",
    "rrq",
    ResourceRequestCreate,
    None,
    ("project_id", "status"),
    "once",
    _new_request,
)


def _change_router() -> APIRouter:
    router = APIRouter(prefix="/v1/resource-requests", tags=["resource-requests"])

    @router.patch("/{record_id}", summary="Change, cancel or fill a resource request")
    async def change(
        state: StateDep, record_id: str, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Change an open request's terms, or cancel or fill it (once; then it is final)."""
        changes = parse(ResourceRequestPatch, body).model_dump(mode="json", exclude_unset=True)
        async with state.store.tx("psa") as tx:
            record = await load(tx, "resource-requests", record_id, lock=True)
            data = {**record.data, **changes}
            if data == record.data:
                return record.public()
            await _check_change(tx, record.data, data)
            record = await tx.update(record, data)
            shown = record.public()
            if data["status"] != "open":
                await tx.emit(f"resource_request.{data['status']}", "resource_request",
                              record.id, shown)  # fmt: skip
            await tx.emit("resource_request.updated", "resource_request", record.id, shown)
        return shown

    return router


def resource_request_routers() -> list[APIRouter]:
    """Return the resource requests' routes: list, read, create, and change."""
    return [collection_router("psa", RESOURCE_REQUESTS), _change_router()]
