"""One system on its own 127.0.0.1 port, behind a TCP front door that can really go down.

uvicorn serves the app on a private loopback socket; the public port is a small asyncio TCP
relay to it. An outage closes the relay's listener (new connections are refused by the
kernel) and resets every open connection (SO_LINGER 0, so the peer sees a reset), which is
what a client of a dead SaaS endpoint sees; a ``503`` would be a different failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from tandem_sandbox._faults import SystemFaults

__all__ = ["SystemServer"]

logger = logging.getLogger(__name__)

_CHUNK = 65536


class _QuietServer(uvicorn.Server):
    # Several servers share one process: the process, not each server, owns the signals.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.transport.abort()


class SystemServer:
    """Serve one app on ``host:port``; ``go_down`` / ``come_up`` make and end an outage."""

    def __init__(
        self, name: str, app: ASGIApp, host: str, port: int, faults: SystemFaults | None
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.faults = faults
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
        # and without it every response waits out the peer's delayed ACK (~40 ms).
        self._inner = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._inner.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, log_config=None, lifespan="off", access_log=False)
        self._uvicorn = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """The system's base URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def up(self) -> bool:
        """Whether the public port accepts connections."""
        return self._listener is not None

    async def start(self) -> None:
        """Start the app server, then open the public port."""
        self._task = asyncio.create_task(self._uvicorn.serve(sockets=[self._inner]))
        while not self._uvicorn.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError(f"{self.name} stopped while starting")
            await asyncio.sleep(0.01)
        await self.come_up()

    async def come_up(self) -> None:
        """Open the public port (again): the end of an outage."""
        if self._listener is None:
            self._listener = await asyncio.start_server(
                self._relay, self.host, self.port, reuse_address=True
            )
            self.port = self._listener.sockets[0].getsockname()[1]
        if self.faults is not None:
            self.faults.down = False

    def go_down(self) -> None:
        """Refuse new connections and reset open ones: the start of an outage."""
        if self.faults is not None:
            self.faults.down = True
            self.faults.count("outages_started")
            self.faults.count("connections_reset", len(self._clients))
        self._close()

    def _close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for writer in list(self._clients):
            _reset(writer)
        self._clients.clear()

    async def stop(self) -> None:
        """Close the public port and stop the app server."""
        self._close()
        self._uvicorn.should_exit = True
        if self._task is not None:
            await self._task
        self._inner.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._listener is None:
            _reset(writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                *self._inner.getsockname()[:2]
            )
        except OSError:
            _reset(writer)
            return
        self._clients.add(writer)
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            self._clients.discard(writer)
            upstream_writer.transport.abort()
            writer.transport.abort()
