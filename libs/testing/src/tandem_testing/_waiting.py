"""Waiting with a deadline, never a bare sleep; a free port for a process under test."""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
from collections.abc import Awaitable, Callable

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
    """A TCP port on 127.0.0.1 free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
