"""The broker's queues from RabbitMQ's management HTTP API: depth, consumers, partition owners.

Three reads per look, whatever the number of queues: the vhost's queues (``columns=`` keeps
them light), and, when a partition queue has consumers, the vhost's consumers (which one is
a single-active-consumer queue's active one) and connections (the name a client gave its
connection). Queue names follow the messaging runtime's topology: ``<group>.p<N>`` a
partition, ``<group>.retry.<N>`` a retry level, ``<group>.dead-letter``, ``<group>.resize``.
The numbers are the management API's samples: they lag the broker by a few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from observability.service_layer.ports import QueueState, SourceUnavailable
from observability.settings import Settings

__all__ = ["ManagementBroker", "from_settings", "queue_group"]

logger = logging.getLogger(__name__)

_PARTITION = re.compile(r"^(?P<group>.+)\.p(?P<partition>\d+)$")
_GROUPED = re.compile(r"^(?P<group>.+)\.(?:retry\.\d+|dead-letter|resize)$")
_QUEUE_COLUMNS = "name,messages,messages_unacknowledged,consumers"
_CONSUMER_COLUMNS = "queue.name,active,channel_details.connection_name"
_CONNECTION_COLUMNS = "name,user_provided_name"


def queue_group(name: str) -> tuple[str | None, int | None]:
    """The consumer group and partition a queue's name says it belongs to (None: neither)."""
    if found := _PARTITION.match(name):
        return found["group"], int(found["partition"])
    if found := _GROUPED.match(name):
        return found["group"], None
    return None, None


class ManagementBroker:
    """``BrokerState`` over the management API at ``url`` (credentials in its userinfo)."""

    def __init__(
        self,
        url: str,
        vhost: str = "/",
        client: httpx.AsyncClient | None = None,
        *,
        timeout_s: float = 10.0,
    ) -> None:
        parsed = httpx.URL(url)
        self._auth = (parsed.username, parsed.password) if parsed.username else None
        self._user = parsed.username or None
        # The password lives in ``_auth`` only: the base URL is safe to show and log.
        self.base_url = parsed.copy_with(username=None, password=None)
        self.vhost = vhost
        self._vhost = quote(vhost, safe="")
        self._client = client or httpx.AsyncClient()
        self._owns_client = client is None
        self.timeout_s = timeout_s

    async def queues(self) -> list[QueueState]:
        """Every queue of the vhost, by name, with its group, partition and active consumer."""
        rows = await self._get(f"/api/queues/{self._vhost}", _QUEUE_COLUMNS)
        states = [_state(row) for row in rows]
        if any(s.partition is not None and s.consumers for s in states):
            owners = await self._owners()
            states = [
                replace(s, owner=owners.get(s.name)) if s.partition is not None else s
                for s in states
            ]
        return sorted(states, key=lambda s: s.name)

    async def aclose(self) -> None:
        """Close the HTTP client, if this broker made it."""
        if self._owns_client:
            await self._client.aclose()

    async def _owners(self) -> dict[str, str]:
        """Queue name -> the connection name of its active consumer."""
        consumers, connections = await asyncio.gather(
            self._get(f"/api/consumers/{self._vhost}", _CONSUMER_COLUMNS),
            self._get(f"/api/vhosts/{self._vhost}/connections", _CONNECTION_COLUMNS),
        )
        given = {c["name"]: c.get("user_provided_name") or c["name"] for c in connections}
        owners: dict[str, str] = {}
        for consumer in consumers:
            connection = (consumer.get("channel_details") or {}).get("connection_name")
            if consumer.get("active") and connection:
                owners[consumer["queue"]["name"]] = given.get(connection, connection)
        return owners

    async def _get(self, path: str, columns: str) -> list[dict[str, Any]]:
        try:
            response = await self._client.get(
                self.base_url.join(path),
                params={"columns": columns},
                auth=self._auth,
                timeout=self.timeout_s,
            )
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(
                f"the RabbitMQ management API at {self.base_url} did not answer within "
                f"{self.timeout_s:g} s"
            ) from exc
        except httpx.TransportError as exc:
            logger.info("RabbitMQ management API unreachable: %r", exc)
            raise SourceUnavailable(
                f"the RabbitMQ management API at {self.base_url} is unreachable "
                f"({type(exc).__name__})"
            ) from exc
        if response.status_code != httpx.codes.OK:
            raise SourceUnavailable(self._refusal(response.status_code))
        rows: list[dict[str, Any]] = response.json()
        return rows

    def _refusal(self, status: int) -> str:
        api = f"the RabbitMQ management API at {self.base_url}"
        if status == httpx.codes.UNAUTHORIZED:
            return f"{api}: authentication failed for user {self._user!r}"
        if status == httpx.codes.FORBIDDEN:
            return (
                f"{api}: user {self._user!r} may not read vhost {self.vhost!r} "
                "(it needs the 'monitoring' tag and a permission on the vhost)"
            )
        if status == httpx.codes.NOT_FOUND:
            return f"{api}: no vhost {self.vhost!r}"
        return f"{api} answered {status}"


def _state(row: dict[str, Any]) -> QueueState:
    group, partition = queue_group(str(row["name"]))
    return QueueState(
        name=str(row["name"]),
        # Sampled figures are absent until the first sample of a new queue.
        messages=int(row.get("messages") or 0),
        messages_unacked=int(row.get("messages_unacknowledged") or 0),
        consumers=int(row.get("consumers") or 0),
        consumer_group=group,
        partition=partition,
    )


def from_settings(settings: Settings) -> ManagementBroker | None:
    """The broker of ``TANDEM_RABBITMQ_MANAGEMENT_URL``; None when unset."""
    if not settings.rabbitmq_management_url:
        return None
    return ManagementBroker(settings.rabbitmq_management_url, settings.rabbitmq_vhost)
