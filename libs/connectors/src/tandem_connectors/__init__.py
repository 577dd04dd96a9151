"""Tandem's connectors to systems of record, and the errors they raise (see ``errors``).

Apply the SQL in ``MIGRATIONS`` (schema ``connectors``) before using ``xref`` or ``webhooks``.
"""

from pathlib import Path

from tandem_connectors.errors import (
    AuthenticationFailed,
    ConnectorError,
    NotFound,
    PeriodClosed,
    RequestRejected,
    SystemUnavailable,
    UnexpectedResponse,
)

MIGRATIONS = Path(__file__).parent / "migrations"

__all__ = [
    "MIGRATIONS",
    "AuthenticationFailed",
    "ConnectorError",
    "NotFound",
    "PeriodClosed",
    "RequestRejected",
    "SystemUnavailable",
    "UnexpectedResponse",
]
