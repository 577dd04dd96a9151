"""The ASGI middleware in front of each system: rate limit, concurrency limit, latency, 5xx."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tandem_sandbox._faults import SystemFaults

__all__ = ["FaultGuard", "problem"]

PROBLEM_JSON = "application/problem+json"


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """Return an RFC 9457 problem response carrying a stable ``code``."""
    body = {"type": "about:blank", "title": code, "status": status, "code": code, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


class FaultGuard:
    """Apply the system's configured faults to every request before the app sees it."""

    def __init__(self, app: ASGIApp, faults: SystemFaults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        faults, config = self.faults, self.faults.config
        faults.count("requests")
        if faults.bucket is not None and (wait := faults.bucket.take()) is not None:
            faults.count("rate_limited")
            seconds = str(max(1, math.ceil(wait)))
            refusal = problem(
                429, "RATE_LIMITED", "request rate exceeded", {"Retry-After": seconds}
            )
            await refusal(scope, receive, send)
            return
        limit = config.concurrency_limit
        if limit is not None and faults.in_flight >= limit:
            # NetSuite's answer to too many concurrent requests on one account.
            faults.count("concurrency_limited")
            refusal = problem(
                429,
                "SSS_REQUEST_LIMIT_EXCEEDED",
                f"more than {limit} concurrent requests",
                {"Retry-After": "1"},
            )
            await refusal(scope, receive, send)
            return
        faults.in_flight += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            faults.in_flight -= 1

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults, config = self.faults, self.faults.config
        if config.latency_ms:
            faults.count("latency_injected")
            await asyncio.sleep(config.latency_ms / 1000)
        if faults.requests.chance(config.error_rate):
            faults.count("errors_injected")
            failure = problem(config.error_status, "INJECTED_FAULT", "an injected server error")
            await failure(scope, receive, send)
            return
        await self.app(scope, receive, send)
