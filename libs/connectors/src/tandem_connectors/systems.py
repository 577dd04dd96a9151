"""The systems of record a service talks to: their settings, and the adapters built from them.

A service's settings include ``SystemsSettings`` (read from ``TANDEM_ERP_INSTANCES``,
``TANDEM_PSA_INSTANCES``, ...: JSON maps of instance name → settings); ``open_systems`` builds one
adapter per configured instance, each behind its own ``HttpTarget`` (token bucket, timeouts,
short retries), and closes them with the caller's exit stack. Adapters are named for the
protocol they speak: ``tryton`` (JSON-RPC) or ``rest`` (a NetSuite-like ERP, a Kantata-like
PSA, a Salesforce-like CRM, a Workday-like HRIS — what the sandbox systems serve).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from tandem_connectors.directory import ErpDirectory
from tandem_connectors.http import HttpTarget
from tandem_connectors.ports import AbstractCrm, AbstractErp, AbstractHris, AbstractPsa
from tandem_connectors.ratelimit import TokenBucket
from tandem_connectors.rest import RestCrm, RestErp, RestHris, RestPsa
from tandem_connectors.routing import Instance, InstanceRouter
from tandem_connectors.tryton import TrytonClient, TrytonErp
from tandem_contracts import SystemKind

__all__ = [
    "ErpInstance",
    "HttpInstance",
    "Systems",
    "SystemsSettings",
    "erp_adapter",
    "open_systems",
]


class HttpInstance(BaseModel):
    """One instance of a system spoken to over HTTP: where it is, its limits, its webhooks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1)
    webhook_secret: SecretStr = SecretStr("")
    """The secret its signed webhooks are verified with (empty: its webhooks are refused)."""
    requests_per_second: float = Field(default=20.0, gt=0)
    burst: int = Field(default=20, ge=1)
    timeout_s: float = Field(default=30.0, gt=0, le=600)


class ErpInstance(HttpInstance):
    """One ERP instance: its protocol, where it is, and whose data it may hold."""

    kind: Literal["tryton", "rest"]
    database: str | None = None
    """Tryton: the database served at ``url``."""
    user: str = "admin"
    password: SecretStr = SecretStr("")
    regions: frozenset[str] = frozenset()
    """The residency regions whose data it may hold (empty: any)."""
    requests_per_second: float = Field(default=50.0, gt=0)
    burst: int = Field(default=50, ge=1)

    @model_validator(mode="after")
    def _tryton_needs_a_database(self) -> Self:
        if self.kind == "tryton" and not self.database:
            raise ValueError("a tryton instance needs its database")
        return self


class SystemsSettings(BaseModel):
    """The instances of each system kind, and which ERP instance serves whom."""

    erp_instances: dict[str, ErpInstance] = Field(default_factory=dict)
    erp_by_region: dict[str, str] = Field(default_factory=dict)
    erp_by_legal_entity: dict[str, str] = Field(default_factory=dict)
    psa_instances: dict[str, HttpInstance] = Field(default_factory=dict)
    crm_instances: dict[str, HttpInstance] = Field(default_factory=dict)
    hris_instances: dict[str, HttpInstance] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _routes_name_configured_instances(self) -> Self:
        for route, name in {**self.erp_by_region, **self.erp_by_legal_entity}.items():
            if name not in self.erp_instances:
                raise ValueError(f"ERP route {route!r} names {name!r}, which is not configured")
        return self


@dataclass(frozen=True)
class Systems:
    """The adapters of every configured instance, by system kind and instance name."""

    erps: Mapping[str, AbstractErp] = field(default_factory=dict)
    psas: Mapping[str, AbstractPsa] = field(default_factory=dict)
    crms: Mapping[str, AbstractCrm] = field(default_factory=dict)
    hrises: Mapping[str, AbstractHris] = field(default_factory=dict)
    erp_directory: ErpDirectory = field(
        default_factory=lambda: ErpDirectory(InstanceRouter(SystemKind.ERP.value), {})
    )


def _target(system: str, name: str, config: HttpInstance, stack: AsyncExitStack) -> HttpTarget:
    bucket = TokenBucket(config.requests_per_second, config.burst)
    target = HttpTarget(
        config.url, downstream=f"{system}:{name}", bucket=bucket, timeout=config.timeout_s
    )
    stack.push_async_callback(target.aclose)
    return target


def erp_adapter(name: str, config: ErpInstance, stack: AsyncExitStack) -> AbstractErp:
    """The adapter of one ERP instance (closed with ``stack``)."""
    if config.kind == "tryton":
        client = TrytonClient(
            config.url,
            config.database or "",
            config.user,
            config.password.get_secret_value(),
            instance=name,
            timeout=config.timeout_s,
            bucket=TokenBucket(config.requests_per_second, config.burst),
        )
        stack.push_async_callback(client.aclose)
        return TrytonErp(client, instance=name)
    return RestErp(_target("erp", name, config, stack), instance=name)


def erp_directory(settings: SystemsSettings, erps: Mapping[str, AbstractErp]) -> ErpDirectory:
    """The ERP directory of the configured instances and routes."""
    instances = {
        name: Instance(name, frozenset(config.regions))
        for name, config in settings.erp_instances.items()
    }
    router = InstanceRouter(
        SystemKind.ERP.value,
        by_legal_entity={le: instances[name] for le, name in settings.erp_by_legal_entity.items()},
        by_region={region: instances[name] for region, name in settings.erp_by_region.items()},
    )
    return ErpDirectory(router, erps)


def open_systems(settings: SystemsSettings, stack: AsyncExitStack) -> Systems:
    """An adapter per configured instance of every system kind (closed with ``stack``)."""
    erps = {name: erp_adapter(name, c, stack) for name, c in settings.erp_instances.items()}
    return Systems(
        erps=erps,
        psas={
            name: RestPsa(_target("psa", name, config, stack), instance=name)
            for name, config in settings.psa_instances.items()
        },
        crms={
            name: RestCrm(_target("crm", name, config, stack), instance=name)
            for name, config in settings.crm_instances.items()
        },
        hrises={
            name: RestHris(_target("hris", name, config, stack), instance=name)
            for name, config in settings.hris_instances.items()
        },
        erp_directory=erp_directory(settings, erps),
    )
