"""Reading the REST PSA's resource requests (``/v1/resource-requests``): demand for a role on a
project, as the port's ``PsaResourceRequest``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from tandem_connectors.ports import PsaResourceRequest
from tandem_connectors.rest._records import reading

__all__ = ["RESOURCE_REQUESTS_FEED", "psa_resource_request"]

RESOURCE_REQUESTS_FEED = "resource-requests"


def psa_resource_request(record: Mapping[str, Any]) -> PsaResourceRequest:
    """A PSA resource-request record as the port's ``PsaResourceRequest``."""
    with reading("PSA", "resource request", record):
        skills = record.get("required_skills") or ()
        if isinstance(skills, str):  # a string would read as one skill per character
            raise TypeError("required_skills is a string, not a list")
        return PsaResourceRequest(
            external_id=record["id"], version=int(record["version"]),
            project_id=record["project_id"], role=record.get("role"),
            required_skills=tuple(str(skill) for skill in skills),
            minutes=int(record["minutes"]),
            start_date=date.fromisoformat(record["start_date"]),
            end_date=date.fromisoformat(record["end_date"]),
            status=record["status"], priority=int(record.get("priority") or 3),
            filled_by_assignment=record.get("filled_by_assignment"),
            updated_at=datetime.fromisoformat(record["updated_at"]),
        )  # fmt: skip
