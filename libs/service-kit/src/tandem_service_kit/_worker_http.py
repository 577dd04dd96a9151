"""The worker's own ``/healthz``, ``/readyz`` and ``/metrics``, served inside its event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator, Mapping

import asyncpg
import uvicorn
from aio_pika.abc import AbstractRobustConnection
from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry

from tandem_service_kit._health import build_health_router
from tandem_service_kit._resources import Connections

__all__ = ["WorkerHttp"]

logger = logging.getLogger(__name__)

_GRACEFUL_SHUTDOWN_S = 5  # probes and scrapes are short; never hold a stopping worker longer


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals alone and tells when it listens.

    The worker already stops on SIGTERM/SIGINT through ``loop.add_signal_handler``. uvicorn's
    own handlers (``capture_signals`` now, ``install_signal_handlers`` before 0.29) would replace
    them with ``signal.signal`` and, once shut down, re-raise the signal they caught, killing
    the worker before it drained. The worker's ``stopping`` event ends this server instead.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()
        self.bound_port: int | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:
        pass

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.bound_port = self.servers[0].sockets[0].getsockname()[1]
            self.listening.set()


class WorkerHttp:
    """Serve the health router, plus extra readiness ``checks``, from a worker process.

    ``pool`` is a pool and ``connection`` its broker connection, or ``pool`` is the
    ``Connections`` a worker is still waiting for (then ``/readyz`` names what is missing).
    ``checks`` may change while serving: a worker adds those of its roles once they run.
    """

    def __init__(
        self,
        host: str,
        port: int,
        pool: asyncpg.Pool | Connections,
        connection: AbstractRobustConnection | None = None,
        *,
        registry: CollectorRegistry = REGISTRY,
        checks: Mapping[str, Callable[[], bool]] | None = None,
    ) -> None:
        self.host = host
        self.connections = pool if isinstance(pool, Connections) else Connections(pool, connection)
        self.checks: dict[str, Callable[[], bool]] = dict(checks or {})
        self.app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        self.app.state.connections = self.connections
        self.app.include_router(build_health_router(registry, self.checks))
        # Access logs stay off: the only callers are probes and scrapes, every few seconds.
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
        )
        self._server = _QuietServer(config)
        self._requested_port = port

    @property
    def port(self) -> int:
        """Return the port listened on: the bound one once started (``0`` asks for any)."""
        bound = self._server.bound_port
        return bound if bound is not None else self._requested_port

    @property
    def started(self) -> asyncio.Event:
        """Return the event set once the server accepts connections."""
        return self._server.listening

    async def serve(self, stopping: asyncio.Event) -> None:
        """Serve until ``stopping`` is set, then close the listening socket and return."""
        task = asyncio.create_task(self._serve_until_shut_down())
        waiter = asyncio.create_task(stopping.wait())
        try:
            await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._server.should_exit = True
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
            await task  # re-raises a failed start

    async def _serve_until_shut_down(self) -> None:
        try:
            await self._server.serve()
        except SystemExit as exc:
            # uvicorn exits the process when it cannot bind; a worker reports it as an error.
            raise OSError(f"worker HTTP server cannot listen on {self.host}:{self.port}") from exc
        logger.info("worker HTTP server on %s:%d stopped", self.host, self.port)
