"""Context variables the runtime sets while it handles a message, for logs and traces."""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["correlation_id"]

correlation_id: ContextVar[str | None] = ContextVar("tandem_correlation_id", default=None)
"""The correlation id of the workflow being handled; every log line carries it."""
