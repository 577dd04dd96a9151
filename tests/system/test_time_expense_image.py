"""time-expense as shipped: its image (built by ``docker/images.sh``) runs ``migrate``, ``api``
and ``worker`` as containers under podman — started through testcontainers over podman's
Docker-compatible API, hardened as the Helm chart runs them (uid 10001, read-only root
filesystem, no capabilities) — against the local RabbitMQ and PostgreSQL, and posts an approved
entry from the sandbox PSA into the sandbox ERP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import Sandbox, SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations
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
from time_expense.service_layer.handlers import QUEUE

from .harness import WEBHOOK_SECRET, Deployment, clients, deployment_of
from .story import build, decide, erp_time_bills, log_week, minutes_on, the_firm

DAY = date(2026, 10, 14)


def _container_env(deployment: Deployment, **extra: str) -> dict[str, str]:
    """The deployment's settings without the test runner's own environment."""
    env = deployment.env()
    return (
        {k: v for k, v in env.items() if k.startswith(("TANDEM_", "OTEL_"))}
        | {"TANDEM_LOG_FORMAT": "json"}
        | extra
    )


@pytest.fixture
async def sandbox(database_url: str) -> AsyncIterator[Sandbox]:
    # Only the sandbox's own schema: time-expense's comes from its image's migrate command.
    await apply_migrations(database_url, [SANDBOX_MIGRATIONS])
    settings = SandboxSettings(database_url=database_url, base_port=0, webhook_retry_base_s=0.05)
    async with run_sandbox(settings) as running:
        yield running


async def test_the_image_migrates_serves_and_posts_an_approved_entry_to_the_erp(
    podman_api: PodmanApi,
    time_expense_image: str,
    sandbox: Sandbox,
    database_url: str,
    amqp_url: str,
    tmp_path: Path,
    containers: list[Any],
) -> None:
    deployment = deployment_of(sandbox, database_url, amqp_url, tmp_path)
    env = _container_env(deployment)

    # migrate: time-expense's schema, from the SQL files the wheel carries, then exit 0.
    migrate = hardened(podman_api, time_expense_image, ["migrate"], env)
    containers.append(migrate.start())
    assert await exit_code(migrate, within=60) == 0, container_logs(migrate)
    connection = await asyncpg.connect(database_url)
    try:
        applied = await connection.fetchval(
            "SELECT count(*) FROM public.tandem_schema_migrations WHERE id LIKE 'time_expense/%'"
        )
    finally:
        await connection.close()
    shipped = len(list((Path(__file__).parents[2] / "services/time-expense/src/time_expense"
                        / "migrations").glob("*.sql")))  # fmt: skip
    assert applied == shipped > 0

    # api and worker, as the chart runs them; the worker with every role in one container.
    api = hardened(podman_api, time_expense_image, ["api"], env)
    containers.append(api.start())
    deployment.worker_ports["worker"] = worker_port = free_port()
    worker_env = env | {"TANDEM_WORKER_HTTP_PORT": str(worker_port),
                        "TANDEM_WORKER_ROLES": json.dumps(["consume", "ingest", "relay",
                                                           "schedule"])}  # fmt: skip
    worker = hardened(podman_api, time_expense_image, ["worker"], worker_env)
    containers.append(worker.start())

    async with httpx.AsyncClient() as probe:

        async def ready(url: str) -> bool:
            try:
                return (await probe.get(url)).status_code == 200
            except httpx.TransportError:
                return False

        api_ready = f"{deployment.api_url}/readyz"
        await until_or_logs(
            lambda: ready(api_ready), within=60, what="the api's /readyz", container=api
        )
        worker_ready = f"{deployment.worker_url('worker')}/readyz"
        await until_or_logs(
            lambda: ready(worker_ready), within=60, what="the worker's /readyz", container=worker
        )
    await deployment.wait_consuming(QUEUE)

    # One consultant's approved day, heard by webhook, reaches the ERP.
    firm = the_firm(us_consultants=1, de_consultants=0)
    async with clients(sandbox, deployment) as http:
        await build(firm, deployment, http.erp, http.psa, crm_url=sandbox.urls["crm"])
        answer = await http.psa.post("/v1/webhooks", json={
            "url": f"{deployment.api_url}/v1/inbound/psa/psa", "secret": WEBHOOK_SECRET,
            "event_types": ["time_entry.approved"],
        })  # fmt: skip
        assert answer.status_code == 201, answer.text
        [sheet] = (await log_week(firm, http.psa, [DAY])).values()
        await decide(http.psa, sheet, "submit", "approve")

        async def posted() -> bool:
            return len(await erp_time_bills(http.erp_http)) == 1

        await until_or_logs(
            posted, within=60, what="the approved entry in the ERP", container=worker
        )
        [bill] = await erp_time_bills(http.erp_http)
    [consultant] = firm.consultants
    assert bill["minutes"] == minutes_on(consultant.worker_id, DAY)

    # The worker's /metrics shows it: one approval handled by the ordered consumer.
    handled = await deployment.worker_metric(
        "worker", "tandem_messages_handled_total", consumer=QUEUE, event_type="TimeApproved"
    )
    assert handled == 1


async def test_the_image_holds_the_service_and_nothing_to_build_with(
    podman_api: PodmanApi, time_expense_image: str
) -> None:
    config = image_config(podman_api, time_expense_image)
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/usr/local/bin/tandem-entrypoint"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "tandem-time-expense"
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    assert labels["org.opencontainers.image.revision"] not in {"", "unknown"}

    # Inside, as the chart runs it: no compiler, no uv or pip, no caches, no source tree.
    look = (
        "id -u; for tool in gcc cc uv pip pip3; do command -v $tool; done; "
        "ls -d /root/.cache /src /app/venv/bin/pip 2>/dev/null; "
        "python -c 'import time_expense, tandem_messaging; print(time_expense.__file__)'"
    )
    lines = await run_script(podman_api, time_expense_image, look)
    assert lines == ["10001", "/app/venv/lib/python3.11/site-packages/time_expense/__init__.py"]
