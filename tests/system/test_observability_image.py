"""observability as shipped: its image (built by ``docker/images.sh``) runs ``migrate`` against
a fresh database and then ``api``, as containers under podman — hardened as the Helm chart runs
them (uid 10001, read-only root filesystem, no capabilities) — against the local RabbitMQ and
PostgreSQL, with the settings the chart gives it: its schema is the one its wheel carries (and
no connectors': it has no systems of record); the api answers ``/v1/whoami`` and ``/v1/slos``
to a reader only (401 without a key, 403 without the scope), serves the console without one,
and its fleet view reads the broker's management API while saying why it cannot read the
cluster (there is none here)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from tandem_testing import AmqpServer, PodmanApi, free_port

from .service_image import ROOT, assert_lean, migrated, serving

MIGRATIONS = ROOT / "services" / "observability" / "src" / "observability" / "migrations"
KEY = "system-test-observability-reader-key"
# Authenticated, but without observability:read.
OTHER_KEY = "system-test-parked-reader-key"
SLOS = {"time-posted-in-15m", "messages-handled-unparked", "quote-to-cash-within-1h"}


def _env(database_url: str, amqp_url: str, management_url: str, port: int) -> dict[str, str]:
    """observability's settings as the chart gives them (no parking lot configured)."""
    return {
        "TANDEM_SERVICE_NAME": "observability",
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_AMQP_URL": amqp_url,
        "TANDEM_HTTP_HOST": "127.0.0.1",
        "TANDEM_HTTP_PORT": str(port),
        "TANDEM_API_KEYS": json.dumps(
            {KEY: ["observability:read", "parked:read"], OTHER_KEY: ["parked:read"]}
        ),
        "TANDEM_KUBERNETES_NAMESPACE": "tandem",
        "TANDEM_TRACE_URL_TEMPLATE": "http://127.0.0.1:16686/trace/{trace_id}",
        "TANDEM_RABBITMQ_MANAGEMENT_URL": management_url,
        "TANDEM_RABBITMQ_VHOST": urlsplit(amqp_url).path.lstrip("/"),
        "TANDEM_PARKING_LOTS": "{}",
        "TANDEM_LOG_FORMAT": "json",
        "OTEL_SDK_DISABLED": "true",
    }


async def test_the_image_migrates_a_fresh_database_and_serves(
    podman_api: PodmanApi,
    observability_image: str,
    database_url: str,
    amqp_url: str,
    amqp_server_info: AmqpServer,
    containers: list[Any],
) -> None:
    env = _env(database_url, amqp_url, amqp_server_info.management_url, free_port())
    tables = await migrated(
        podman_api, observability_image, env, database_url, containers,
        package="observability", migrations=MIGRATIONS, connectors=False,
    )  # fmt: skip
    assert {"steps", "flows", "console_audit"} <= tables, tables

    # A partition queue of its consumer group, for the fleet view to find.
    vhost = env["TANDEM_RABBITMQ_VHOST"]
    async with httpx.AsyncClient(base_url=amqp_server_info.management_url) as broker:
        declared = await broker.put(
            f"/api/queues/{quote(vhost, safe='')}/observability.timelines.p0",
            json={"durable": True, "arguments": {"x-queue-type": "quorum"}},
        )
        assert declared.status_code in {201, 204}, declared.text

    # api, as the chart runs it: alive, ready, and its /v1 answers a reader only.
    async with serving(podman_api, observability_image, env, containers) as client:
        reader = {"X-API-Key": KEY}
        whoami = await client.get("/v1/whoami", headers=reader)
        assert whoami.status_code == 200, whoami.text
        assert whoami.json()["scopes"] == ["observability:read", "parked:read"]
        assert (await client.get("/v1/whoami")).status_code == 401
        slos = await client.get("/v1/slos", headers=reader)
        assert slos.status_code == 200, slos.text
        assert {slo["name"] for slo in slos.json()["slos"]} == SLOS
        forbidden = await client.get("/v1/slos", headers={"X-API-Key": OTHER_KEY})
        assert forbidden.status_code == 403, forbidden.text
        # The console loads without a credential (it asks for one, then calls /v1/whoami).
        console = await client.get("/console")
        assert console.status_code == 200, console.text
        assert console.headers["content-type"].startswith("text/html")
        # No cluster here: the workloads say why; the broker's queues are read all the same.
        fleet = await client.get("/v1/fleet", headers=reader)
        assert fleet.status_code == 200, fleet.text
        view = fleet.json()
        assert view["workloads"] is None
        assert view["workloads_error"], view
        assert view["queues_error"] is None, view
        (queue,) = [q for q in view["queues"] if q["name"] == "observability.timelines.p0"]
        assert (queue["consumer_group"], queue["partition"]) == ("observability.timelines", 0)


async def test_the_image_holds_the_service_and_nothing_to_build_with(
    podman_api: PodmanApi, observability_image: str
) -> None:
    await assert_lean(
        podman_api, observability_image, service="observability", package="observability"
    )
