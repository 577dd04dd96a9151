"""Every service's parking lot through its own ``/v1/parked`` API, with service credentials.

Reads and actions go to the service that parked the messages: it alone writes its parking
lot, redacts confidential fields and audits each replay or discard (under observability's
credentials; observability's own audit says which operator asked). A service that cannot be
reached, fails (5xx) or refuses observability's key (401/403: a deployment fault, not the
operator's) is ``SourceUnavailable``; a replay or discard it declines for another reason
(an unknown id, a blank why) is ``ParkingLotRefused`` with the service's own words.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from observability.service_layer.ports import ParkedAction, ParkedStatus, SourceUnavailable
from observability.settings import ParkingLotSettings

__all__ = ["HttpParkingLots", "ParkingLotRefused"]

logger = logging.getLogger(__name__)

_STATUSES = ("parked", "replayed", "released", "discarded")
"""What the kit's ``/v1/parked?status=`` knows; ``all`` is the four of them merged."""
_MAX_PAGE = 500
_Items = list[dict[str, Any]]
"""Parked messages as the service's JSON objects (an alias: the class's ``list`` shadows)."""


class ParkingLotRefused(Exception):
    """A service declined a replay or discard: its HTTP status and its reason, passed on."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class HttpParkingLots:
    """``ParkingLots`` over HTTP: one configured base URL and API key per service."""

    def __init__(
        self,
        lots: Mapping[str, ParkingLotSettings],
        client: httpx.AsyncClient | None = None,
        *,
        timeout_s: float = 10.0,
    ) -> None:
        self._lots = dict(lots)
        self._client = client or httpx.AsyncClient()
        self._owns_client = client is None
        self.timeout_s = timeout_s

    def services(self) -> list[str]:
        """The services whose parking lots are configured, by name."""
        return sorted(self._lots)

    async def list(
        self, service: str, *, status: ParkedStatus = "parked", limit: int = 100
    ) -> _Items:
        """The service's messages of ``status``, oldest first (``KeyError``: unknown service)."""
        if service not in self._lots:  # before any request, not once per status
            raise KeyError(service)
        limit = max(1, min(limit, _MAX_PAGE))
        statuses = _STATUSES if status == "all" else (status,)
        pages = await asyncio.gather(*(self._page(service, s, limit) for s in statuses))
        items = [item for page in pages for item in page]
        items.sort(key=lambda item: (str(item["parked_at"]), str(item["id"])))
        return items[:limit]

    async def detail(self, service: str, parked_id: str) -> dict[str, Any] | None:
        """One parked message in full, or None when the service has no such message."""
        response = await self._send(service, "GET", f"/v1/parked/{quote(parked_id, safe='')}")
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        self._check(service, response)
        found: dict[str, Any] = response.json()
        return found

    async def replay(self, service: str, ids: Sequence[str], why: str) -> ParkedAction:
        """Ask the service to send these parked messages back to their consumer."""
        return await self._act(service, "replay", ids, why)

    async def discard(self, service: str, ids: Sequence[str], why: str) -> ParkedAction:
        """Ask the service to set these parked messages aside for good."""
        return await self._act(service, "discard", ids, why)

    async def aclose(self) -> None:
        """Close the HTTP client, if this adapter made it."""
        if self._owns_client:
            await self._client.aclose()

    async def _page(self, service: str, status: str, limit: int) -> _Items:
        params = {"status": status, "limit": str(limit)}
        response = await self._send(service, "GET", "/v1/parked", params=params)
        self._check(service, response)
        items: _Items = response.json()["items"]
        return items

    async def _act(self, service: str, action: str, ids: Sequence[str], why: str) -> ParkedAction:
        body = {"ids": [*ids], "why": why}
        response = await self._send(service, "POST", f"/v1/parked/{action}", json=body)
        if response.status_code in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
            self._check(service, response)
        if response.is_client_error:
            raise ParkingLotRefused(response.status_code, _problem_detail(response))
        self._check(service, response)
        done = response.json()
        return ParkedAction(
            action_id=str(done["action_id"]),
            count=int(done["count"]),
            ids=tuple(str(i) for i in done["ids"]),
        )

    async def _send(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        lot = self._lots[service]  # KeyError: the API answers 404 for an unknown service
        url = lot.url.rstrip("/") + path
        headers = {"X-API-Key": lot.api_key.get_secret_value()}
        try:
            return await self._client.request(
                method, url, headers=headers, timeout=self.timeout_s, **kwargs
            )
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(
                f"{service}'s parking lot did not answer within {self.timeout_s:g} s"
            ) from exc
        except httpx.TransportError as exc:
            logger.info("%s's parking lot unreachable at %s: %r", service, lot.url, exc)
            raise SourceUnavailable(
                f"{service}'s parking lot at {lot.url} is unreachable ({type(exc).__name__})"
            ) from exc

    def _check(self, service: str, response: httpx.Response) -> None:
        """Raise ``SourceUnavailable`` unless the service answered with success."""
        if response.is_success:
            return
        status = response.status_code
        if status in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
            raise SourceUnavailable(
                f"{service} refused observability's API key ({status}: "
                f"{_problem_detail(response)}); it needs parked:read, parked:replay and "
                "parked:discard"
            )
        raise SourceUnavailable(f"{service}'s parking lot answered {status}")


def _problem_detail(response: httpx.Response) -> str:
    """A problem response's ``detail``, with its field errors (the kit's 422), else its text."""
    try:
        problem = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if not isinstance(problem, dict):
        return response.reason_phrase
    detail = str(problem.get("detail") or problem.get("title") or response.reason_phrase)
    errors = [
        f"{error.get('field')}: {error.get('message')}"
        for error in problem.get("errors") or ()
        if isinstance(error, dict)
    ]
    return f"{detail} ({'; '.join(errors)})" if errors else detail
