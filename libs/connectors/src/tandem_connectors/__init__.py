"""Tandem's connectors to systems of record, and the errors they raise (see ``errors``)."""

from tandem_connectors.errors import (
    AuthenticationFailed,
    ConnectorError,
    NotFound,
    PeriodClosed,
    RequestRejected,
    SystemUnavailable,
    UnexpectedResponse,
)

__all__ = [
    "AuthenticationFailed",
    "ConnectorError",
    "NotFound",
    "PeriodClosed",
    "RequestRejected",
    "SystemUnavailable",
    "UnexpectedResponse",
]
