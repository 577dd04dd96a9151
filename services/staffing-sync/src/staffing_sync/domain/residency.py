"""Which of a worker's data may leave its residency region (DOMAIN.md §4.7, §7.6).

A worker's home region is its employing legal entity's ``data_residency_region``. Inside it,
everything staffing-sync holds about the worker may travel. Outside it only the portable fields
may: ids, the HRIS worker number, the legal entity, org unit, manager, role, calendar, the
work country, status and dates, which consumers in any region need to staff, cost and
reconcile, and which name nobody. Personal data (name, email, home address, phone, birth date,
national id, bank details) never leaves. A field on neither list is treated as personal: a new
field stays home until someone decides it may travel (an allow list, not a deny list).

The canonical ``Worker`` carries portable fields only (a test keeps it so); personal data an
in-region consumer needs (the PSA user's login) travels beside it in ``WorkerPayload.personal``,
which is empty outside the home region.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tandem_contracts.entities import Worker

__all__ = [
    "PERSONAL_FIELDS",
    "PORTABLE_FIELDS",
    "PersonalData",
    "WorkerPayload",
    "releasable",
    "worker_payload",
]

PORTABLE_FIELDS: frozenset[str] = frozenset(
    {
        "id",
        "worker_number",
        "legal_entity_id",
        "employment_type",
        "status",
        "source_status",
        "hire_date",
        "termination_date",
        "manager_id",
        "org_unit_id",
        "work_country",
        "work_calendar_id",
        "home_currency",
        "role_id",
        "refs",
    }
)
PERSONAL_FIELDS: frozenset[str] = frozenset(
    {
        "first_name",
        "last_name",
        "preferred_name",
        "email",
        "personal_email",
        "phone",
        "home_address",
        "date_of_birth",
        "national_id",
        "bank_account",
    }
)


def _region(name: str) -> str:
    return name.strip().casefold()


def releasable(fields: Mapping[str, Any], *, home: str, destination: str) -> dict[str, Any]:
    """The ``fields`` of a worker that may go to ``destination``: all at home, else portable."""
    if _region(home) == _region(destination):
        return dict(fields)
    return {name: value for name, value in fields.items() if name in PORTABLE_FIELDS}


@dataclass(frozen=True, slots=True)
class PersonalData:
    """The personal data an in-region consumer needs: the email (the PSA user's login)."""

    email: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class WorkerPayload:
    """A worker as an event to ``destination`` carries it; ``personal`` None outside home."""

    worker: Worker
    personal: PersonalData | None


def worker_payload(
    worker: Worker, personal: PersonalData, *, home: str, destination: str
) -> WorkerPayload:
    """The worker for an event bound for ``destination``: personal data kept only at home."""
    fields = {name: getattr(worker, name) for name in type(worker).model_fields}
    kept = releasable({**fields, "email": personal.email}, home=home, destination=destination)
    email = kept.pop("email", None)
    # A Worker field that may not travel is dropped here and fails validation if required:
    # loud, rather than a leak.
    outgoing = Worker.model_validate(kept)
    at_home = _region(home) == _region(destination)
    return WorkerPayload(outgoing, PersonalData(email=email) if at_home else None)
