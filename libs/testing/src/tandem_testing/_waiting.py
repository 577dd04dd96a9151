"""Waiting with a deadline, never a bare sleep; a free port for a process under test."""

from __future__ import annotations

import asyncio
import inspect
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

__all__ = ["eventually", "free_port"]


async def eventually(
    check: Callable[[], Awaitable[bool] | bool],
    *,
    within: float = 30.0,
    what: str = "the condition",
    every: float = 0.05,
) -> None:
    """Poll ``check`` (a function or coroutine function) until it holds; fail with
    ``AssertionError`` naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(every)


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now, below the kernel's ephemeral range and not
    handed out before by this process.

    A port the kernel picks (bind to 0) is an ephemeral one: between this answer and the
    server's own bind, any outgoing connection of the run (a database pool, a broker, an HTTP
    client) may be given it, and the server then fails with "address already in use". Below
    the ephemeral range only another server takes a port.
    """
    low = _ephemeral_low()
    for _ in range(200):
        port = _FIRST_PORT + secrets.randbelow(low - _FIRST_PORT) if low > _FIRST_PORT else 0
        if port in _handed:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = int(probe.getsockname()[1])
        _handed.add(port)
        return port
    with socket.socket() as probe:  # all tried taken: one the kernel picks
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_FIRST_PORT = 20000
_handed: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
