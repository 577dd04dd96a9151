"""billing-readiness as shipped: its image (built by ``docker/images.sh``) runs ``migrate``
against a fresh database and then ``api``, as containers under podman — started through
testcontainers over podman's Docker-compatible API, hardened as the Helm chart runs them (uid
10001, read-only root filesystem, no capabilities) — against the local RabbitMQ and PostgreSQL:
the schema is the one its wheel carries, and the api answers ``/healthz``, ``/readyz`` and
``/v1/charges`` to a caller with ``billing:read``, refusing one without a key (401) and one
without the scope (403)."""

from __future__ import annotations

import json
from typing import Any

from tandem_testing import PodmanApi, free_port

from .service_image import ROOT, assert_lean, migrated, serving

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
    env = _env(database_url, amqp_url, free_port())
    tables = await migrated(
        podman_api, billing_readiness_image, env, database_url, containers,
        package="billing_readiness", migrations=MIGRATIONS,
    )  # fmt: skip
    assert {"charges", "invoices"} <= tables, tables

    # api, as the chart runs it: alive, ready, and /v1/charges answers a reader only.
    async with serving(podman_api, billing_readiness_image, env, containers) as client:
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
    await assert_lean(
        podman_api,
        billing_readiness_image,
        service="billing-readiness",
        package="billing_readiness",
    )
