"""The composition root: the only place that knows the concrete adapters and the loops."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import timedelta

import asyncpg
from fastapi import FastAPI

from tandem_connectors.http import HttpTarget
from tandem_connectors.ports import AbstractErp, AbstractPsa
from tandem_connectors.ratelimit import TokenBucket
from tandem_connectors.routing import Instance, InstanceRouter
from tandem_connectors.sandbox import SandboxErp, SandboxPsa
from tandem_connectors.tryton import TrytonClient, TrytonErp
from tandem_contracts import SystemKind
from tandem_messaging import Outbox
from tandem_service_kit import create_app
from time_expense.adapters.erp import ErpDirectory
from time_expense.domain.checks import IntercompanyPolicy
from time_expense.entrypoints.consumer import worker_of
from time_expense.entrypoints.http import router as process_router
from time_expense.entrypoints.inbound import router as inbound_router
from time_expense.entrypoints.reconciliations import router as reconciliation_router
from time_expense.service_layer.context import Policies, Services
from time_expense.service_layer.reconciliation import Reconciler
from time_expense.settings import ErpInstanceSettings, Settings

__all__ = ["app", "erp_adapter", "psa_adapters", "quiet", "reconcilers", "services"]


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
            timeout=config.timeout_s,
        )
        stack.push_async_callback(client.aclose)
        return TrytonErp(client, instance=name)
    target = HttpTarget(
        config.url, downstream=f"erp:{name}", bucket=bucket, timeout=config.timeout_s
    )
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


def reconcilers(
    settings: Settings, pool: asyncpg.Pool, stack: AsyncExitStack, outbox: Outbox
) -> dict[str, Reconciler]:
    """A reconciler per configured PSA instance."""
    built = services(settings, stack)
    return {
        name: Reconciler(
            pool, built, psa, name, outbox, settings.tenant_id, built.clock, quiet(settings)
        )
        for name, psa in psa_adapters(settings, stack).items()
    }


def quiet(settings: Settings) -> timedelta:
    """How recent a change reconciliation leaves out as still in flight."""
    return timedelta(seconds=settings.reconcile_quiet_s)


def app(settings: Settings) -> FastAPI:
    """The process API."""
    stack = AsyncExitStack()

    async def start(api: FastAPI) -> None:
        api.state.reconcilers = reconcilers(
            settings, api.state.pool, stack, Outbox(partition=worker_of)
        )

    async def stop(api: FastAPI) -> None:
        await stack.aclose()

    return create_app(
        settings,
        title="time-expense",
        version="1.0.0",
        routers=[process_router, reconciliation_router, inbound_router],
        on_startup=start,
        on_shutdown=stop,
    )
