"""staffing-sync as shipped: its image (built by ``docker/images.sh``) runs ``migrate`` against a
fresh database and then ``api``, as containers under podman — started through testcontainers
over podman's Docker-compatible API, hardened as the Helm chart runs them (uid 10001, read-only
root filesystem, no capabilities) — against the local RabbitMQ and PostgreSQL: the schema is
the one its wheel carries, and the api answers ``/healthz``, ``/readyz`` and an authenticated
``/v1`` call."""

from __future__ import annotations

import json
from typing import Any

from tandem_testing import PodmanApi, free_port

from .service_image import ROOT, assert_lean, migrated, serving

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
    env = _env(database_url, amqp_url, free_port())
    tables = await migrated(
        podman_api, staffing_sync_image, env, database_url, containers,
        package="staffing_sync", migrations=MIGRATIONS,
    )  # fmt: skip
    assert {"workers", "cost_rates", "synced", "failures"} <= tables, tables

    # api, as the chart runs it: alive, ready, and its /v1 answers an authenticated caller.
    async with serving(podman_api, staffing_sync_image, env, containers) as client:
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
    await assert_lean(
        podman_api, staffing_sync_image, service="staffing-sync", package="staffing_sync"
    )
