"""Request and correlation ids: taken from headers or minted, bound to the context, echoed."""

from __future__ import annotations

import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandem_contracts import new_id
from tandem_service_kit import _context

__all__ = ["CORRELATION_ID_HEADER", "REQUEST_ID_HEADER", "ContextIdMiddleware"]

REQUEST_ID_HEADER = "X-Request-ID"
CORRELATION_ID_HEADER = "X-Correlation-ID"

# The contracts' canonical id shape: an id that fits it can go into an envelope and a log line
# unchanged; anything else is replaced rather than trusted.
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9_\-:]{1,64}$")


def _accepted(value: str | None) -> str:
    return value if value is not None and _ACCEPTABLE_ID.fullmatch(value) else new_id()


class ContextIdMiddleware:
    """Bind ``X-Request-ID`` and ``X-Correlation-ID`` to the context and echo them back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request = _accepted(headers.get(REQUEST_ID_HEADER))
        correlation = _accepted(headers.get(CORRELATION_ID_HEADER))

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers[REQUEST_ID_HEADER] = request
                response_headers[CORRELATION_ID_HEADER] = correlation
            await send(message)

        request_token = _context.request_id.set(request)
        correlation_token = _context.correlation_id.set(correlation)
        try:
            await self.app(scope, receive, send_with_ids)
        finally:
            _context.correlation_id.reset(correlation_token)
            _context.request_id.reset(request_token)
