"""Operational endpoints: liveness, readiness against PostgreSQL and the broker, metrics.

They read what the process has reached so far (``app.state.connections``), so they answer
while it still waits for a dependency: alive, and not ready, naming what is missing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

import asyncpg
from aio_pika.abc import AbstractRobustConnection
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from tandem_service_kit._problems import problem_response
from tandem_service_kit._resources import Connections
from tandem_service_kit._startup import Startup

__all__ = ["build_health_router"]

logger = logging.getLogger(__name__)

_CHECK_TIMEOUT_SECONDS = 3.0


async def _check_database(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as connection:
        await connection.fetchval("SELECT 1")


async def _check_broker(connection: AbstractRobustConnection) -> None:
    if connection.is_closed:
        raise ConnectionError("broker connection is closed")
    channel = await connection.channel()
    await channel.close()


async def _broker_outcome(connection: AbstractRobustConnection | None) -> str:
    if connection is None:
        return "waiting"  # not connected once yet: the process is still starting
    return await _outcome("broker", _check_broker(connection))


async def _outcome(name: str, check: Awaitable[None]) -> str:
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT_SECONDS):
            await check
    except Exception as exc:  # readiness reports any failure instead of raising it
        logger.warning("readiness check %s failed: %r", name, exc)
        return f"failed: {type(exc).__name__}"
    return "ok"


def _extra_outcome(name: str, check: Callable[[], bool]) -> str:
    try:
        if check():
            return "ok"
    except Exception as exc:  # readiness reports any failure instead of raising it
        logger.warning("readiness check %s failed: %r", name, exc)
        return f"failed: {type(exc).__name__}"
    return "failed"


def build_health_router(
    registry: CollectorRegistry, checks: Mapping[str, Callable[[], bool]] | None = None
) -> APIRouter:
    """Return the router of ``/healthz``, ``/readyz`` and ``/metrics``; ``checks`` add to ready
    (the mapping is read on every request, so its owner may add and remove checks)."""
    router = APIRouter(tags=["operations"])
    extra = checks if checks is not None else {}

    @router.get("/healthz", response_model=None)
    async def healthz(request: Request) -> dict[str, str] | JSONResponse:
        """Report that the process is alive (and has not failed to start)."""
        startup: Startup | None = getattr(request.app.state, "startup", None)
        if startup is not None and startup.failure is not None:
            # A start that failed in the background would otherwise leave a process up for good.
            return problem_response(request, 503, startup.refusal())
        return {"status": "alive"}

    @router.get("/readyz", response_model=None)
    async def readyz(request: Request) -> JSONResponse:
        """Report whether PostgreSQL and the broker both answer and every extra check holds."""
        connections: Connections = request.app.state.connections
        database, broker = await asyncio.gather(
            _outcome("database", _check_database(connections.pool)),
            _broker_outcome(connections.broker),
        )
        outcomes = {"database": database, "broker": broker}
        startup: Startup | None = getattr(request.app.state, "startup", None)
        answer = all(outcome == "ok" for outcome in outcomes.values())
        if startup is not None and (starting := startup.readiness(answer)) is not None:
            outcomes["startup"] = starting
        outcomes |= {name: _extra_outcome(name, check) for name, check in extra.items()}
        failed = [name for name, outcome in outcomes.items() if outcome != "ok"]
        if not failed:
            return JSONResponse({"status": "ready", "checks": outcomes})
        detail = f"not ready: {', '.join(failed)} unavailable"
        return problem_response(request, 503, detail, failed=failed, checks=outcomes)

    @router.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        """Expose the Prometheus metrics of this process."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
