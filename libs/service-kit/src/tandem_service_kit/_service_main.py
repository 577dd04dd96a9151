"""``python -m <service> api|worker|migrate`` for a ``ServiceDefinition``."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any, TypeVar, cast

from fastapi import FastAPI, Request

from tandem_service_kit._app import create_app
from tandem_service_kit._companies_api import companies_router
from tandem_service_kit._deps import check_started
from tandem_service_kit._inbound_api import inbound_router
from tandem_service_kit._insecure import refuse_insecure
from tandem_service_kit._main import service_main
from tandem_service_kit._parking_api import parking_router
from tandem_service_kit._runner import service_worker
from tandem_service_kit._service import Resources, ServiceDefinition, Wiring
from tandem_service_kit._settings import ServiceSettings

__all__ = ["run_service", "service_app", "wired"]

S = TypeVar("S", bound=ServiceSettings)


def service_app(definition: ServiceDefinition[S], settings: S) -> FastAPI:
    """The api process of ``definition``: its routes, the parking lot's, and its webhooks'.

    Refuses (``InsecureSettingsError``) settings that configure no authentication, and, once
    wired, a webhook source without a secret, unless ``dev_mode`` is on."""
    refuse_insecure(settings)
    stack = AsyncExitStack()

    async def start(app: FastAPI) -> None:
        resources = Resources(settings, app.state.pool, app.state.broker, stack)
        wiring = await definition.wire(resources)
        if definition.inbound:
            refuse_insecure(settings, wiring.sources)
        app.state.wiring = wiring

    async def stop(app: FastAPI) -> None:
        await stack.aclose()

    kit = [parking_router()]
    if definition.inbound:
        kit.append(inbound_router())
    if definition.writes_to_erp:
        kit.append(companies_router())
    return create_app(
        settings,
        title=definition.name,
        version=definition.version,
        routers=[*definition.routers, *kit],
        on_startup=start,
        on_shutdown=stop,
    )


async def wired(request: Request) -> Any:
    """The service's dependencies as its composition root wired them (for route signatures:
    ``Annotated[MyDeps, Depends(wired)]``); 503 while the process is still starting."""
    check_started(request)
    return cast(Wiring, request.app.state.wiring).deps


def run_service(
    definition: ServiceDefinition[S], argv: Sequence[str] | None = None, *, prog: str | None = None
) -> int:
    """Build the settings and run the process the command names; return its exit code."""
    return service_main(
        argv,
        settings_factory=definition.settings,
        app_factory=lambda settings: service_app(definition, settings),
        worker=service_worker(definition),
        migration_dirs=definition.migrations,
        prog=prog,
    )
