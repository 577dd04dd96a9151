"""Connector errors, classified the way the messaging runtime acts on them.

ConnectorError
├── SystemUnavailable        (DownstreamUnavailable) pause intake and probe; never park
│   └── AuthenticationFailed     credentials refused: an outage until someone fixes them
├── RequestRejected          (PermanentError) validation or business rule: park at once
│   ├── NotFound
│   └── PeriodClosed             the accounting period is closed: never retried blindly
└── UnexpectedResponse       anything else: retried, then parked, by the runtime's default
"""

from __future__ import annotations

from tandem_messaging import DownstreamUnavailable, PermanentError

__all__ = [
    "AuthenticationFailed",
    "ConnectorError",
    "NotFound",
    "PeriodClosed",
    "RequestRejected",
    "SystemUnavailable",
    "UnexpectedResponse",
]


class ConnectorError(Exception):
    """Base of every error a connector raises."""


class SystemUnavailable(ConnectorError, DownstreamUnavailable):
    """The system is unreachable, overloaded (429) or failing (5xx); ``retry_after`` in s."""


class AuthenticationFailed(SystemUnavailable):
    """The system refused the connector's credentials."""


class RequestRejected(ConnectorError, PermanentError):
    """The system refused the request for a reason retrying cannot fix."""


class NotFound(RequestRejected):
    """The record or model named does not exist in the system."""

    def __init__(self, message: str) -> None:
        super().__init__("not_found", message)


class PeriodClosed(RequestRejected):
    """The accounting period of the document's date is closed."""

    def __init__(self, message: str) -> None:
        super().__init__("period_closed", message)


class UnexpectedResponse(ConnectorError):
    """The system answered something this connector does not understand."""
