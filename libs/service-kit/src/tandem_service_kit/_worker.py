"""The ``worker`` process: open the connections, run the service's main, stop on a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg
from aio_pika.abc import AbstractRobustConnection

from tandem_service_kit._logging import configure_logging
from tandem_service_kit._resources import open_resources
from tandem_service_kit._settings import ServiceSettings
from tandem_service_kit._telemetry import configure_telemetry, shutdown_telemetry

__all__ = ["WorkerMain", "WorkerResources", "run_worker"]

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=ServiceSettings)

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class WorkerResources(Generic[S]):
    """What a worker's main gets: settings, connections, and the event set when it must stop."""

    settings: S
    pool: asyncpg.Pool
    connection: AbstractRobustConnection
    stopping: asyncio.Event


WorkerMain = Callable[[WorkerResources[S]], Awaitable[None]]


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@contextmanager
def _stop_on_signals(stopping: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_signal(signum: signal.Signals) -> None:
        if stopping.is_set() and task is not None:
            logger.warning("second %s: cancelling the worker", signum.name)
            task.cancel()
            return
        logger.info("%s received: stopping", signum.name)
        stopping.set()

    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        yield
    finally:
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)


async def _serve(settings: S, main: WorkerMain[S]) -> None:
    stopping = asyncio.Event()
    # Signals are watched from the start, so one arriving while connecting still stops cleanly.
    with _stop_on_signals(stopping):
        async with open_resources(settings) as (pool, connection):
            await main(WorkerResources(settings, pool, connection, stopping))


def run_worker(settings: S, main: WorkerMain[S]) -> int:
    """Run ``main`` until it returns, draining after SIGTERM/SIGINT; return the exit code."""
    configure_logging(settings)
    configure_telemetry(settings.service_name)
    try:
        with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
            runner.run(_serve(settings, main))
    except KeyboardInterrupt:
        logger.warning("worker %s interrupted", settings.service_name)
        return 130
    except (Exception, asyncio.CancelledError):
        logger.exception("worker %s failed", settings.service_name)
        return 1
    finally:
        shutdown_telemetry()
    logger.info("worker %s stopped", settings.service_name)
    return 0
