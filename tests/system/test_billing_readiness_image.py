"""billing-readiness as shipped: its image (built by ``docker/images.sh``) runs ``migrate``
against a fresh database and then ``api``, as containers under podman — started through
testcontainers over podman's Docker-compatible API, hardened as the Helm chart runs them (uid
10001, read-only root filesystem, no capabilities) — against the local RabbitMQ and PostgreSQL:
the schema is the one its wheel carries, and the api answers ``/healthz``, ``/readyz`` and
``/v1/charges`` to a caller with ``billing:read``, refusing one without a key (401) and one
without the scope (403)."""

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
MIGRATIONS = ROOT / "services" / "billing-readiness" / "src" / "billing_readiness" / "migrations"
KEY = "system-test-billing-reader-key"
# Authenticated, but without billing:read.
OTHER_KEY = "system-test-staffing-reader-key"
# Its one kind of system of record: an ERP instance, never called here (nothing is consumed
# and no job runs in the api), but the service is wired on it, and routed to it, at start.
ERP_INSTANCES = {"netsuite": {"kind": "rest", "url": "http://127.0.0.1:9/"}}


def _env(database_url: str, amqp_url: str, port: int) -> dict[str, str]:
    """billing-readiness's settings as the chart gives them (one ERP instance, routed)."""
    return {
        "TANDEM_SERVICE_NAME": "billing-readiness",
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_AMQP_URL": amqp_url,
        "TANDEM_HTTP_HOST": "127.0.0.1",
        "TANDEM_HTTP_PORT": str(port),
        "TANDEM_TENANT_ID": "acme",
        "TANDEM_ERP_INSTANCES": json.dumps(ERP_INSTANCES),
        "TANDEM_ERP_BY_REGION": json.dumps({"us": "netsuite"}),
        "TANDEM_ENTITY_COUNTRIES": json.dumps({"le-us": "US"}),
        "TANDEM_CAP_OVERAGE": "hold",
        "TANDEM_API_KEYS": json.dumps({KEY: ["billing:read"], OTHER_KEY: ["staffing:read"]}),
        "TANDEM_LOG_FORMAT": "json",
        "OTEL_SDK_DISABLED": "true",
    }


async def test_the_image_migrates_a_fresh_database_and_serves(
    podman_api: PodmanApi,
    billing_readiness_image: str,
    database_url: str,
    amqp_url: str,
    containers: list[Any],
) -> None:
    port = free_port()
    env = _env(database_url, amqp_url, port)
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT to_regnamespace('billing_readiness')") is None

        # migrate: messaging, connectors and billing-readiness's schemas from the wheel, then
        # exit 0.
        migrate = hardened(podman_api, billing_readiness_image, ["migrate"], env)
        containers.append(migrate.start())
        assert await exit_code(migrate, within=90) == 0, container_logs(migrate)
        assert await connection.fetchval("SELECT to_regnamespace('billing_readiness')")
        applied = {
            row["id"]
            for row in await connection.fetch("SELECT id FROM public.tandem_schema_migrations")
        }
        tables = {
            row["table_name"]
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'billing_readiness'"
            )
        }
    finally:
        await connection.close()
    shipped = {f"billing_readiness/{p.name}" for p in MIGRATIONS.glob("*.sql")}
    assert shipped
    assert shipped <= applied, shipped - applied
    assert any(m.startswith("tandem_messaging/") for m in applied), applied
    assert any(m.startswith("tandem_connectors/") for m in applied), applied
    assert {"charges", "invoices"} <= tables, tables

    # api, as the chart runs it: alive, ready, and /v1/charges answers a reader only.
    api = hardened(podman_api, billing_readiness_image, ["api"], env)
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
        charges = await client.get("/v1/charges", headers={"X-API-Key": KEY})
        assert charges.status_code == 200, charges.text
        assert charges.json() == {"items": [], "next_after": None}
        refused = await client.get("/v1/charges")
        assert refused.status_code == 401, refused.text
        forbidden = await client.get("/v1/charges", headers={"X-API-Key": OTHER_KEY})
        assert forbidden.status_code == 403, forbidden.text


async def test_the_image_holds_the_service_and_nothing_to_build_with(
    podman_api: PodmanApi, billing_readiness_image: str
) -> None:
    config = image_config(podman_api, billing_readiness_image)
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/usr/local/bin/tandem-entrypoint"]
    assert config["Labels"]["org.opencontainers.image.title"] == "tandem-billing-readiness"

    # Inside, as the chart runs it: uid 10001 on a read-only root, no compiler, no uv or pip,
    # no source tree; its module runs.
    look = (
        "id -u; touch /app/written 2>/dev/null && echo writable; "
        "for tool in gcc cc uv pip pip3; do command -v $tool; done; "
        "ls -d /root/.cache /src /app/venv/bin/pip 2>/dev/null; "
        "python -c 'import billing_readiness; print(billing_readiness.__file__)'; "
        "python -m billing_readiness --help | head -n 1"
    )
    lines = await run_script(podman_api, billing_readiness_image, look)
    assert lines == [
        "10001",
        "/app/venv/lib/python3.11/site-packages/billing_readiness/__init__.py",
        "usage: python -m billing_readiness [-h] {api,worker,migrate}",
    ]
