"""A private PostgreSQL instance, for tests that crash or restart the database.

``initdb`` into a temporary folder owned by ``postgres`` (trust authentication), and
``pg_ctl`` on a free 127.0.0.1 port with its socket in that folder, so stopping it disturbs no
other test. Only the server started here is stopped, and its folder removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tandem_testing._servers import ServerUnavailable
from tandem_testing._waiting import free_port

__all__ = ["PrivatePostgres", "running_private_postgres"]

_BIN = Path("/usr/lib/postgresql/15/bin")
StopMode = Literal["smart", "fast", "immediate"]


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of one's own: ``url`` to its ``postgres`` database."""

    home: Path
    port: int
    startup_s: float = 60.0

    @property
    def data(self) -> Path:
        """The data directory."""
        return self.home / "data"

    @property
    def url(self) -> str:
        """A URL to the ``postgres`` database, as user ``postgres``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the server and wait until it accepts connections (or fail with its log)."""
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1"
        self._pg_ctl("start", "-w", "-t", str(int(self.startup_s)), "-o", options)

    def stop(self, mode: StopMode = "immediate") -> None:
        """Stop the server; ``immediate`` is a crash (no checkpoint, clients cut off)."""
        self._pg_ctl("stop", "-w", "-m", mode)

    def is_running(self) -> bool:
        """Whether the server is running."""
        return self._pg_ctl("status", check=False).returncode == 0

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log, for a failure message."""
        log = self.home / "log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else ""

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.home / "log"), *args]
        result = _as_postgres(command, timeout=self.startup_s + 30)
        if check and result.returncode != 0:
            raise ServerUnavailable(
                f"pg_ctl {args[0]} failed: {result.stderr or result.stdout}\n{self.log_tail()}"
            )
        return result


def _as_postgres(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(  # noqa: S603 - our own command lines
        command, capture_output=True, text=True, check=False, timeout=timeout
    )


@contextlib.contextmanager
def running_private_postgres(*, startup_s: float = 60.0) -> Iterator[PrivatePostgres]:
    """Create and start a PostgreSQL instance, yield it, then stop it and remove its files."""
    if not (_BIN / "initdb").exists():
        raise ServerUnavailable(f"PostgreSQL 15 is not installed ({_BIN} missing)")
    home = Path(tempfile.mkdtemp(prefix="tandem-pg-"))
    server = PrivatePostgres(home, free_port(), startup_s)
    try:
        if os.geteuid() == 0:
            shutil.chown(home, "postgres", "postgres")
        initdb = [str(_BIN / "initdb"), "-D", str(server.data), "-A", "trust", "-U", "postgres"]
        result = _as_postgres(initdb, timeout=startup_s)
        if result.returncode != 0:
            raise ServerUnavailable(f"initdb failed: {result.stderr}")
        server.start()
        yield server
    finally:
        if server.is_running():
            server.stop("fast")
        shutil.rmtree(home, ignore_errors=True)
