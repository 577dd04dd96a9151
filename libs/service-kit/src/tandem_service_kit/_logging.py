"""Logging configured once per process: JSON lines carrying service, trace and correlation ids."""

from __future__ import annotations

import logging
import sys

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from tandem_service_kit import _context
from tandem_service_kit._settings import ServiceSettings

__all__ = ["ContextFilter", "configure_logging"]

_FIELDS = ("service", "trace_id", "span_id", "correlation_id", "request_id")
_JSON_FORMAT = "%(levelname)s %(name)s %(message)s " + " ".join(f"%({f})s" for f in _FIELDS)
_CONSOLE_FORMAT = (
    "%(asctime)s %(levelname)-8s %(name)s "
    "[trace=%(trace_id)s corr=%(correlation_id)s req=%(request_id)s] %(message)s"
)
_HANDLER_NAME = "tandem"


class ContextFilter(logging.Filter):
    """Stamp each record with the service name, the current span and the context ids."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        span = trace.get_current_span().get_span_context()
        record.service = self.service
        record.trace_id = trace.format_trace_id(span.trace_id) if span.is_valid else ""
        record.span_id = trace.format_span_id(span.span_id) if span.is_valid else ""
        record.correlation_id = _context.correlation_id.get() or ""
        record.request_id = _context.request_id.get() or ""
        return True


def _formatter(log_format: str) -> logging.Formatter:
    if log_format == "console":
        return logging.Formatter(_CONSOLE_FORMAT)
    return JsonFormatter(
        _JSON_FORMAT,
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
    )


_WIRE_LOGGERS = ("aiormq", "aio_pika", "pamqp", "httpcore", "hpack")
"""Libraries that log whole frames at DEBUG (aiormq: every AMQP frame, a message's body with
its time entry's notes included): kept at INFO even when a service logs at DEBUG, so no
payload ever reaches a log (DOMAIN.md §4.7)."""


def configure_logging(settings: ServiceSettings) -> logging.Handler:
    """Send every log record to stderr in the configured format; calling again replaces it."""
    root = logging.getLogger()
    for existing in [h for h in root.handlers if h.name == _HANDLER_NAME]:
        root.removeHandler(existing)
        existing.close()
    handler = logging.StreamHandler(sys.stderr)
    handler.name = _HANDLER_NAME
    handler.setFormatter(_formatter(settings.log_format))
    handler.addFilter(ContextFilter(settings.service_name))
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    floor = max(logging.getLevelName(settings.log_level), logging.INFO)
    for name in _WIRE_LOGGERS:
        logging.getLogger(name).setLevel(floor)
    return handler
