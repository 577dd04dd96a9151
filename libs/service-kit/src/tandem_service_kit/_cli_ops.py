"""What the ``tandem`` CLI calls: the messaging runtime's parking-lot API, or fakes in tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import aio_pika
import asyncpg
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "CliOps",
    "CliSettings",
    "DiscardOutcome",
    "ParkedDetailRow",
    "ParkedRow",
    "ReplayOutcome",
    "messaging_ops",
    "open_connections",
]


class CliSettings(BaseSettings):
    """Where the CLI finds PostgreSQL and the broker (``TANDEM_DATABASE_URL`` / ``_AMQP_URL``),
    and a service's API with the key it calls it with (``TANDEM_API_URL`` / ``_API_KEY``)."""

    model_config = SettingsConfigDict(env_prefix="TANDEM_", extra="ignore", env_ignore_empty=True)

    database_url: str = "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    api_url: str = "http://127.0.0.1:8000"
    api_key: SecretStr | None = None


class ParkedRow(Protocol):
    """The fields of a parked message the CLI shows (``tandem_messaging.ParkedMessage``)."""

    @property
    def id(self) -> UUID: ...
    @property
    def consumer(self) -> str: ...
    @property
    def event_id(self) -> UUID | None: ...
    @property
    def event_type(self) -> str | None: ...
    @property
    def routing_key(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def exception_class(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def first_failure_at(self) -> datetime: ...
    @property
    def last_failure_at(self) -> datetime: ...
    @property
    def waiting_for(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def parked_at(self) -> datetime: ...


class ParkedDetailRow(ParkedRow, Protocol):
    """A parked message in full, redacted (``tandem_messaging.ParkedDetail``)."""

    @property
    def queue(self) -> str: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def headers(self) -> dict[str, Any]: ...
    @property
    def body_size(self) -> int: ...
    @property
    def envelope(self) -> dict[str, Any] | None: ...
    @property
    def decode_error(self) -> str | None: ...


class ReplayOutcome(Protocol):
    """What a replay reports (``tandem_messaging.ReplayResult``)."""

    @property
    def replay_id(self) -> UUID: ...
    @property
    def replayed(self) -> int: ...
    @property
    def message_ids(self) -> tuple[UUID, ...]: ...


class DiscardOutcome(Protocol):
    """What a discard reports (``tandem_messaging.DiscardResult``)."""

    @property
    def discard_id(self) -> UUID: ...
    @property
    def discarded(self) -> int: ...
    @property
    def message_ids(self) -> tuple[UUID, ...]: ...


Connections = tuple[Any, Any]
"""The pool and (for a replay) the broker connection handed to the parking-lot calls."""


@dataclass(frozen=True)
class CliOps:
    """The calls the CLI makes, shaped like ``tandem_messaging``'s; tests pass fakes."""

    list_parked: Callable[..., Awaitable[Sequence[ParkedRow]]]
    replay: Callable[..., Awaitable[ReplayOutcome]]
    selection: Callable[..., object]
    connect: Callable[[CliSettings, bool], AbstractAsyncContextManager[Connections]]
    get_parked: Callable[..., Awaitable[ParkedDetailRow | None]]
    discard: Callable[..., Awaitable[DiscardOutcome]]


@asynccontextmanager
async def open_connections(settings: CliSettings, need_broker: bool) -> AsyncIterator[Connections]:
    """Open a small pool, and a broker connection when ``need_broker``; close both after."""
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        if not need_broker:
            yield pool, None
            return
        connection = await aio_pika.connect(
            settings.amqp_url, client_properties={"connection_name": "tandem-cli"}
        )
        try:
            yield pool, connection
        finally:
            await connection.close()
    finally:
        await pool.close()


def messaging_ops() -> CliOps:
    """Return the real operations, importing the messaging runtime only now."""
    from tandem_messaging import ReplaySelection, discard, get_parked, list_parked, replay

    return CliOps(
        list_parked=list_parked,
        replay=replay,
        selection=ReplaySelection,
        connect=open_connections,
        get_parked=get_parked,
        discard=discard,
    )
