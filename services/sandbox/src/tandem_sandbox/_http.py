"""What every sandbox system's HTTP API shares: errors, the app factory, pages, body checks."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from tandem_sandbox._faults import SystemFaults
from tandem_sandbox._guard import FaultGuard, problem

__all__ = [
    "PAGE_CAP",
    "Limit",
    "SandboxError",
    "build_app",
    "decode_token",
    "encode_token",
    "parse",
]

logger = logging.getLogger(__name__)

PAGE_CAP = 200
Limit = Annotated[int, Query(ge=1, le=PAGE_CAP, description=f"page size, at most {PAGE_CAP}")]
M = TypeVar("M", bound=BaseModel)


class SandboxError(Exception):
    """A refusal a system answers with ``status`` and a stable ``code`` (e.g. PERIOD_CLOSED)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def parse(model: type[M], body: Any) -> M:
    """Validate a request body against ``model``; answer 422 with field errors when invalid."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False), body=body) from None


def encode_token(state: dict[str, Any]) -> str:
    """Return an opaque page token holding ``state``."""
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_token(token: str | None) -> dict[str, Any]:
    """Return the state of a page token (empty for none); 400 INVALID_PAGE_TOKEN if forged."""
    if not token:
        return {}
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        raise SandboxError(
            400, "INVALID_PAGE_TOKEN", "the page token is not one we issued"
        ) from None
    if not isinstance(state, dict):
        raise SandboxError(400, "INVALID_PAGE_TOKEN", "the page token is not one we issued")
    return state


async def _on_sandbox_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SandboxError)  # noqa: S101 - registered for this type only
    return problem(exc.status, exc.code, exc.detail, instance=request.url.path)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for this type only
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    return problem(exc.status_code, code, str(exc.detail), instance=request.url.path)


async def _on_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": str(e["msg"]), "type": e["type"]}
        for e in exc.errors()
    ]
    detail = "invalid request: " + ", ".join(e["field"] or "body" for e in errors)
    return problem(422, "VALIDATION_ERROR", detail, instance=request.url.path, errors=errors)


async def _on_crash(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return problem(500, "INTERNAL_ERROR", "an unexpected error occurred")


def build_app(
    title: str, routers: Sequence[APIRouter], faults: SystemFaults | None, state: Any
) -> FastAPI:
    """Return a system's app: its routers behind the fault guard, errors as problem details."""
    app = FastAPI(title=title, version="1.0.0")
    app.state.sandbox = state
    app.add_exception_handler(SandboxError, _on_sandbox_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_invalid)
    app.add_exception_handler(Exception, _on_crash)
    for router in routers:
        app.include_router(router)
    if faults is not None:
        app.add_middleware(FaultGuard, faults=faults)
    return app
