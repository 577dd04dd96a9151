"""The local systems the month-end benches run on: fresh databases and a vhost, the sandbox, an
ERP, and the api and worker processes of time-expense and of project-sync (each on its own
database, as deployed: both land the PSA's records, each in its own ``connectors`` tables).
``make run``'s whole suite is ``month.suite``, which shares the helpers here."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncpg
import httpx

from project_sync.bootstrap import DEFINITION as PROJECT_SYNC
from project_sync.service_layer.handlers import QUEUE as PROJECT_SYNC_QUEUE
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.ports import AbstractErp
from tandem_connectors.rest import RestErp
from tandem_connectors.tryton import TrytonClient, TrytonErp
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import Sandbox, SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations
from tandem_testing import LocalService, TrytonServer, tryton_server
from time_expense.bootstrap import DEFINITION
from time_expense.service_layer.handlers import QUEUE

ROOT = Path(__file__).resolve().parents[2]
# Minted per process: a local run's credentials are never the same twice nor kept anywhere.
API_KEY = secrets.token_hex(16)
WEBHOOK_SECRET = secrets.token_hex(16)
ERP = "erp"
Flavour = Literal["tryton", "sandbox"]
# As deployed: the ordered consumer in a process of its own (a core to itself); ingestion, the
# relay and the scheduled jobs in another.
WORKERS = {"worker": frozenset({"consume"}), "ingest": frozenset({"ingest", "relay", "schedule"})}


@dataclass
class Systems:
    """Everything one run uses, with the clients the runner drives it through."""

    sandbox: Sandbox
    deployment: LocalService
    """time-expense."""
    quote: LocalService
    """project-sync."""
    erp: AbstractErp
    database_url: str
    amqp_url: str
    flavour: Flavour
    tryton: TrytonServer | None


def _urls() -> tuple[str, str, str]:
    database = os.environ.get(
        "TANDEM_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
    )
    amqp = os.environ.get("TANDEM_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    management = os.environ.get("TANDEM_AMQP_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672")
    return database, amqp, management


async def _fresh_database(admin_url: str, name: str) -> str:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def _fresh_vhost(amqp_url: str, management_url: str, name: str) -> str:
    user = httpx.URL(management_url).username or "guest"
    async with httpx.AsyncClient(base_url=management_url, timeout=10) as api:
        await api.delete(f"/api/vhosts/{name}")
        (await api.put(f"/api/vhosts/{name}")).raise_for_status()
        grant = {"configure": ".*", "write": ".*", "read": ".*"}
        (await api.put(f"/api/permissions/{name}/{user}", json=grant)).raise_for_status()
    return amqp_url.rstrip("/") + f"/{name}"


@contextlib.asynccontextmanager
async def local_systems(
    flavour: Flavour,
    *,
    run: str,
    logs: Path,
    settings: dict[str, str] | None = None,
    quote_settings: dict[str, str] | None = None,
    telemetry: Mapping[str, str] | None = None,
) -> AsyncIterator[Systems]:
    """Start everything for one run named ``run``; stop it all afterwards. ``settings`` are
    time-expense's, ``quote_settings`` project-sync's (the tenant's entities, stages);
    ``telemetry`` the ``OTEL_*`` settings of every process (none: tracing off)."""
    admin, amqp, management = _urls()
    database_url = await _fresh_database(admin, f"tandem_{run}")
    quote_database_url = await _fresh_database(admin, f"tandem_{run}_quote")
    amqp_url = await _fresh_vhost(amqp, management, f"tandem-{run}")
    await apply_migrations(database_url, [*DEFINITION.migrations, SANDBOX_MIGRATIONS])
    await apply_migrations(quote_database_url, list(PROJECT_SYNC.migrations))
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(
            run_sandbox(SandboxSettings(database_url=database_url, base_port=0))
        )
        tryton = (
            stack.enter_context(tryton_server(ROOT / ".tandem" / "tryton", run))
            if flavour == "tryton"
            else None
        )
        erp_config, erp = await _erp(stack, sandbox, tryton)
        psa = {"url": sandbox.urls["psa"], "webhook_secret": WEBHOOK_SECRET,
               "requests_per_second": 2000, "burst": 500}  # fmt: skip
        deployment = LocalService(
            module="time_expense",
            name="time-expense",
            database_url=database_url,
            amqp_url=amqp_url,
            logs=logs,
            settings={
                "TANDEM_ERP_INSTANCES": json.dumps({ERP: erp_config}),
                "TANDEM_PSA_INSTANCES": json.dumps({"psa": psa}),
                "TANDEM_LOG_LEVEL": "WARNING",
                "TANDEM_API_KEYS": json.dumps(
                    {API_KEY: ["time:read", "time:admin", "time:reconcile", "parked:read"]}
                ),
                "TANDEM_ERP_BY_REGION": json.dumps(
                    dict.fromkeys(("us", "uk", "eu", "in", "apac"), ERP)
                ),
                "TANDEM_POLL_INTERVAL_S": "2",
                "TANDEM_POLL_LAG_S": "1",
                "TANDEM_INGEST_INTERVAL_S": "0.1",
                "TANDEM_RECONCILE_QUIET_S": "0",
                **(telemetry or {}),
                **(settings or {}),
            },
        )
        crm = {"url": sandbox.urls["crm"], "webhook_secret": WEBHOOK_SECRET,
               "requests_per_second": 500, "burst": 200}  # fmt: skip
        quote = LocalService(
            module="project_sync",
            name="project-sync",
            database_url=quote_database_url,
            amqp_url=amqp_url,
            logs=logs,
            settings={
                "TANDEM_ERP_INSTANCES": json.dumps({ERP: erp_config}),
                "TANDEM_PSA_INSTANCES": json.dumps({"psa": psa}),
                "TANDEM_CRM_INSTANCES": json.dumps({"crm": crm}),
                "TANDEM_LOG_LEVEL": "WARNING",
                "TANDEM_API_KEYS": json.dumps({API_KEY: ["q2c:read", "q2c:write"]}),
                "TANDEM_ERP_BY_REGION": json.dumps(
                    dict.fromkeys(("us", "uk", "eu", "in", "apac"), ERP)
                ),
                "TANDEM_POLL_INTERVAL_S": "1",
                "TANDEM_POLL_LAG_S": "0",
                "TANDEM_INGEST_INTERVAL_S": "0.1",
                "TANDEM_RESUME_INTERVAL_S": "2",
                **(telemetry or {}),
                **(quote_settings or {}),
            },
        )
        for service, queue in ((deployment, QUEUE), (quote, PROJECT_SYNC_QUEUE)):
            stack.callback(service.stop)
            service.start("api")
            service.start_workers(WORKERS)
            await service.wait_api()
            for name in WORKERS:
                await service.wait_worker(name)
            await service.wait_consuming(queue)
        yield Systems(sandbox, deployment, quote, erp, database_url, amqp_url, flavour, tryton)


async def _erp(
    stack: contextlib.AsyncExitStack, sandbox: Sandbox, tryton: TrytonServer | None
) -> tuple[dict[str, Any], AbstractErp]:
    """The ERP's settings for time-expense, and the runner's own adapter of it."""
    if tryton is not None:
        client = TrytonClient(
            tryton.url, tryton.database, tryton.user, tryton.password, instance=ERP
        )
        stack.push_async_callback(client.aclose)
        config: dict[str, Any] = {"kind": "tryton", "url": tryton.url, "database": tryton.database,
                                  "user": tryton.user, "password": tryton.password}  # fmt: skip
        return config, TrytonErp(client, instance=ERP)
    target = HttpTarget(sandbox.urls["erp"], downstream="erp", retry=RetryPolicy(5, 0.1, 2))
    stack.push_async_callback(target.aclose)
    return {
        "kind": "rest",
        "url": sandbox.urls["erp"],
        "requests_per_second": 5000,
        "burst": 1000,
    }, RestErp(target, instance=ERP)
