"""What a service is made of: the one shape the kit runs as ``api``, ``worker`` and ``migrate``.

A service declares a ``ServiceDefinition`` (its name, settings, process API, migrations, the
kinds of system it takes records in from) whose ``wire`` is its composition root: given the
settings and the opened ``Resources`` it builds a ``Wiring`` — the consumer with its bound
router, the inbound sources, the periodic jobs, the outbox, and the dependencies its routes
use. The api process and the worker call the same ``wire``; a unit test calls the service's
own bootstrap with fakes instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
from aio_pika.abc import AbstractRobustConnection
from fastapi import APIRouter
from pydantic import SecretStr

from tandem_connectors.directory import ErpDirectory
from tandem_connectors.inbound import Inbound, Ingestion
from tandem_connectors.polling import ChangeSource
from tandem_messaging import ConsumerSettings, DbConnection, Outbox, Router
from tandem_service_kit._jobs import Job
from tandem_service_kit._settings import ServiceSettings

__all__ = [
    "Consume",
    "InboundSource",
    "Resources",
    "ServiceDefinition",
    "Wiring",
    "consumer_settings",
]

S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True)
class Resources(Generic[S]):
    """What the composition root may use: the settings, the connections, and an exit stack
    that closes what it opens (adapters) when the process stops."""

    settings: S
    pool: asyncpg.Pool
    connection: AbstractRobustConnection
    stack: AsyncExitStack


@dataclass(frozen=True)
class Consume:
    """The service's consumer: its queue, its bound router, how it takes work."""

    queue: str
    router: Router
    settings: ConsumerSettings


@dataclass(frozen=True)
class InboundSource:
    """One instance of a system the service takes records in from."""

    inbound: Inbound
    instance: str
    ingestion: Callable[[DbConnection], Ingestion]
    """The ingestion of one pass, on the pass's connection."""
    changes: Callable[[str], ChangeSource] | None = None
    """The change source of a feed (by its name), to poll; needed when it has feeds."""
    webhook_secret: SecretStr = field(default_factory=lambda: SecretStr(""))
    """Its webhooks' signing secret; empty refuses every webhook of this instance."""

    def __post_init__(self) -> None:
        if self.inbound.feeds and self.changes is None:
            raise ValueError(f"{self.system}/{self.instance} has feeds but no change source")

    @property
    def system(self) -> str:
        """The system kind (``psa``, ``crm``, ...)."""
        return self.inbound.system


@dataclass
class Wiring:
    """What the composition root built, for the api and the worker."""

    outbox: Outbox = field(default_factory=Outbox)
    consume: Consume | None = None
    sources: Sequence[InboundSource] = ()
    jobs: Sequence[Job] = ()
    erp_directory: ErpDirectory | None = None
    """The ERP instances it writes to: companies found by key and linked by hand (the kit's
    ``/v1/legal-entities`` routes and a job that releases what waited for them)."""
    deps: Any = None
    """The service's own dependencies, for its routes (``tandem_service_kit.wired``)."""

    def source(self, system: str, instance: str) -> InboundSource | None:
        """The inbound source of one system instance, if configured."""
        return next((s for s in self.sources if (s.system, s.instance) == (system, instance)), None)


@dataclass(frozen=True)
class ServiceDefinition(Generic[S]):
    """A service as the kit runs it (see the module docstring)."""

    name: str
    settings: Callable[[], S]
    wire: Callable[[Resources[S]], Awaitable[Wiring]]
    routers: Sequence[APIRouter] = ()
    migrations: Sequence[Path] = ()
    """Directories of plain SQL, applied in order by ``migrate`` (the libraries' first)."""
    version: str = "1.0.0"
    inbound: Sequence[Inbound] = ()
    """The kinds of system it lands webhooks from (``POST /v1/inbound/{system}/{instance}``)."""
    writes_to_erp: bool = False
    """Serve ``/v1/legal-entities/{id}/erp-company`` (its wiring's ``erp_directory``)."""


def consumer_settings(settings: ServiceSettings) -> ConsumerSettings:
    """The consumer settings the service's settings describe."""
    return ConsumerSettings(
        prefetch=settings.prefetch,
        concurrency=settings.concurrency,
        batch_size=settings.batch_size,
        probe_backoff=(0.5, settings.probe_max_s),
        partitions=settings.partitions,
        heartbeat_s=settings.partition_heartbeat_s,
        lease_ttl_s=settings.partition_lease_ttl_s,
    )
