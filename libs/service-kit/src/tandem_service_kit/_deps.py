"""Typed dependencies on what the lifespan opened, for route signatures."""

from __future__ import annotations

from typing import Annotated, cast

import asyncpg
from aio_pika.abc import AbstractRobustConnection
from fastapi import Depends, Request

from tandem_service_kit._settings import ServiceSettings

__all__ = ["BrokerDep", "PoolDep", "SettingsDep", "get_broker", "get_pool", "get_settings"]


def get_pool(request: Request) -> asyncpg.Pool:
    """Return the application's PostgreSQL pool."""
    return cast(asyncpg.Pool, request.app.state.pool)


def get_broker(request: Request) -> AbstractRobustConnection:
    """Return the application's broker connection."""
    return cast(AbstractRobustConnection, request.app.state.broker)


def get_settings(request: Request) -> ServiceSettings:
    """Return the application's settings."""
    return cast(ServiceSettings, request.app.state.settings)


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
BrokerDep = Annotated[AbstractRobustConnection, Depends(get_broker)]
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
