"""The composition root: the only place that knows the concrete adapters and the loops."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack

from fastapi import FastAPI

from tandem_connectors.http import HttpTarget
from tandem_connectors.ports import AbstractErp, AbstractPsa
from tandem_connectors.ratelimit import TokenBucket
from tandem_connectors.routing import Instance, InstanceRouter
from tandem_connectors.sandbox import SandboxErp, SandboxPsa
from tandem_connectors.tryton import TrytonClient, TrytonErp
from tandem_contracts import SystemKind
from tandem_service_kit import create_app
from time_expense.adapters.erp import ErpDirectory
from time_expense.domain.checks import IntercompanyPolicy
from time_expense.entrypoints.http import router as process_router
from time_expense.entrypoints.inbound import router as inbound_router
from time_expense.service_layer.context import Policies, Services
from time_expense.settings import ErpInstanceSettings, Settings

__all__ = ["app", "erp_adapter", "psa_adapters", "services"]


def erp_adapter(name: str, config: ErpInstanceSettings, stack: AsyncExitStack) -> AbstractErp:
    """The adapter of one configured ERP instance (closed with ``stack``)."""
    bucket = TokenBucket(config.requests_per_second, config.burst)
    if config.kind == "tryton":
        client = TrytonClient(
            config.url,
            config.database or "tandem",
            config.user,
            config.password.get_secret_value(),
            instance=name,
        )
        stack.push_async_callback(client.aclose)
        return TrytonErp(client, instance=name)
    target = HttpTarget(config.url, downstream=f"erp:{name}", bucket=bucket)
    stack.push_async_callback(target.aclose)
    return SandboxErp(target, instance=name)


def psa_adapters(settings: Settings, stack: AsyncExitStack) -> dict[str, AbstractPsa]:
    """An adapter per configured PSA instance (closed with ``stack``)."""
    adapters: dict[str, AbstractPsa] = {}
    for name, config in settings.psa_instances.items():
        bucket = TokenBucket(config.requests_per_second, config.burst)
        target = HttpTarget(config.url, downstream=f"psa:{name}", bucket=bucket)
        stack.push_async_callback(target.aclose)
        adapters[name] = SandboxPsa(target, instance=name)
    return adapters


def services(
    settings: Settings,
    stack: AsyncExitStack,
    erp_factory: Callable[[str, ErpInstanceSettings, AsyncExitStack], AbstractErp] = erp_adapter,
) -> Services:
    """The use cases' collaborators, from the settings."""
    instances = {
        name: Instance(name, frozenset(config.regions))
        for name, config in settings.erp_instances.items()
    }
    router = InstanceRouter(
        SystemKind.ERP.value,
        by_legal_entity={le: instances[name] for le, name in settings.erp_by_legal_entity.items()},
        by_region={region: instances[name] for region, name in settings.erp_by_region.items()},
    )
    adapters = {
        name: erp_factory(name, config, stack) for name, config in settings.erp_instances.items()
    }
    policies = Policies(
        late_time=settings.late_time_policy,
        intercompany=IntercompanyPolicy(frozenset(settings.intercompany_pairs)),
    )
    return Services(erps=ErpDirectory(router, adapters), policies=policies)


def app(settings: Settings) -> FastAPI:
    """The process API."""
    return create_app(
        settings,
        title="time-expense",
        version="1.0.0",
        routers=[process_router, inbound_router],
    )
