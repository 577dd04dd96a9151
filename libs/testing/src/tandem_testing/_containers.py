"""Containers for system tests without a Docker engine: podman's Docker-compatible API.

``running_podman_api`` starts ``podman system service`` on a socket of its own, so
testcontainers (and docker-py under it) drive podman exactly as they would drive Docker.
``hardened`` runs an image as the Helm chart does — uid 10001, a read-only root filesystem with
``/tmp`` on tmpfs, every capability dropped, no new privileges — on the host's network, so a
container reaches the local RabbitMQ and PostgreSQL at 127.0.0.1 and a test reaches its ports.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem_testing._servers import ServerUnavailable
from tandem_testing._waiting import eventually

__all__ = [
    "PodmanApi",
    "container_logs",
    "exit_code",
    "hardened",
    "image_config",
    "run_script",
    "running_podman_api",
    "until_or_logs",
]

_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PodmanApi:
    """A running podman API service: where docker-py and testcontainers reach it."""

    docker_host: str
    """``unix:///…/podman.sock``: docker-py's ``DOCKER_HOST``."""
    containers_conf: str | None

    def client_kw(self) -> dict[str, Any]:
        """testcontainers' ``docker_client_kw`` for this engine."""
        return {"environment": {"DOCKER_HOST": self.docker_host}, "timeout": 120}


def _containers_conf() -> str | None:
    configured = os.environ.get("CONTAINERS_CONF")
    if configured:
        return configured
    # The repository's settings for this kind of machine (runc, ulimits), when run from it.
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "docker" / "containers.conf"
        if candidate.is_file():
            return str(candidate)
    return None


def _answers(socket: Path) -> bool:
    docker: Any = importlib.import_module("docker")  # testcontainers brings it
    try:
        docker.DockerClient(base_url=f"unix://{socket}", timeout=3).ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def running_podman_api() -> Iterator[PodmanApi]:
    """Start ``podman system service`` on a private socket; stop it afterwards."""
    podman = shutil.which("podman")
    if podman is None:
        raise ServerUnavailable("podman is not installed (apt-get install podman runc)")
    conf = _containers_conf()
    env = {**os.environ, **({"CONTAINERS_CONF": conf} if conf else {})}
    with tempfile.TemporaryDirectory(prefix="tandem-podman-") as directory:
        socket = Path(directory) / "podman.sock"
        log = (Path(directory) / "service.log").open("wb")
        process = subprocess.Popen(  # noqa: S603 - podman, found on PATH
            [podman, "system", "service", "--time=0", f"unix://{socket}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + _START_TIMEOUT_S
            while not (socket.exists() and _answers(socket)):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    tail = (Path(directory) / "service.log").read_text(errors="replace")[-2000:]
                    raise ServerUnavailable(f"podman system service did not answer: {tail}")
                time.sleep(0.1)  # polling a socket that is coming up, bounded by the deadline
            yield PodmanApi(f"unix://{socket}", conf)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def hardened(
    engine: PodmanApi,
    image: str,
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    name: str | None = None,
    entrypoint: Sequence[str] | None = None,
) -> Any:
    """A testcontainers ``DockerContainer`` (not started) running ``image`` as the chart does."""
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.container import DockerContainer

    # Ryuk, testcontainers' reaper, is an image from a registry this machine cannot reach;
    # the fixture that starts a container stops it.
    testcontainers_config.ryuk_disabled = True
    container = DockerContainer(
        image, docker_client_kw=engine.client_kw(), env=dict(env), name=name
    )
    container.with_command(list(command))
    container.with_tmpfs_mount("/tmp", "size=64m")  # noqa: S108 - the container's own /tmp, as in the chart
    container.with_kwargs(
        network_mode="host",
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        user="10001:10001",
        **({"entrypoint": list(entrypoint)} if entrypoint is not None else {}),
    )
    return container


def container_logs(container: Any, tail: int = 3000) -> str:
    """The last ``tail`` characters a testcontainers container wrote (stdout, then stderr)."""
    out, err = container.get_logs()
    return str((out + err).decode(errors="replace")[-tail:])


async def until_or_logs(check: Any, *, within: float, what: str, container: Any) -> None:
    """``eventually``, failing with ``container``'s last log lines."""
    try:
        await eventually(check, within=within, what=what)
    except AssertionError as late:
        raise AssertionError(f"{late}; its logs:\n{container_logs(container)}") from None


async def exit_code(container: Any, *, within: float) -> int:
    """Wait until ``container`` has exited; answer its exit code."""
    wrapped = container.get_wrapped_container()

    async def done() -> bool:
        wrapped.reload()
        return bool(wrapped.status == "exited")

    await until_or_logs(done, within=within, what="the container to exit", container=container)
    return int(wrapped.attrs["State"]["ExitCode"])


def image_config(engine: PodmanApi, image: str) -> dict[str, Any]:
    """The image's ``Config`` (user, entrypoint, labels) as the engine reports it."""
    docker: Any = importlib.import_module("docker")  # testcontainers brings it
    client = docker.DockerClient(base_url=engine.docker_host, timeout=60)
    try:
        return dict(client.images.get(image).attrs["Config"])
    finally:
        client.close()


async def run_script(
    engine: PodmanApi, image: str, script: str, *, within: float = 30
) -> list[str]:
    """Run ``script`` with ``/bin/sh`` in ``image``, hardened as the chart runs it; answer the
    non-empty lines it wrote, stripped."""
    shell = hardened(engine, image, ["-c", script], {}, entrypoint=["/bin/sh"])
    shell.start()
    try:
        await exit_code(shell, within=within)
        lines = container_logs(shell).splitlines()
    finally:
        shell.stop()
    return [line.strip() for line in lines if line.strip()]
