"""A Tandem service's processes on this machine: for system tests, ``make run`` and benchmarks.

Each process is a real ``python -m <module> api|worker`` (so a test can SIGKILL one), gets the
``TANDEM_*`` settings of the deployment plus its own, logs to a file of its own, and a worker
serves its probes and metrics on a port of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import httpx

from tandem_testing._waiting import eventually, free_port

__all__ = ["LocalService"]


@dataclass
class LocalService:
    """The processes of one service deployment (``module``: its import package)."""

    module: str
    name: str
    database_url: str
    amqp_url: str
    logs: Path
    settings: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    worker_ports: dict[str, int] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        """Where the process API listens."""
        return f"http://127.0.0.1:{self.port}"

    def worker_url(self, name: str) -> str:
        """Where worker process ``name`` serves its probes and metrics."""
        return f"http://127.0.0.1:{self.worker_ports[name]}"

    def env(self) -> dict[str, str]:
        """The environment each process starts with."""
        return {
            **os.environ,
            "TANDEM_SERVICE_NAME": self.name,
            "TANDEM_DATABASE_URL": self.database_url,
            "TANDEM_AMQP_URL": self.amqp_url,
            "TANDEM_HTTP_PORT": str(self.port),
            "OTEL_SDK_DISABLED": os.environ.get("OTEL_SDK_DISABLED", "true"),
            **self.settings,
        }

    def start(
        self, role: str, *, name: str | None = None, settings: Mapping[str, str] | None = None
    ) -> None:
        """Start ``python -m <module> <role>`` as process ``name`` (default: the role), with
        extra ``settings``; ``TANDEM_PROFILE_DIR`` set makes it write cProfile data there."""
        name = name or role
        extra = dict(settings or {})
        if role == "worker":
            self.worker_ports[name] = free_port()
            extra.setdefault("TANDEM_WORKER_HTTP_PORT", str(self.worker_ports[name]))
        command = [sys.executable, "-m", self.module, role]
        profile = os.environ.get("TANDEM_PROFILE_DIR")
        if profile:
            out = Path(profile) / f"{self.name}-{name}-{self.port}.prof"
            command[1:1] = ["-m", "cProfile", "-o", str(out)]
        with self.log_path(name).open("ab") as log:
            self.processes[name] = subprocess.Popen(  # noqa: S603 - our own module
                command, env={**self.env(), **extra}, stdout=log, stderr=subprocess.STDOUT
            )

    def start_workers(self, layout: Mapping[str, frozenset[str]]) -> None:
        """Start a worker process per entry of ``layout``: its name and its roles."""
        for name, roles in layout.items():
            self.start(
                "worker", name=name, settings={"TANDEM_WORKER_ROLES": json.dumps(sorted(roles))}
            )

    def kill(self, name: str) -> None:
        """SIGKILL process ``name``: no drain, no goodbye."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM every process and wait for it to drain."""
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def pid(self, name: str) -> int:
        """The process id of process ``name``."""
        return self.processes[name].pid

    def log_path(self, name: str) -> Path:
        """The file process ``name`` logs to."""
        return self.logs / f"{self.name}-{name}-{self.port}.log"

    async def wait_api(self, within: float = 30.0) -> None:
        """Wait until the API answers its health check."""
        await self._wait_ready(f"{self.api_url}/healthz", within, f"the {self.name} API")

    async def wait_worker(self, name: str, within: float = 60.0) -> None:
        """Wait until worker process ``name`` is ready (its roles running)."""
        await self._wait_ready(f"{self.worker_url(name)}/readyz", within, f"worker {name}")

    async def wait_consuming(self, queue: str, within: float = 60.0) -> None:
        """Wait until every partition of consumer group ``queue`` (``queue.p0``, ``queue.p1``,
        ...) has a consumer: events published before its topology exists are not queued."""
        connection = await aio_pika.connect_robust(self.amqp_url)
        async with connection:

            async def consumers(name: str) -> int | None:
                channel = await connection.channel()
                try:
                    declared = await channel.declare_queue(name, passive=True)
                    return int(declared.declaration_result.consumer_count or 0)
                except aio_pika.exceptions.ChannelClosed:
                    return None  # not declared (yet, or beyond the last partition)
                finally:
                    if not channel.is_closed:
                        await channel.close()

            async def consuming() -> bool:
                partition, counts = 0, []
                while (count := await consumers(f"{queue}.p{partition}")) is not None:
                    counts.append(count)
                    partition += 1
                return bool(counts) and all(counts)

            await eventually(consuming, within=within, what=f"a consumer on {queue}", every=0.1)

    async def _wait_ready(self, url: str, within: float, what: str) -> None:
        async with httpx.AsyncClient() as client:

            async def up() -> bool:
                try:
                    return (await client.get(url)).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, within=within, what=what, every=0.1)
