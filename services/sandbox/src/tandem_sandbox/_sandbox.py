"""The running sandbox: four systems and the control API in one process, sharing one pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from tandem_sandbox._apps import SYSTEM_APPS, control_app
from tandem_sandbox._faults import FaultConfig, SystemFaults
from tandem_sandbox._server import SystemServer
from tandem_sandbox._settings import SYSTEMS, SandboxSettings
from tandem_sandbox._state import AppState
from tandem_sandbox._store import Store
from tandem_sandbox._webhooks import WebhookDispatcher

__all__ = ["OutageWindow", "Sandbox", "run_sandbox"]


@dataclass
class OutageWindow:
    """A period during which a system refuses and resets connections."""

    system: str
    starts_at: datetime
    ends_at: datetime
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def shown(self) -> dict[str, str]:
        """Return the window as the control API shows it."""
        now = datetime.now(UTC)
        phase = "over" if now >= self.ends_at else "active" if now >= self.starts_at else "pending"
        return {
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "phase": phase,
        }


class Sandbox:
    """The systems' servers, their fault states, the store and the webhook dispatcher."""

    def __init__(self, settings: SandboxSettings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.faults = {
            name: SystemFaults(name, FaultConfig(seed=settings.fault_seed)) for name in SYSTEMS
        }
        erp = self.faults["erp"]
        erp.configure(
            erp.config.model_copy(update={"concurrency_limit": settings.erp_concurrency_limit})
        )
        self.dispatcher = WebhookDispatcher(
            pool,
            self.faults,
            max_attempts=settings.webhook_max_attempts,
            retry_base=settings.webhook_retry_base_s,
            flush_after=settings.webhook_flush_after_s,
        )
        self.store = Store(pool, self.dispatcher.publish)
        self.servers: dict[str, SystemServer] = {}
        self.control: SystemServer | None = None
        self.outages: dict[str, list[OutageWindow]] = {name: [] for name in SYSTEMS}

    @property
    def urls(self) -> dict[str, str]:
        """The base URL of each system, and of the control API (``control``)."""
        urls = {name: server.url for name, server in self.servers.items()}
        if self.control is not None:
            urls["control"] = self.control.url
        return urls

    async def start(self) -> None:
        """Start every system, then the control API."""
        host, base = self.settings.http_host, self.settings.base_port
        for index, name in enumerate(SYSTEMS, start=1):
            app = SYSTEM_APPS[name](AppState(name, self.store, self.faults[name]))
            port = base + index if base else 0
            server = SystemServer(name, app, host, port, self.faults[name])
            await server.start()
            self.servers[name] = server
        self.control = SystemServer("control", control_app(self), host, base, None)
        await self.control.start()

    async def stop(self) -> None:
        """Stop the control API, every system and the webhook dispatcher."""
        for windows in self.outages.values():
            for window in windows:
                if window.task is not None:
                    window.task.cancel()
        servers = [*([self.control] if self.control else []), *self.servers.values()]
        for server in servers:
            await server.stop()
        await self.dispatcher.close()

    def schedule_outage(self, system: str, *, start_in: float, duration: float) -> OutageWindow:
        """Take ``system`` down in ``start_in`` seconds for ``duration`` seconds."""
        now = datetime.now(UTC)
        starts = now + timedelta(seconds=start_in)
        window = OutageWindow(system, starts, starts + timedelta(seconds=duration))
        window.task = asyncio.create_task(self._outage(system, start_in, duration))
        self.outages[system].append(window)
        return window

    async def _outage(self, system: str, start_in: float, duration: float) -> None:
        server = self.servers[system]
        await asyncio.sleep(start_in)
        server.go_down()
        try:
            await asyncio.sleep(duration)
        finally:
            with contextlib.suppress(OSError):
                await server.come_up()

    async def end_outages(self, system: str) -> None:
        """Cancel pending and active outage windows of ``system``; it is reachable again."""
        now = datetime.now(UTC)
        for window in self.outages[system]:
            if window.task is not None and not window.task.done():
                window.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await window.task
                window.ends_at = min(window.ends_at, now)
        await self.servers[system].come_up()


@asynccontextmanager
async def run_sandbox(settings: SandboxSettings) -> AsyncIterator[Sandbox]:
    """Run the sandbox (schema already applied) until the block exits."""
    async with asyncpg.create_pool(settings.database_url, min_size=1, max_size=10) as pool:
        sandbox = Sandbox(settings, pool)
        try:
            await sandbox.start()
            yield sandbox
        finally:
            await sandbox.stop()
