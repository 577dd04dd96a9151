"""The two connections every process holds: a PostgreSQL pool and a robust broker connection."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
import asyncpg
from aio_pika.abc import AbstractRobustConnection

from tandem_service_kit._settings import ServiceSettings, redact_url

__all__ = ["open_resources"]

logger = logging.getLogger(__name__)


@asynccontextmanager
async def open_resources(
    settings: ServiceSettings,
) -> AsyncIterator[tuple[asyncpg.Pool, AbstractRobustConnection]]:
    """Open the pool and the broker connection; close both on the way out."""
    # min_size=0 connects on first use, so a process starts, and reports itself not ready,
    # while PostgreSQL is away instead of crash-looping.
    pool = await asyncpg.create_pool(settings.database_url, min_size=0)
    try:
        connection = await aio_pika.connect_robust(
            settings.amqp_url, client_properties={"connection_name": settings.service_name}
        )
        logger.info("connected to broker %s", redact_url(settings.amqp_url))
        try:
            yield pool, connection
        finally:
            await connection.close()
    finally:
        await pool.close()
