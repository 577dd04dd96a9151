"""The FastAPI application factory every service's ``api`` process uses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import REGISTRY, CollectorRegistry

from tandem_service_kit._auth import Authenticator
from tandem_service_kit._guard import CrashBarrier, InputGuardMiddleware
from tandem_service_kit._health import build_health_router
from tandem_service_kit._limits import LimitsMiddleware
from tandem_service_kit._middleware import ContextIdMiddleware
from tandem_service_kit._openapi import document_problems
from tandem_service_kit._problems import install_problem_handlers
from tandem_service_kit._settings import ServiceSettings
from tandem_service_kit._startup import serving_while_starting

__all__ = ["AppHook", "create_app"]

AppHook = Callable[[FastAPI], Awaitable[None]]

_UNTRACED_PATHS = "healthz,readyz,metrics"


def _lifespan(
    settings: ServiceSettings, on_startup: AppHook | None, on_shutdown: AppHook | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Serves while PostgreSQL or the broker is still away; see _startup.
        async with serving_while_starting(app, settings, on_startup, on_shutdown):
            yield

    return lifespan


def create_app(
    settings: ServiceSettings,
    *,
    title: str,
    version: str,
    routers: Sequence[APIRouter] = (),
    registry: CollectorRegistry | None = None,
    on_startup: AppHook | None = None,
    on_shutdown: AppHook | None = None,
) -> FastAPI:
    """Return a service's app: operational endpoints, ids, problem details, auth, tracing."""
    app = FastAPI(
        title=title, version=version, lifespan=_lifespan(settings, on_startup, on_shutdown)
    )
    app.state.settings = settings
    app.state.authenticator = Authenticator.from_settings(settings)
    # Outermost last: ids, then the crash barrier, limits, the input guard, then the routes;
    # refusals and crashes carry the ids.
    app.add_middleware(InputGuardMiddleware)
    app.add_middleware(LimitsMiddleware, settings=settings)
    app.add_middleware(CrashBarrier)
    app.add_middleware(ContextIdMiddleware)
    install_problem_handlers(app)
    app.include_router(build_health_router(registry if registry is not None else REGISTRY))
    for router in routers:
        app.include_router(router)
    FastAPIInstrumentor.instrument_app(app, excluded_urls=_UNTRACED_PATHS)
    document_problems(app)
    return app
