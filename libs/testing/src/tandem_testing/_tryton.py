"""A real Tryton ERP for tests: a template database built once, a server per test.

Tryton (trytond 8.2 and the project, timesheet and invoicing modules) lives in its own
virtualenv, ``<home>/venv``, made by ``tools/setup.sh tryton``. The first use builds a SQLite
template database with those modules activated (about 35 s); every test then copies it and
starts its own ``trytond`` on a free 127.0.0.1 port (about 3 s).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tandem_testing._servers import ServerUnavailable

__all__ = ["TrytonServer", "tryton_server"]

MODULES = ("project_invoice", "timesheet_cost", "project_revenue")
ADMIN = "admin"
_TEMPLATE = f"template-{'-'.join(MODULES)}.sqlite"


@dataclass(frozen=True)
class TrytonServer:
    """A running trytond: JSON-RPC at ``rpc_url``, user ``admin`` with ``password``."""

    url: str
    database: str
    user: str
    password: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def stop(self) -> None:
        """Stop this test's trytond now (an outage), before the fixture's own teardown."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    @property
    def rpc_url(self) -> str:
        """The database's JSON-RPC endpoint."""
        return f"{self.url}/{self.database}/rpc/"


def _config(path: Path, database_dir: Path, port: int) -> Path:
    path.write_text(
        f"[database]\nuri = sqlite://\npath = {database_dir}\n[web]\nlisten = 127.0.0.1:{port}\n"
    )
    return path


def _admin(venv: Path, config: Path, database: str, *args: str, env: dict[str, str]) -> None:
    command = [str(venv / "bin" / "trytond-admin"), "-c", str(config), "-d", database, *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise ServerUnavailable(f"trytond-admin {' '.join(args)} failed: {result.stderr[-800:]}")


def _template(home: Path, env: dict[str, str]) -> Path:
    """Return the template database, building it first if needed (one builder at a time)."""
    venv, target = home / "venv", home / _TEMPLATE
    with (home / "template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        with tempfile.TemporaryDirectory(dir=home) as work:
            directory = Path(work)
            (directory / "template.sqlite").touch()
            config = _config(directory / "trytond.conf", directory, _free_port())
            _admin(venv, config, "template", "--all", "--email", "admin@example.com", env=env)
            _admin(venv, config, "template", "--activate-dependencies", "-u", *MODULES, env=env)
            shutil.move(directory / "template.sqlite", target)
    return target


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    request = {"id": 0, "method": "common.server.version", "params": []}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(f"trytond exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.post(f"{url}/rpc/", json=request, timeout=2).status_code == 200:
                return
        time.sleep(0.1)  # polling a starting process, bounded by the deadline
    raise ServerUnavailable(f"trytond did not answer on {url} within {within} s")


@contextlib.contextmanager
def tryton_server(home: Path, name: str) -> Iterator[TrytonServer]:
    """Start a trytond on a fresh copy of the template database; stop it afterwards."""
    home = home.resolve()
    if not (home / "venv" / "bin" / "trytond").exists():
        raise ServerUnavailable(f"Tryton is not installed in {home}/venv (tools/setup.sh tryton)")
    with tempfile.TemporaryDirectory(dir=home) as work:
        directory = Path(work)
        password_file = directory / "admin-password"
        password_file.write_text(ADMIN)
        env = {**os.environ, "TRYTONPASSFILE": str(password_file)}
        shutil.copyfile(_template(home, env), directory / f"{name}.sqlite")
        port = _free_port()
        config = _config(directory / "trytond.conf", directory, port)
        command = [str(home / "venv" / "bin" / "trytond"), "-c", str(config), "-d", name]
        with (directory / "trytond.log").open("wb") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
            try:
                url = f"http://127.0.0.1:{port}"
                _wait_ready(url, process)
                yield TrytonServer(url, name, ADMIN, ADMIN, process)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
