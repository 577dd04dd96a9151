"""Typed dependencies on what the lifespan opened, for route signatures.

While the api process is still starting (see ``_startup``), every one of them refuses the
request with 503 and ``Retry-After`` instead of handing out what is not there yet.
"""

from __future__ import annotations

from typing import Annotated, cast

import asyncpg
from aio_pika.abc import AbstractRobustConnection
from fastapi import Depends, HTTPException, Request

from tandem_service_kit._settings import ServiceSettings
from tandem_service_kit._startup import Startup

__all__ = [
    "BrokerDep",
    "PoolDep",
    "SettingsDep",
    "check_started",
    "get_broker",
    "get_pool",
    "get_settings",
]

_RETRY_AFTER_S = 5  # short: a start completes moments after its dependency returns
# The dependencies below do no I/O but are ``async``: FastAPI runs a plain function in its
# thread pool, a hop per request that cost a synchronous check (billing codes) a sixth of its
# CPU (make bench-billing-code).


def check_started(request: Request) -> None:
    """Refuse the request with 503 while the process is still starting."""
    startup: Startup | None = getattr(request.app.state, "startup", None)
    if startup is not None and (refusal := startup.refusal()) is not None:
        raise HTTPException(503, refusal, headers={"Retry-After": str(_RETRY_AFTER_S)})


async def get_pool(request: Request) -> asyncpg.Pool:
    """Return the application's PostgreSQL pool."""
    check_started(request)
    return cast(asyncpg.Pool, request.app.state.pool)


async def get_broker(request: Request) -> AbstractRobustConnection:
    """Return the application's broker connection."""
    check_started(request)
    return cast(AbstractRobustConnection, request.app.state.broker)


async def get_settings(request: Request) -> ServiceSettings:
    """Return the application's settings."""
    return cast(ServiceSettings, request.app.state.settings)


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
BrokerDep = Annotated[AbstractRobustConnection, Depends(get_broker)]
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
