"""Limits on every API: request body size per path prefix, request rate per client.

A body whose ``Content-Length`` is over the limit is refused with 413 before it is read; a
streamed body is counted as it arrives and refused the moment it passes the limit, so no
handler ever takes a cut-off body for a whole one. A client over its rate limit (``rate_limit``,
or that of the longest ``rate_limits`` prefix its path starts with, counted apart) gets 429 with
``Retry-After``; ``/healthz``, ``/readyz`` and ``/metrics`` are never throttled.

The client is the SHA-256 of the credential it presents (bearer token, else ``X-API-Key``),
else its address. Counters live in this process's memory: with N replicas a client may make
N times the limit before each replica refuses it. A shared store (``limits.aio.storage``
has Redis) is a later choice, should that ever matter.
"""

from __future__ import annotations

import hashlib
import math
import time

from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from prometheus_client import Counter
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandem_service_kit._problems import problem_response
from tandem_service_kit._settings import ServiceSettings

__all__ = ["LimitsMiddleware"]

_UNTHROTTLED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

# Module level, so that many create_app calls in one process share one collector.
_LIMITED = Counter("tandem_http_limited", "HTTP requests refused by a limit", ("reason",))
for _reason in ("body_size", "rate"):
    _LIMITED.labels(reason=_reason)  # both series exist at 0 before the first refusal


class _BodyTooLargeError(HTTPException):
    # An HTTPException: FastAPI re-raises those from body parsing (any other error becomes a
    # 400), and the app's exception middleware, which wraps every route and mount, answers it
    # as a problem document, or re-raises it when the response has already begun.
    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"the request body is larger than the limit of {limit} bytes")


def _too_large(scope: Scope, limit: int) -> Response:
    return problem_response(Request(scope), 413, _BodyTooLargeError(limit).detail)


def _credential(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()  # preferred, as the authenticator prefers it
    return headers.get("x-api-key") or None


def _address(scope: Scope, headers: Headers, trust_forwarded_for: bool) -> str:
    forwarded = ",".join(headers.getlist("x-forwarded-for"))
    if trust_forwarded_for and forwarded.strip():
        # The last hop is the one the trusted proxy appended; earlier ones the caller can forge.
        return forwarded.rsplit(",", 1)[-1].strip()
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _client_key(scope: Scope, trust_forwarded_for: bool) -> str:
    headers = Headers(scope=scope)
    if (credential := _credential(headers)) is not None:
        # A digest, so the limiter never holds a credential.
        return "credential:" + hashlib.sha256(credential.encode()).hexdigest()[:32]
    return "address:" + _address(scope, headers, trust_forwarded_for)


def _declared_length(scope: Scope) -> int:
    value = Headers(scope=scope).get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else 0


class LimitsMiddleware:
    """Answer 429 to a client over the rate limit and 413 to a body over its size limit."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings) -> None:
        self.app = app
        self._default_body_limit = settings.max_body_bytes
        # Longest first, so the first prefix that matches is the most specific one.
        self._body_limits = sorted(settings.body_limits.items(), key=lambda kv: -len(kv[0]))
        self._rate = parse(settings.rate_limit)
        self._rates = sorted(
            ((prefix, parse(limit)) for prefix, limit in settings.rate_limits.items()),
            key=lambda kv: -len(kv[0]),
        )
        self._trust_forwarded_for = settings.trust_forwarded_for
        # A moving window never lets a client make more than the limit in any period-long
        # span, so Retry-After is exact; a fixed window allows twice the limit across a window
        # edge. Memory grows with requests admitted per period, which at Tandem's rates is
        # small. (limits 4 removed FixedWindowElastic.)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_limit = self._body_limit(scope["path"])
        refusal = await self._rate_refusal(scope)
        if refusal is None and _declared_length(scope) > body_limit:
            _LIMITED.labels(reason="body_size").inc()
            refusal = _too_large(scope, body_limit)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self._call_counting_body(scope, receive, send, body_limit)

    def _body_limit(self, path: str) -> int:
        matches = (limit for prefix, limit in self._body_limits if path.startswith(prefix))
        return next(matches, self._default_body_limit)

    async def _rate_refusal(self, scope: Scope) -> Response | None:
        if scope["path"] in _UNTHROTTLED_PATHS:
            return None
        prefix, rate = next(
            ((p, r) for p, r in self._rates if scope["path"].startswith(p)), ("", self._rate)
        )
        key = f"{prefix}|{_client_key(scope, self._trust_forwarded_for)}"
        if await self._limiter.hit(rate, key):
            return None
        window = await self._limiter.get_window_stats(rate, key)
        retry_after = max(1, math.ceil(window.reset_time - time.time()))
        _LIMITED.labels(reason="rate").inc()
        detail = f"more than {rate} from this client; retry in {retry_after} s"
        headers = {"Retry-After": str(retry_after)}
        return problem_response(Request(scope), 429, detail, headers=headers)

    async def _call_counting_body(
        self, scope: Scope, receive: Receive, send: Send, limit: int
    ) -> None:
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            if received > limit:  # asked again after the refusal: read no further
                raise _BodyTooLargeError(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    _LIMITED.labels(reason="body_size").inc()
                    raise _BodyTooLargeError(limit)
            return message

        await self.app(scope, counting_receive, send)
