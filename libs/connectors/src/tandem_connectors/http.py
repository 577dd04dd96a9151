"""One HTTP system instance as connectors see it: timeouts, rate limit, short retries, typed errors.

``HttpTarget.request`` waits for the instance's token bucket, sends, and classifies the answer:

* unreachable, timed out, 5xx, 429 → ``SystemUnavailable`` (with ``retry_after`` from the
  answer's ``Retry-After``), retried here a few times when the wait is short, then raised so the
  messaging runtime pauses intake and probes instead of holding a worker;
* 401/403 → ``AuthenticationFailed``; 404 → ``NotFound``; other 4xx → ``RequestRejected``
  with the system's error code, lower-cased, as the reason (``PeriodClosed`` when the code
  says so), never retried;
* anything else → ``UnexpectedResponse``.

A write is retried only when it carries an idempotency key (sent as ``Idempotency-Key``), or
when the caller says it is safe to repeat (``retry_safe``: a read over an RPC protocol whose
every call is a POST): a write whose answer was lost may have happened, and only the key makes
sending it again safe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_base,
    stop_after_attempt,
    wait_exponential_jitter,
)

from tandem_connectors.errors import (
    AuthenticationFailed,
    NotFound,
    PeriodClosed,
    RequestRejected,
    SystemUnavailable,
    UnexpectedResponse,
)
from tandem_connectors.ratelimit import TokenBucket

__all__ = ["HttpTarget", "RetryPolicy", "retry_after_seconds"]

logger = logging.getLogger(__name__)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PERIOD_CLOSED_CODES = frozenset({"PERIOD_CLOSED", "period_closed"})


@dataclass(frozen=True)
class RetryPolicy:
    """Short in-call retries; longer outages belong to the runtime's breaker, not to a worker."""

    attempts: int = 3
    first_wait: float = 0.2
    max_wait: float = 5.0


class HttpTarget:
    """Sends requests to one system instance (``downstream`` names it in errors and metrics)."""

    def __init__(
        self,
        base_url: str,
        *,
        downstream: str,
        bucket: TokenBucket | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.downstream = downstream
        self._sleep = sleep
        self._bucket = bucket
        self._retry = retry or RetryPolicy()
        self._backoff = wait_exponential_jitter(
            multiplier=self._retry.first_wait, max=self._retry.max_wait
        )
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, headers=headers, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        retry_safe: bool = False,
    ) -> httpx.Response:
        """Send one request (retrying transient failures briefly) and answer the 2xx response.

        ``retry_safe`` says that repeating the request changes nothing (a read sent as POST).
        """
        method = method.upper()
        headers = dict(headers or {})
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if method not in _SAFE_METHODS and idempotency_key is None and not retry_safe:
            return await self._send(method, path, json, params, headers)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=self._wait,
            retry=_RetryShortOutages(self._retry.max_wait),
            reraise=True,
            sleep=self._sleep,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send(method, path, json, params, headers)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _send(
        self,
        method: str,
        path: str,
        json: Any,
        params: Mapping[str, Any] | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        if self._bucket is not None:
            await self._bucket.take()
        try:
            reply = await self._http.request(
                method, path, json=json, params=params, headers=headers
            )
        except httpx.TransportError as exc:
            raise SystemUnavailable(
                self.downstream, f"{method} {path} unreachable: {exc!r}"
            ) from exc
        if reply.is_success:
            return reply
        raise self._classify(method, path, reply)

    def _classify(self, method: str, path: str, reply: httpx.Response) -> Exception:
        status, where = reply.status_code, f"{method} {path} → {reply.status_code}"
        if status == 429 or status >= 500:
            wait = retry_after_seconds(reply.headers.get("Retry-After"))
            return SystemUnavailable(self.downstream, where, retry_after=wait)
        if status in (401, 403):
            return AuthenticationFailed(self.downstream, where)
        code, detail = _problem(reply)
        message = f"{where}: {detail}"[:2000]
        if status == 404:
            return NotFound(message)
        if code in _PERIOD_CLOSED_CODES:
            return PeriodClosed(message)
        if 400 <= status < 500:
            return RequestRejected((code or f"http_{status}").lower(), message)
        return UnexpectedResponse(message)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        hinted = getattr(error, "retry_after", None)
        if hinted is not None:
            return float(hinted)
        return self._backoff(state)


class _RetryShortOutages(retry_base):
    """Retry ``SystemUnavailable`` here only while the wait asked for is at most ``limit`` s."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        if not isinstance(error, SystemUnavailable) or isinstance(error, AuthenticationFailed):
            return False
        return error.retry_after is None or error.retry_after <= self.limit


def retry_after_seconds(value: str | None) -> float | None:
    """Read a ``Retry-After`` header: delay-seconds or an HTTP date; ``None`` when absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _problem(reply: httpx.Response) -> tuple[str | None, str]:
    """The error code and detail of a problem+json (or similar) body, best effort."""
    try:
        body = reply.json()
    except ValueError:
        return None, reply.text[:500]
    if not isinstance(body, dict):
        return None, str(body)[:500]
    code = body.get("code") or body.get("error_code") or body.get("reason")
    detail = body.get("detail") or body.get("message") or body.get("title") or ""
    return (str(code) if code else None), str(detail)
