"""Keys: what a held message waits for (released by the event that satisfies it), and what an
ERP write is made under.

One function per kind of key, used wherever the key is raised, released or written, so they can
never disagree on spelling. (A legal entity's company in an ERP: ``tandem_connectors.directory.
company_key``, since the directory resolves it; a worker's ERP employee: ``employee_key``
there, since staffing-sync writes the same employee.)
"""

from __future__ import annotations

from datetime import date

__all__ = [
    "assignment_key",
    "expense_key",
    "expense_reversal_key",
    "period_open_key",
    "project_in_erp_key",
    "project_key",
    "worker_key",
]


def project_key(project_id: str) -> str:
    """The dependency key released when the project opens for time."""
    return f"project-open:{project_id}"


def worker_key(worker_id: str, instance: str) -> str:
    """The dependency key released when the worker is mapped to an employee of ``instance``."""
    return f"worker-mapped:{instance}:{worker_id}"


def assignment_key(project_id: str, worker_id: str) -> str:
    """The dependency key released when the worker is assigned to the project."""
    return f"assignment:{project_id}:{worker_id}"


def project_in_erp_key(instance: str, project_id: str) -> str:
    """The dependency key released when the project is linked to its ERP project."""
    return f"project-in-erp:{instance}:{project_id}"


def period_open_key(legal_entity_id: str, period_start: date) -> str:
    """The dependency key released when the entity's period starting ``period_start`` opens."""
    return f"period-open:{legal_entity_id}:{period_start.isoformat()}"


def expense_key(expense_id: str, version: int) -> str:
    """The idempotency key of an expense's posting."""
    return f"expense:{expense_id}:v{version}"


def expense_reversal_key(posted_key: str, version: int) -> str:
    """The idempotency key of the reversal of the expense posting made under ``posted_key``."""
    return f"{posted_key}:reversed-at-v{version}"
