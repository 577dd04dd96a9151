"""``python -m <service> api|worker|migrate``: one dispatch shared by every service."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TypeVar

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from tandem_service_kit._logging import configure_logging
from tandem_service_kit._migrations import apply_migrations
from tandem_service_kit._settings import ServiceSettings
from tandem_service_kit._telemetry import configure_telemetry, shutdown_telemetry
from tandem_service_kit._worker import WorkerMain, run_worker
from tandem_service_kit.errors import InsecureSettingsError, MigrationError

__all__ = ["service_main"]

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=ServiceSettings)

_EXIT_USAGE = 2
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _parser(prog: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Run one process of the service.")
    parser.add_argument("command", choices=("api", "worker", "migrate"))
    return parser


@contextmanager
def _stop_signals_end_cleanly() -> Iterator[None]:
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully; a handler
    # that swallows it turns a drained SIGTERM into exit code 0 instead of death by signal.
    previous = {signum: signal.signal(signum, _drained) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _drained(signum: int, frame: FrameType | None) -> None:
    logger.info("stopped by %s", signal.Signals(signum).name)


def _serve_api(settings: S, app_factory: Callable[[S], FastAPI]) -> int:
    configure_logging(settings)
    configure_telemetry(settings.service_name)
    try:
        try:
            app = app_factory(settings)
        except InsecureSettingsError as exc:
            logger.critical("%s", exc)
            sys.stderr.write(f"insecure settings: {exc}\n")
            return _EXIT_USAGE
        with _stop_signals_end_cleanly():
            # log_config=None keeps uvicorn's loggers flowing into the JSON handler, and
            # lifespan="on" makes a failed startup fatal rather than silently skipped.
            uvicorn.run(
                app,
                host=settings.http_host,
                port=settings.http_port,
                log_config=None,
                lifespan="on",
            )
    finally:
        shutdown_telemetry()
    return 0


def _migrate(settings: ServiceSettings, directories: Sequence[Path]) -> int:
    configure_logging(settings)
    try:
        applied = asyncio.run(apply_migrations(settings.database_url, directories))
    except MigrationError as exc:
        logger.error("migrations failed: %s", exc)
        return 1
    logger.info("%d migration(s) applied", len(applied))
    return 0


def service_main(
    argv: Sequence[str] | None = None,
    *,
    settings_factory: Callable[[], S],
    app_factory: Callable[[S], FastAPI],
    worker: WorkerMain[S] | None = None,
    migration_dirs: Sequence[Path] = (),
    prog: str | None = None,
) -> int:
    """Build the settings and run the process the command names; return its exit code."""
    try:
        command = _parser(prog).parse_args(argv).command
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else _EXIT_USAGE
    try:
        settings = settings_factory()
    except ValidationError as exc:
        sys.stderr.write(f"invalid settings: {exc}\n")
        return _EXIT_USAGE
    if command == "api":
        return _serve_api(settings, app_factory)
    if command == "migrate":
        return _migrate(settings, migration_dirs)
    if worker is None:
        sys.stderr.write("this service has no worker process\n")
        return _EXIT_USAGE
    return run_worker(settings, worker)
