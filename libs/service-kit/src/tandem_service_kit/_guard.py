"""Input no handler should see, refused at the edge; crashes answered without a dropped connection.

``InputGuardMiddleware`` answers 400 to a path or query string holding a NUL (which PostgreSQL
refuses) or a surrogate, and 414 to one too long for any Tandem route; a body is checked as the
handler reads it, and a JSON string holding a ``\\u0000`` or an unpaired surrogate escape
(Python's ``json`` decodes both, PostgreSQL and UTF-8 then fail) is refused with 400 before the
handler sees it.

``CrashBarrier`` answers an exception that escaped every handler with a 500 problem document
and logs it, instead of letting it reach the server, which would log it again and close the
connection (a client then retries a request on a dead socket).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandem_contracts import unsafe_json, unsafe_text
from tandem_service_kit._problems import problem_response

__all__ = ["CrashBarrier", "InputGuardMiddleware"]

logger = logging.getLogger(__name__)

MAX_PATH_CHARS = 2048
MAX_QUERY_BYTES = 8192


def _refusal(scope: Scope) -> tuple[int, str] | None:
    path: str = scope["path"]
    if len(path) > MAX_PATH_CHARS:
        return 414, f"the path is longer than {MAX_PATH_CHARS} characters"
    if (why := unsafe_text(path)) is not None:
        return 400, f"the path holds a {why}"
    query: bytes = scope.get("query_string", b"")
    if len(query) > MAX_QUERY_BYTES:
        return 414, f"the query string is longer than {MAX_QUERY_BYTES} bytes"
    # As Starlette reads it: latin-1 to text, then percent-decoded as UTF-8.
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        for part, text in (("name", name), ("value", value)):
            if (why := unsafe_text(text)) is not None:
                return 400, f"query parameter {name[:40]!r}: its {part} holds a {why}"
    return None


class InputGuardMiddleware:
    """Refuse unsafe text in the path, the query string and JSON bodies (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (refusal := _refusal(scope)) is not None:
            status, detail = refusal
            await problem_response(Request(scope), status, detail)(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def checking_receive() -> Message:
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                body = b"".join(chunks)
                chunks.clear()
                if (why := unsafe_json(body)) is not None:
                    # An HTTPException: FastAPI re-raises it from body parsing, and the app's
                    # exception middleware answers it as a problem document.
                    raise HTTPException(400, detail=f"the request body is refused: {why}")
            return message

        await self.app(scope, checking_receive, send)


class CrashBarrier:
    """Answer an unhandled exception with a 500 problem document and keep the connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def noting_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        except Exception:
            logger.exception("unhandled error answering %s %s", scope["method"], scope["path"])
            if started:  # too late for an answer: the server closes the connection
                raise
            response = problem_response(Request(scope), 500, "an unexpected error occurred")
            await response(scope, receive, send)
