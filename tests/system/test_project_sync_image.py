"""project-sync as shipped: its image (built by ``docker/images.sh``) runs ``migrate`` against a
fresh database and then ``api``, as containers under podman — started through testcontainers
over podman's Docker-compatible API, hardened as the Helm chart runs them (uid 10001, read-only
root filesystem, no capabilities) — against the local RabbitMQ and PostgreSQL: the schema is
the one its wheel carries, and the api answers ``/readyz`` and an authenticated ``/v1`` call."""

from __future__ import annotations

import json
from typing import Any

from tandem_testing import PodmanApi, free_port

from .service_image import ROOT, assert_lean, migrated, serving

MIGRATIONS = ROOT / "services" / "project-sync" / "src" / "project_sync" / "migrations"
KEY = "system-test-q2c-reader-key"


def _env(database_url: str, amqp_url: str, port: int) -> dict[str, str]:
    """project-sync's settings as the chart gives them (no systems of record configured)."""
    return {
        "TANDEM_SERVICE_NAME": "project-sync",
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_AMQP_URL": amqp_url,
        "TANDEM_HTTP_HOST": "127.0.0.1",
        "TANDEM_HTTP_PORT": str(port),
        "TANDEM_TENANT_ID": "acme",
        "TANDEM_API_KEYS": json.dumps({KEY: ["q2c:read"]}),
        "TANDEM_LOG_FORMAT": "json",
        "OTEL_SDK_DISABLED": "true",
    }


async def test_the_image_migrates_a_fresh_database_and_serves(
    podman_api: PodmanApi,
    project_sync_image: str,
    database_url: str,
    amqp_url: str,
    containers: list[Any],
) -> None:
    env = _env(database_url, amqp_url, free_port())
    tables = await migrated(
        podman_api, project_sync_image, env, database_url, containers,
        package="project_sync", migrations=MIGRATIONS,
    )  # fmt: skip
    assert {"sagas", "saga_steps", "saga_log", "customers", "projects"} <= tables, tables

    # api, as the chart runs it: alive, ready, and its /v1 answers an authenticated caller.
    async with serving(podman_api, project_sync_image, env, containers) as client:
        sagas = await client.get("/v1/sagas", headers={"X-API-Key": KEY})
        assert sagas.status_code == 200, sagas.text
        assert sagas.json() == {"items": []}
        refused = await client.get("/v1/sagas")
        assert refused.status_code == 401, refused.text


async def test_the_image_holds_the_service_and_nothing_to_build_with(
    podman_api: PodmanApi, project_sync_image: str
) -> None:
    await assert_lean(
        podman_api, project_sync_image, service="project-sync", package="project_sync"
    )
