"""The api process's start: it serves at once and wires the service once its dependencies answer.

When PostgreSQL and the broker answer at the first attempt, the start completes before the
server takes requests, exactly as a plain lifespan would (a failing ``on_startup`` is fatal).
Otherwise the server comes up while the start goes on in the background: ``/healthz`` answers,
``/readyz`` names what is missing, and the routes refuse work with 503 until it is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from tandem_service_kit._resources import Connections, open_connections
from tandem_service_kit._settings import ServiceSettings

__all__ = ["Startup", "serving_while_starting"]

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Startup:
    """Where the api process is in its start (``app.state.startup``)."""

    connections: Connections
    done: bool = False
    failure: Exception | None = None
    serving: bool = False

    def refusal(self) -> str | None:
        """Say why a route cannot work yet, or ``None`` once the process has started."""
        if self.done:
            return None
        if self.failure is not None:
            return f"the service failed to start ({type(self.failure).__name__})"
        if waiting_for := self.connections.waiting_for:
            return f"starting: waiting for {', '.join(waiting_for)}"
        return "starting"

    def readiness(self, dependencies_answer: bool) -> str | None:
        """The start's own readiness outcome; ``None`` once started, or while a dependency
        that does not answer already says why."""
        if self.failure is not None:
            return "failed"
        if self.done or not dependencies_answer:
            return None
        # They answer a probe, but the start has not retried them yet, or is wiring.
        return "waiting"


@asynccontextmanager
async def serving_while_starting(
    app: FastAPI,
    settings: ServiceSettings,
    on_startup: Callable[[FastAPI], Awaitable[None]] | None,
    on_shutdown: Callable[[FastAPI], Awaitable[None]] | None,
) -> AsyncIterator[None]:
    """The lifespan of the api process: start (see the module docstring), serve, stop."""
    async with open_connections(settings) as connections:
        startup = Startup(connections)
        app.state.connections, app.state.startup = connections, startup
        app.state.pool = connections.pool
        starting = asyncio.create_task(_start(app, settings, startup, on_startup))
        try:
            await _started_or_delayed(starting, connections.delayed)
            startup.serving = True
            yield
        finally:
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            if startup.done and on_shutdown is not None:
                await on_shutdown(app)


async def _started_or_delayed(starting: asyncio.Task[None], delayed: asyncio.Event) -> None:
    waiting = asyncio.create_task(delayed.wait())
    try:
        await asyncio.wait((starting, waiting), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    if starting.done():
        starting.result()  # a start that failed at once fails the lifespan, as it always did


async def _start(
    app: FastAPI,
    settings: ServiceSettings,
    startup: Startup,
    on_startup: Callable[[FastAPI], Awaitable[None]] | None,
) -> None:
    try:
        app.state.broker = await startup.connections.wait(settings)
        if on_startup is not None:
            await on_startup(app)
    except Exception as exc:
        startup.failure = exc
        if startup.serving:
            # Nothing awaits this task while serving: say it here; /healthz now fails too.
            logger.exception("the service failed to start")
        raise
    startup.done = True
    if startup.serving:
        logger.info("started once its dependencies answered")
