"""staffing-sync as shipped: its image (built by ``docker/images.sh``) runs ``migrate`` against a
fresh database and then ``api``, as containers under podman — started through testcontainers
over podman's Docker-compatible API, hardened as the Helm chart runs them (uid 10001, read-only
root filesystem, no capabilities) — against the local RabbitMQ and PostgreSQL: the schema is
the one its wheel carries, and the api answers ``/healthz``, ``/readyz`` and an authenticated
``/v1`` call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tandem_testing import (
    PodmanApi,
    container_logs,
    exit_code,
    free_port,
    hardened,
    image_config,
    run_script,
    until_or_logs,
)

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "services" / "staffing-sync" / "src" / "staffing_sync" / "migrations"
KEY = "system-test-staffing-reader-key"
# The PSA workers become resources in: one instance, never called here (nothing is consumed),
# but the service is wired on it at start.
PSA_INSTANCES = {"kantata": {"url": "http://127.0.0.1:9/"}}


def _env(database_url: str, amqp_url: str, port: int) -> dict[str, str]:
    """staffing-sync's settings as the chart gives them (one PSA instance, no ERP or HRIS)."""
    return {
        "TANDEM_SERVICE_NAME": "staffing-sync",
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_AMQP_URL": amqp_url,
        "TANDEM_HTTP_HOST": "127.0.0.1",
        "TANDEM_HTTP_PORT": str(port),
        "TANDEM_TENANT_ID": "acme",
        "TANDEM_PSA_INSTANCES": json.dumps(PSA_INSTANCES),
        "TANDEM_API_KEYS": json.dumps({KEY: ["staffing:read"]}),
        "TANDEM_LOG_FORMAT": "json",
        "OTEL_SDK_DISABLED": "true",
    }


async def test_the_image_migrates_a_fresh_database_and_serves(
    podman_api: PodmanApi,
    staffing_sync_image: str,
    database_url: str,
    amqp_url: str,
    containers: list[Any],
) -> None:
    port = free_port()
    env = _env(database_url, amqp_url, port)
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT to_regnamespace('staffing_sync')") is None

        # migrate: messaging, connectors and staffing-sync's schemas from the wheel, then exit 0.
        migrate = hardened(podman_api, staffing_sync_image, ["migrate"], env)
        containers.append(migrate.start())
        assert await exit_code(migrate, within=90) == 0, container_logs(migrate)
        applied = {
            row["id"]
            for row in await connection.fetch("SELECT id FROM public.tandem_schema_migrations")
        }
        tables = {
            row["table_name"]
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'staffing_sync'"
            )
        }
    finally:
        await connection.close()
    shipped = {f"staffing_sync/{p.name}" for p in MIGRATIONS.glob("*.sql")}
    assert shipped
    assert shipped <= applied, shipped - applied
    assert any(m.startswith("tandem_messaging/") for m in applied), applied
    assert any(m.startswith("tandem_connectors/") for m in applied), applied
    assert {"workers", "cost_rates", "synced", "failures"} <= tables, tables

    # api, as the chart runs it: alive, ready, and its /v1 answers an authenticated caller.
    api = hardened(podman_api, staffing_sync_image, ["api"], env)
    containers.append(api.start())
    base = f"http://127.0.0.1:{port}"
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
        pipeline = await client.get("/v1/workers", headers={"X-API-Key": KEY})
        assert pipeline.status_code == 200, pipeline.text
        assert pipeline.json() == {"items": [], "next_after": None}
        unknown = await client.get("/v1/workers/w-unknown", headers={"X-API-Key": KEY})
        assert unknown.status_code == 404, unknown.text
        refused = await client.get("/v1/workers")
        assert refused.status_code == 401, refused.text


async def test_the_image_holds_the_service_and_nothing_to_build_with(
    podman_api: PodmanApi, staffing_sync_image: str
) -> None:
    config = image_config(podman_api, staffing_sync_image)
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/usr/local/bin/tandem-entrypoint"]
    assert config["Labels"]["org.opencontainers.image.title"] == "tandem-staffing-sync"

    # Inside, as the chart runs it: uid 10001 on a read-only root, no compiler, no uv or pip,
    # no source tree; its module runs.
    look = (
        "id -u; touch /app/written 2>/dev/null && echo writable; "
        "for tool in gcc cc uv pip pip3; do command -v $tool; done; "
        "ls -d /root/.cache /src /app/venv/bin/pip 2>/dev/null; "
        "python -c 'import staffing_sync; print(staffing_sync.__file__)'; "
        "python -m staffing_sync --help | head -n 1"
    )
    lines = await run_script(podman_api, staffing_sync_image, look)
    assert lines == [
        "10001",
        "/app/venv/lib/python3.11/site-packages/staffing_sync/__init__.py",
        "usage: python -m staffing_sync [-h] {api,worker,migrate}",
    ]
