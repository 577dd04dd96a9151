"""A JSON-RPC client of one Tryton database, with Tryton's failures mapped to typed errors.

It speaks through ``HttpTarget``, like every connector: the instance's token bucket, timeouts,
and short retries of transient failures. Every JSON-RPC call is a POST, so only calls that
change nothing (searches, reads, logging in) are marked safe to repeat; a write whose answer was
lost is not sent again here (the adapters' idempotency keys make the runtime's retry safe).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Self

import httpx

from tandem_connectors.errors import (
    AuthenticationFailed,
    NotFound,
    PeriodClosed,
    RequestRejected,
    SystemUnavailable,
    UnexpectedResponse,
)
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.ratelimit import TokenBucket
from tandem_connectors.tryton._wire import from_wire, to_wire

__all__ = ["TrytonClient"]

logger = logging.getLogger(__name__)

_USER_ERRORS = ("UserError", "UserWarning", "AccessError")
_TRANSIENT_ERRORS = (
    "DatabaseOperationalError",
    "ConcurrencyException",
    "RateLimitException",
    "TimeoutException",
)
_PERIOD_CLOSED = "reopen the period"
_READS = frozenset({"search", "search_read", "read", "search_count", "fields_get"})


class TrytonClient:
    """Calls ``model.*`` methods of one Tryton database as ``user``.

    Logs in on first use and again once when the session expires. Every failure surfaces as
    a ``tandem_connectors.errors`` type: unreachable or overloaded → ``SystemUnavailable``,
    refused credentials → ``AuthenticationFailed``, a closed period → ``PeriodClosed``, other
    user errors → ``RequestRejected``, an unknown model → ``NotFound``.
    """

    def __init__(
        self,
        url: str,
        database: str,
        user: str,
        password: str,
        *,
        instance: str,
        timeout: float = 10.0,
        bucket: TokenBucket | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.downstream = f"erp:{instance}"
        self._rpc = f"{url.rstrip('/')}/{database}/rpc/"
        self._user = user
        self._password = password
        self._http = HttpTarget(
            self._rpc,
            downstream=self.downstream,
            bucket=bucket,
            timeout=timeout,
            retry=retry,
            transport=transport,
        )
        self._session: str | None = None
        self._ids = itertools.count(1)

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
        """Close the HTTP connections."""
        await self._http.aclose()

    async def call(
        self, model: str, method: str, *args: Any, context: dict[str, Any] | None = None
    ) -> Any:
        """Call ``model.<model>.<method>(*args, context)`` and return its decoded result."""
        read = method in _READS
        return await self.rpc(f"model.{model}.{method}", *args, context=context, read=read)

    async def rpc(
        self, method: str, *args: Any, context: dict[str, Any] | None = None, read: bool = False
    ) -> Any:
        """Call the RPC ``method`` (model, wizard or report) with ``args`` and the context;
        ``read`` says the call changes nothing, so a transient failure may be retried."""
        params = [*args, context or {}]
        if self._session is None:
            await self._login()
        try:
            return await self._post(method, params, authenticated=True, read=read)
        except AuthenticationFailed:
            logger.info("Tryton session expired; logging in again")
            await self._login()
            return await self._post(method, params, authenticated=True, read=read)

    async def search(
        self,
        model: str,
        domain: list[Any],
        *,
        limit: int | None = None,
        order: list[tuple[str, str]] | None = None,
        context: dict[str, Any] | None = None,
    ) -> list[int]:
        """Return the ids of the records matching ``domain``."""
        ids: list[int] = await self.call(model, "search", domain, 0, limit, order, context=context)
        return ids

    async def search_read(
        self,
        model: str,
        domain: list[Any],
        fields: list[str],
        *,
        offset: int = 0,
        limit: int | None = None,
        order: list[tuple[str, str]] | None = None,
        context: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Return the ``fields`` of the records matching ``domain``."""
        rows: list[dict[str, Any]] = await self.call(
            model, "search_read", domain, offset, limit, order, fields, context=context
        )
        return rows

    async def read(
        self,
        model: str,
        ids: list[int],
        fields: list[str],
        *,
        context: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Return the ``fields`` of the records ``ids``, in the order of ``ids``."""
        rows: list[dict[str, Any]] = await self.call(model, "read", ids, fields, context=context)
        return rows

    async def create(
        self,
        model: str,
        values: list[dict[str, Any]],
        *,
        context: dict[str, Any] | None = None,
    ) -> list[int]:
        """Create records (one batched call) and return their ids."""
        ids: list[int] = await self.call(model, "create", values, context=context)
        return ids

    async def write(
        self,
        model: str,
        ids: list[int],
        values: dict[str, Any],
        *,
        context: dict[str, Any] | None = None,
    ) -> None:
        """Write ``values`` on the records ``ids``."""
        await self.call(model, "write", ids, values, context=context)

    async def delete(
        self, model: str, ids: list[int], *, context: dict[str, Any] | None = None
    ) -> None:
        """Delete the records ``ids``."""
        await self.call(model, "delete", ids, context=context)

    @contextlib.asynccontextmanager
    async def wizard(
        self, name: str, *, context: dict[str, Any] | None = None
    ) -> AsyncIterator[Callable[[str, dict[str, Any]], Awaitable[Any]]]:
        """Open a session of the wizard ``name``; yield ``execute(state, form data)``; end it."""
        session, _start, _end = await self.rpc(f"wizard.{name}.create", context=context)

        async def execute(state: str, data: dict[str, Any]) -> Any:
            return await self.rpc(f"wizard.{name}.execute", session, data, state, context=context)

        try:
            yield execute
        finally:
            await self.rpc(f"wizard.{name}.delete", session, context=context)

    async def _login(self) -> None:
        result = await self._post(
            "common.db.login",
            [self._user, {"password": self._password}],
            authenticated=False,
            read=True,
        )
        user_id, token = result[0], result[1]
        raw = f"{self._user}:{user_id}:{token}".encode()
        self._session = base64.b64encode(raw).decode()

    async def _post(
        self, method: str, params: list[Any], *, authenticated: bool, read: bool
    ) -> Any:
        headers = {"Authorization": f"Session {self._session}"} if authenticated else {}
        request = {"id": next(self._ids), "method": method, "params": to_wire(params)}
        try:
            reply = await self._http.request(
                "POST", "", json=request, headers=headers, retry_safe=read
            )
        except (RequestRejected, UnexpectedResponse) as exc:  # 404 (no such database), other 4xx
            raise UnexpectedResponse(f"Tryton answered {exc} at {self._rpc}") from exc
        try:
            body = reply.json()
        except ValueError as exc:
            raise UnexpectedResponse(f"Tryton answered {reply.status_code} with non-JSON") from exc
        if "error" in body:
            raise self._error(body["error"])
        return from_wire(body.get("result"))

    def _error(self, error: Any) -> Exception:
        name = str(error[0]) if isinstance(error, list) and error else str(error)
        detail = error[1] if isinstance(error, list) and len(error) > 1 else None
        message = str(detail[0]) if isinstance(detail, list) and detail else str(detail or name)
        if name in _USER_ERRORS:
            if _PERIOD_CLOSED in message:
                return PeriodClosed(message)
            return RequestRejected("erp_rejected", message)
        if name in _TRANSIENT_ERRORS:
            return SystemUnavailable(self.downstream, f"{name}: {message}")
        if name.startswith("'") and name.endswith("'"):
            return NotFound(f"Tryton has no model {name}")
        return UnexpectedResponse(f"Tryton raised {name}: {message}"[:2000])
