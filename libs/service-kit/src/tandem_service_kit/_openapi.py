"""The OpenAPI document says what every route may answer: its errors as problem details.

FastAPI documents a route's success and a 422 of its own shape; Tandem answers every error as
``application/problem+json`` (``_problems``), from the route or from the layers in front of it
(input guard 400/414, authentication 401/403, limits 413/429, the crash barrier 500, a process
still starting 503). ``document_problems`` adds those answers to every operation, so clients and
contract tests (schemathesis) can hold the API to them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from tandem_service_kit._problems import PROBLEM_JSON

__all__ = ["document_problems"]

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An error as RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "correlation_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "For 422: each field that is wrong and why.",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
_OPERATIONAL = frozenset({"/healthz", "/readyz", "/metrics"})
_METHODS = frozenset({"get", "put", "post", "delete", "patch"})


def _problem(description: str, **extra: Any) -> dict[str, Any]:
    content = {PROBLEM_JSON: {"schema": _PROBLEM_REF}}
    return {"description": description, "content": content, **extra}


def _answers(path: str, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    answers = {
        "400": _problem("The path, query or body holds text that cannot be stored."),
        "414": _problem("The path or query string is too long."),
        "500": _problem("An unexpected error; nothing internal is disclosed."),
        "default": _problem("Any other error, as problem details."),
    }
    if path in _OPERATIONAL:
        return answers
    answers |= {
        "422": _problem("The request does not validate; ``errors`` says where and why."),
        "429": _problem("Over the rate limit.", headers=_RETRY_AFTER),
        "503": _problem("Starting or a dependency is unavailable.", headers=_RETRY_AFTER),
    }
    if operation.get("security"):
        answers["401"] = _problem("No credentials, or credentials that prove nothing.")
        answers["403"] = _problem("Authenticated, without a scope the route requires.")
    if "{" in path:
        answers["404"] = _problem("What the path names does not exist.")
    if "requestBody" in operation:
        answers["413"] = _problem("The body is over the size limit.")
    return answers


def _with_problems(schema: dict[str, Any]) -> dict[str, Any]:
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = _PROBLEM_SCHEMA
    schemas = schema["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)  # FastAPI's 422 shape, which Tandem never answers
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, answer in _answers(path, operation).items():
                if status == "422" or status not in responses:
                    responses[status] = answer
    return schema


def document_problems(app: FastAPI) -> None:
    """Make ``app.openapi()`` document the problem answers of every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_problems(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
