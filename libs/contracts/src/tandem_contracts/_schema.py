"""Machine-readable contracts: JSON Schema per event version and an AsyncAPI 3.0 document."""

from __future__ import annotations

import inspect
from typing import Any

from tandem_contracts._catalogue import Catalogue
from tandem_contracts._envelope import Envelope
from tandem_contracts._event import Event

__all__ = ["EVENTS_EXCHANGE", "asyncapi_document", "event_json_schema", "schema_filename"]

EVENTS_EXCHANGE = "tandem.events"
"""The topic exchange every domain event is published to."""

_JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_filename(model: type[Event]) -> str:
    """Return the file name of a version's schema, e.g. ``TimeApproved.v1.json``."""
    return f"{model.event_type}.v{model.schema_version}.json"


def event_json_schema(model: type[Event]) -> dict[str, Any]:
    """Return the JSON Schema (2020-12) of the whole envelope carrying ``model``."""
    schema = Envelope[model].model_json_schema(mode="validation")  # type: ignore[valid-type]
    schema["title"] = f"{model.event_type} v{model.schema_version}"
    schema["description"] = inspect.cleandoc(model.__doc__ or model.event_type)
    schema["$id"] = f"urn:tandem:event:{model.event_type}:v{model.schema_version}"
    return {"$schema": _JSON_SCHEMA_DIALECT, **schema}


def _key(model: type[Event]) -> str:
    return f"{model.event_type}.v{model.schema_version}"


def asyncapi_document(catalogue: Catalogue, *, version: str) -> dict[str, Any]:
    """Return the AsyncAPI 3.0 document of the suite's events: one channel per event version
    (its routing key on ``EVENTS_EXCHANGE``), one send operation, one message.
    """
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for model in catalogue:
        key = _key(model)
        summary = inspect.cleandoc(model.__doc__ or key).splitlines()[0]
        messages[key] = {
            "name": model.event_type,
            "title": f"{model.event_type} v{model.schema_version}",
            "summary": summary,
            "description": inspect.cleandoc(model.__doc__ or key),
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/TraceHeaders"},
            "payload": {"$ref": f"./schemas/{schema_filename(model)}"},
            "x-system-of-record": model.system_of_record.value if model.system_of_record else None,
            "x-producers": list(model.producers),
            "x-subject-type": model.subject_type,
        }
        channels[key] = {
            "address": (
                f"{model.context}.{model.event_type}.v{model.schema_version}"
                ".{region}.{legalEntityId}"
            ),
            "title": summary,
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "parameters": {
                "region": {"$ref": "#/components/parameters/region"},
                "legalEntityId": {"$ref": "#/components/parameters/legalEntityId"},
            },
            "bindings": {"amqp": {"$ref": "#/components/channelBindings/eventsExchange"}},
        }
        operations[f"publish.{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
            "summary": f"Published by {', '.join(model.producers)}",
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": "0.3.0"}},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Tandem event catalogue",
            "version": version,
            "description": (
                "Every event the Tandem suite publishes. Each message is a JSON envelope "
                "(see the per-version JSON Schemas); W3C trace context travels in headers."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:5672",
                "protocol": "amqp",
                "protocolVersion": "0-9-1",
                "description": "The local RabbitMQ of a development machine",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {"TraceHeaders": _TRACE_HEADERS},
            "parameters": {
                "region": {
                    "description": "Data-residency region of the legal entity (us, eu, uk, ...)",
                    "examples": ["us", "eu"],
                },
                "legalEntityId": {"description": "Canonical id of the legal entity"},
            },
            "channelBindings": {
                "eventsExchange": {
                    "is": "routingKey",
                    "exchange": {
                        "name": EVENTS_EXCHANGE,
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": "0.3.0",
                }
            },
        },
    }


_TRACE_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "W3C trace context; never any payload data or personal data.",
    "properties": {
        "traceparent": {
            "type": "string",
            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        },
        "tracestate": {"type": "string"},
    },
}
