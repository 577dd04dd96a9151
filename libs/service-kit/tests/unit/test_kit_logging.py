"""Logs are JSON lines carrying the service, the current span and the context ids."""

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from tandem_service_kit import ServiceSettings, configure_logging, correlation_id, request_id

logger = logging.getLogger("tandem.kit.test")


@pytest.fixture
def captured() -> Iterator[Callable[..., io.StringIO]]:
    """Configure logging into a buffer; put the root logger back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def configure(**overrides: object) -> io.StringIO:
        settings = ServiceSettings.model_validate({"service_name": "time-expense", **overrides})
        buffer = io.StringIO()
        handler = configure_logging(settings)
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
        return buffer

    yield configure
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_record_is_one_json_line_with_every_field(captured: Callable[..., io.StringIO]) -> None:
    buffer = captured()

    logger.info("posted %d entries", 3)

    (line,) = lines(buffer)
    assert line["message"] == "posted 3 entries"
    assert line["level"] == "INFO"
    assert line["logger"] == "tandem.kit.test"
    assert line["service"] == "time-expense"
    assert {"timestamp", "trace_id", "span_id", "correlation_id", "request_id"} <= set(line)
    assert line["trace_id"] == line["span_id"] == ""


def test_the_current_span_supplies_trace_and_span_ids(captured: Callable[..., io.StringIO]) -> None:
    buffer = captured()
    tracer = TracerProvider().get_tracer("kit-test")

    with tracer.start_as_current_span("post-entry") as span:
        logger.info("inside a span")
        context = span.get_span_context()

    (line,) = lines(buffer)
    assert line["trace_id"] == f"{context.trace_id:032x}"
    assert line["span_id"] == f"{context.span_id:016x}"


def test_context_ids_are_stamped_on_each_record(captured: Callable[..., io.StringIO]) -> None:
    buffer = captured()
    correlation_token = correlation_id.set("opp-0001")
    request_token = request_id.set("req-9")
    try:
        logger.warning("late time")
    finally:
        correlation_id.reset(correlation_token)
        request_id.reset(request_token)

    (line,) = lines(buffer)
    assert (line["correlation_id"], line["request_id"]) == ("opp-0001", "req-9")


def test_configuring_twice_keeps_one_handler(captured: Callable[..., io.StringIO]) -> None:
    captured()
    buffer = captured(log_level="WARNING")

    logger.info("dropped")
    logger.warning("kept")

    assert [line["message"] for line in lines(buffer)] == ["kept"]
    assert sum(h.name == "tandem" for h in logging.getLogger().handlers) == 1


def test_the_console_format_is_for_people(captured: Callable[..., io.StringIO]) -> None:
    buffer = captured(log_format="console")
    token = correlation_id.set("opp-0003")
    try:
        logger.info("hello")
    finally:
        correlation_id.reset(token)

    text = buffer.getvalue()
    assert "INFO" in text
    assert "corr=opp-0003" in text
    assert text.rstrip().endswith("hello")


def test_wire_libraries_never_log_frames_even_at_debug(
    captured: Callable[..., io.StringIO],
) -> None:
    # aiormq logs every AMQP frame at DEBUG, a message's body (a time entry's notes) included.
    stream = captured(log_level="DEBUG")
    logging.getLogger("aiormq.connection").debug("Prepare to send %r", b"notes: merger talks")
    logging.getLogger("tandem.example").debug("a service's own debug line")
    logging.getLogger("aiormq.connection").info("connected")
    lines = stream.getvalue().splitlines()
    assert "merger talks" not in stream.getvalue()
    assert [json.loads(line)["message"] for line in lines] == [
        "a service's own debug line",
        "connected",
    ]
