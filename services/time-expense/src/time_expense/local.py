"""time-expense's ``api`` and ``worker`` as local processes: for ``make run``, benchmarks and
system tests (a real ``python -m time_expense`` each, so a caller can SIGKILL the worker)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import httpx

from time_expense.entrypoints.consumer import QUEUE

__all__ = ["LocalDeployment", "free_port"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LocalDeployment:
    """The processes of one time-expense deployment and the ``TANDEM_*`` settings they get."""

    database_url: str
    amqp_url: str
    logs: Path
    erp_instances: dict[str, dict[str, Any]]
    psa_instances: dict[str, dict[str, Any]]
    settings: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        """Where the process API listens."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment each process starts with."""
        return {
            **os.environ,
            "TANDEM_SERVICE_NAME": "time-expense",
            "TANDEM_DATABASE_URL": self.database_url,
            "TANDEM_AMQP_URL": self.amqp_url,
            "TANDEM_HTTP_PORT": str(self.port),
            "TANDEM_ERP_INSTANCES": json.dumps(self.erp_instances),
            "TANDEM_PSA_INSTANCES": json.dumps(self.psa_instances),
            "OTEL_SDK_DISABLED": os.environ.get("OTEL_SDK_DISABLED", "true"),
            **self.settings,
        }

    def start(
        self, role: str, *, name: str | None = None, settings: dict[str, str] | None = None
    ) -> None:
        """Start ``python -m time_expense <role>`` (``api`` or ``worker``) as process ``name``
        (default: the role), with extra ``settings``, logging to a file."""
        name = name or role
        profile = os.environ.get("TANDEM_PROFILE_DIR")  # set: profile the process (cProfile)
        command = [sys.executable, "-m", "time_expense", role]
        if profile:
            out = Path(profile) / f"time-expense-{name}-{self.port}.prof"
            command[1:1] = ["-m", "cProfile", "-o", str(out)]
        with self.log_path(name).open("ab") as log:
            self.processes[name] = subprocess.Popen(  # noqa: S603 - our own module
                command,
                env={**self.env(), **(settings or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def start_workers(self) -> None:
        """The worker as deployed: ``worker`` consumes the postings queue, ``ingest`` polls
        the PSA and publishes what landed; both relay the outbox. Two processes, so the
        ordered consumer has a core of its own."""
        self.start("worker", settings={"TANDEM_WORKER_ROLES": '["consume"]'})
        self.start("worker", name="ingest", settings={"TANDEM_WORKER_ROLES": '["ingest", "relay"]'})

    def kill(self, role: str) -> None:
        """SIGKILL the process: no drain, no goodbye."""
        process = self.processes.pop(role)
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

    def log_path(self, role: str) -> Path:
        """The file ``role`` logs to."""
        return self.logs / f"time-expense-{role}-{self.port}.log"

    def log_tail(self, role: str) -> str:
        """What ``role`` logged so far."""
        path = self.log_path(role)
        return path.read_text() if path.exists() else ""

    async def wait_api(self, within: float = 30.0) -> None:
        """Wait until the API answers its health check."""
        async with httpx.AsyncClient(base_url=self.api_url) as client:

            async def up() -> bool:
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await _eventually(up, within, "the time-expense API")

    async def wait_worker(self, within: float = 60.0) -> None:
        """Wait until the worker consumes its queue (events published before are not queued)."""
        connection = await aio_pika.connect_robust(self.amqp_url)
        async with connection:

            async def consuming() -> bool:
                channel = await connection.channel()
                try:
                    queue = await channel.declare_queue(QUEUE, passive=True)
                    return bool(queue.declaration_result.consumer_count)
                except aio_pika.exceptions.ChannelClosed:
                    return False
                finally:
                    if not channel.is_closed:
                        await channel.close()

            await _eventually(consuming, within, "the time-expense worker to consume")


async def _eventually(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.1)
