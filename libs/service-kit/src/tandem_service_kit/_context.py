"""The ids that follow a unit of work through logs, HTTP responses and messages."""

from __future__ import annotations

from contextvars import ContextVar

from tandem_messaging import correlation_id

__all__ = ["correlation_id", "request_id"]

# correlation_id is the messaging runtime's: a consumer sets it while handling a message, the
# HTTP middleware while serving a request, and every log line carries it either way.

request_id: ContextVar[str | None] = ContextVar("tandem_request_id", default=None)
