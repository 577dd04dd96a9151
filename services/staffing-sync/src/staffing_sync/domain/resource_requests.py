"""What a PSA resource request means to the rest of the suite (DOMAIN.md §2.4, §3).

The PSA's request statuses map onto the canonical ones: ``open`` is ready to staff,
``cancelled`` cancelled, ``filled`` assigned; any other is not guessed at
(``UnknownRequestStatusError``). Each PSA version of a request is announced as
``ResourceRequested`` when it tells something new: the first version seen while the request is
open, then every version that changes the canonical request (its terms, or its closing). A
request closed before it was ever announced is not announced at all: nobody staffs it, and
there is nothing to close. A version that changes nothing announces nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from tandem_contracts import ExternalRef
from tandem_contracts.entities import ResourceRequest, ResourceRequestStatus

__all__ = [
    "RequestStep",
    "RequestVersion",
    "UnknownRequestStatusError",
    "next_request_step",
    "request_status",
    "resource_request",
]

_STATUSES = {
    "open": ResourceRequestStatus.READY_TO_STAFF,
    "cancelled": ResourceRequestStatus.CANCELLED,
    "filled": ResourceRequestStatus.ASSIGNED,
}


class UnknownRequestStatusError(ValueError):
    """The PSA sent a request status Tandem does not know."""


class RequestStep(StrEnum):
    """What a request version asks of staffing-sync."""

    ANNOUNCE = "announce"
    NOTHING = "nothing"


@dataclass(frozen=True)
class RequestVersion:
    """A PSA resource request in canonical ids: its project, role and skills."""

    request_id: str
    project_id: str
    role_id: str
    required_skill_ids: tuple[str, ...]
    minutes: int
    start_date: date
    end_date: date
    psa_status: str
    priority: int
    ref: ExternalRef


def request_status(psa_status: str) -> ResourceRequestStatus:
    """The canonical status of a PSA request status."""
    if psa_status not in _STATUSES:
        known = ", ".join(sorted(_STATUSES))
        raise UnknownRequestStatusError(f"request status {psa_status!r} is not one of {known}")
    return _STATUSES[psa_status]


def resource_request(version: RequestVersion) -> ResourceRequest:
    """The canonical request a PSA version is."""
    return ResourceRequest(
        id=version.request_id, project_id=version.project_id, role_id=version.role_id,
        required_skill_ids=version.required_skill_ids, minutes=version.minutes,
        start_date=version.start_date, end_date=version.end_date, priority=version.priority,
        status=request_status(version.psa_status), refs=(version.ref,),
    )  # fmt: skip


def next_request_step(announced: ResourceRequest | None, request: ResourceRequest) -> RequestStep:
    """Announce an open request first seen, and any change of one announced; else nothing.

    ``announced`` is the request as last announced (None: never).
    """
    if announced is None:
        ready = request.status is ResourceRequestStatus.READY_TO_STAFF
        return RequestStep.ANNOUNCE if ready else RequestStep.NOTHING
    return RequestStep.NOTHING if announced == request else RequestStep.ANNOUNCE
