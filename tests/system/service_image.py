"""What every service's image test checks, as the chart runs the image (uid 10001, read-only
root filesystem, no capabilities), against the local RabbitMQ and PostgreSQL:

* ``built_image``: the service's image, as ``docker/images.sh`` builds it;
* ``migrated``: ``migrate`` on a fresh database applies the messaging, connectors (for a service
  with systems of record) and service schemas its wheel carries, then exits 0 (answers the
  service schema's tables);
* ``serving``: ``api`` becomes ready and alive (answers a client on it, for the service's own
  ``/v1`` checks);
* ``assert_lean``: the image runs as uid 10001 on a read-only root, holds no compiler, uv, pip
  or source tree, and its module runs.

Each service's test adds what is its own: its settings, its tables, its routes and scopes."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tandem_testing import (
    PodmanApi,
    container_logs,
    exit_code,
    hardened,
    image_config,
    in_ci,
    run_script,
    until_or_logs,
)

__all__ = ["ROOT", "assert_lean", "built_image", "migrated", "serving"]

ROOT = Path(__file__).resolve().parents[2]


def built_image(service: str) -> str:
    """``service``'s image, built by ``docker/images.sh`` (layers cached between runs)."""
    if shutil.which("podman") is None:
        reason = "podman is not installed (tools/setup.sh deploy installs it)"
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    env = {**os.environ, "TANDEM_IMAGE_TAG": "test"}
    built = subprocess.run(  # noqa: S603 - the repository's own build script
        [str(ROOT / "docker" / "images.sh"), service],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return f"localhost/tandem/{service}:test"


async def migrated(
    podman_api: PodmanApi,
    image: str,
    env: dict[str, str],
    database_url: str,
    containers: list[Any],
    *,
    package: str,
    migrations: Path,
    connectors: bool = True,
) -> set[str]:
    """Run ``migrate`` on the fresh database; answer the tables of the ``package`` schema.

    ``connectors``: the service talks to systems of record, so the connectors' schema is
    applied too (observability's is not)."""
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT to_regnamespace($1)", package) is None
        migrate = hardened(podman_api, image, ["migrate"], env)
        containers.append(migrate.start())
        assert await exit_code(migrate, within=90) == 0, container_logs(migrate)
        applied = {
            row["id"]
            for row in await connection.fetch("SELECT id FROM public.tandem_schema_migrations")
        }
        tables = {
            row["table_name"]
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
                package,
            )
        }
    finally:
        await connection.close()
    shipped = _shipped(package, migrations)
    assert shipped
    assert shipped <= applied, shipped - applied
    assert any(m.startswith("tandem_messaging/") for m in applied), applied
    has_connectors = any(m.startswith("tandem_connectors/") for m in applied)
    assert has_connectors is connectors, applied
    return tables


def _shipped(package: str, migrations: Path) -> set[str]:
    """The migration ids the service's wheel carries."""
    return {f"{package}/{p.name}" for p in migrations.glob("*.sql")}


@asynccontextmanager
async def serving(
    podman_api: PodmanApi, image: str, env: dict[str, str], containers: list[Any]
) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``api`` on ``TANDEM_HTTP_PORT``; answer a client once it is ready and alive."""
    api = hardened(podman_api, image, ["api"], env)
    containers.append(api.start())
    base = f"http://127.0.0.1:{env['TANDEM_HTTP_PORT']}"
    async with httpx.AsyncClient(base_url=base) as client:

        async def ready() -> bool:
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await until_or_logs(ready, within=60, what="the api's /readyz", container=api)
        alive = await client.get("/healthz")
        assert alive.status_code == 200, alive.text
        assert alive.json() == {"status": "alive"}
        yield client


async def assert_lean(podman_api: PodmanApi, image: str, *, service: str, package: str) -> None:
    """The image as the chart runs it: its user, entrypoint and title; inside, uid 10001 on a
    read-only root, no compiler, no uv or pip, no source tree, and ``python -m package``."""
    config = image_config(podman_api, image)
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/usr/local/bin/tandem-entrypoint"]
    assert config["Labels"]["org.opencontainers.image.title"] == f"tandem-{service}"
    look = (
        "id -u; touch /app/written 2>/dev/null && echo writable; "
        "for tool in gcc cc uv pip pip3; do command -v $tool; done; "
        "ls -d /root/.cache /src /app/venv/bin/pip 2>/dev/null; "
        f"python -c 'import {package}; print({package}.__file__)'; "
        f"python -m {package} --help | head -n 1"
    )
    lines = await run_script(podman_api, image, look)
    assert lines == [
        "10001",
        f"/app/venv/lib/python3.11/site-packages/{package}/__init__.py",
        f"usage: python -m {package} [-h] {{api,worker,migrate}}",
    ]
