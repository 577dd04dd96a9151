"""A process started while the broker or PostgreSQL is away waits for it instead of exiting:
alive, not ready (naming what is missing), refusing work with 503, stopped cleanly by SIGTERM,
and working once the dependency comes. Real processes of the example service (``lost-deals``),
then the api's lifespan in this process; real RabbitMQ and PostgreSQL.

"The dependency comes later" is a TCP forwarder on a port of its own, refusing connections
until it is opened, then forwarding them to the real server.
"""

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

import tandem_connectors
import tandem_messaging
from tandem_contracts import Envelope, Producer, SystemKind
from tandem_contracts.events import OpportunityLost
from tandem_messaging import Outbox
from tandem_service_kit import (
    BrokerDep,
    PoolDep,
    ServiceSettings,
    apply_migrations,
    create_app,
    open_resources,
)
from tandem_testing import eventually, free_port

SERVICE = Path(__file__).parent / "procs" / "example_service.py"
MIGRATIONS = [
    tandem_messaging.MIGRATIONS,
    tandem_connectors.MIGRATIONS,
    Path(__file__).parents[1] / "example" / "migrations",
]
KEY = "startup-reader-key"
DEADLINE_S = 30.0
STOP_S = 10.0  # a process waiting for a dependency stops well within this


class Forwarder:
    """A port on 127.0.0.1 refusing connections until ``open``, then forwarding each one to
    ``target`` (a URL's port) on 127.0.0.1."""

    def __init__(self, target: str) -> None:
        self.port = free_port()
        self.target_port = urlsplit(target).port
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def url(self, url: str) -> str:
        """``url``, through the forwarder."""
        parts = urlsplit(url)
        netloc = f"{parts.username}:{parts.password}@127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.transport.abort()  # ends its link's pipes, as a server going away would
            await asyncio.gather(*self._links, return_exceptions=True)
            await self._server.wait_closed()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        self._writers.add(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
            self._writers.add(upstream_writer)
            try:
                await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
            finally:
                upstream_writer.close()
                self._writers.discard(upstream_writer)
        except OSError:
            pass  # one side went away: the link ends, as a real connection would
        finally:
            writer.close()
            self._writers.discard(writer)
            self._links.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65_536):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


@dataclass
class Service:
    """The example service's api and worker processes, and clients of their HTTP ports."""

    processes: dict[str, asyncio.subprocess.Process]
    api: httpx.AsyncClient
    worker: httpx.AsyncClient
    logs: Path

    def alive(self) -> bool:
        return all(process.returncode is None for process in self.processes.values())

    async def terminate(self) -> dict[str, int]:
        """SIGTERM both, as Kubernetes sends it; their exit codes (within ``STOP_S``)."""
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.processes.items():
            codes[name] = await asyncio.wait_for(process.wait(), STOP_S)
        return codes

    def log(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.logs.glob("*.log")))


@asynccontextmanager
async def example_service(database_url: str, amqp_url: str, logs: Path) -> AsyncIterator[Service]:
    """Start ``python example_service.py api`` and ``... worker``; kill what is left after."""
    api_port, worker_port = free_port(), free_port()
    env = os.environ | {
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_AMQP_URL": amqp_url,
        "TANDEM_HTTP_PORT": str(api_port),
        "TANDEM_WORKER_HTTP_PORT": str(worker_port),
        "TANDEM_API_KEYS": json.dumps({KEY: ["losses:read"]}),
        "TANDEM_CRM_WEBHOOK_SECRET": "crm-webhook-secret",  # else the api refuses to start
        "TANDEM_PROBE_MAX_S": "0.5",  # the test's dependency comes back within a second
        "TANDEM_INGEST_INTERVAL_S": "0.05",
        "OTEL_SDK_DISABLED": "true",
    }
    processes: dict[str, asyncio.subprocess.Process] = {}
    try:
        for role in ("api", "worker"):
            with (logs / f"{role}.log").open("wb") as log:
                processes[role] = await asyncio.create_subprocess_exec(
                    sys.executable, str(SERVICE), role, env=env, stdout=log, stderr=log
                )
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=5) as api,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{worker_port}", timeout=5) as worker,
        ):
            yield Service(processes, api, worker, logs)
    finally:
        for process in processes.values():
            if process.returncode is None:
                process.kill()
                await process.wait()


async def answers(client: httpx.AsyncClient, path: str, status: int) -> bool:
    try:
        return (await client.get(path, headers={"X-API-Key": KEY})).status_code == status
    except httpx.TransportError:
        return False


async def up(service: Service) -> None:
    """Wait until both processes answer their liveness probe."""
    for client, what in ((service.api, "the api"), (service.worker, "the worker")):
        alive = partial(answers, client, "/healthz", 200)
        await eventually(alive, within=DEADLINE_S, what=f"{what} alive", every=0.1)


async def ready(service: Service) -> None:
    """Wait until both processes answer ready."""
    for client, what in ((service.api, "the api"), (service.worker, "the worker")):
        is_ready = partial(answers, client, "/readyz", 200)
        await eventually(is_ready, within=DEADLINE_S, what=f"{what} ready", every=0.1)


async def add_lost_deal(database_url: str, opportunity: str) -> None:
    """Commit an ``OpportunityLost`` to the outbox: the worker relays it to its own consumer."""
    lost = OpportunityLost(
        opportunity_id=opportunity, stage="Closed Lost", reason="budget",
        lost_at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    )  # fmt: skip
    envelope = Envelope.new(
        lost, producer=Producer(service="project-sync", system=SystemKind.CRM),
        tenant_id="acme", legal_entity_id="le-de", data_residency_region="eu",
        correlation_id=f"corr-{opportunity}", subject_version=1,
    )  # fmt: skip
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            await Outbox().add(connection, envelope)
    finally:
        await connection.close()


async def test_api_and_worker_wait_for_a_broker_that_comes_late(
    database_url: str, amqp_url: str, tmp_path: Path
) -> None:
    await apply_migrations(database_url, MIGRATIONS)
    broker = Forwarder(amqp_url)
    try:
        async with example_service(database_url, broker.url(amqp_url), tmp_path) as service:
            # With the broker away, both processes come up and answer their liveness probes.
            await up(service)

            # Neither is ready, and each names the broker as what is missing.
            for client in (service.api, service.worker):
                not_ready = await client.get("/readyz")
                assert not_ready.status_code == 503
                assert not_ready.headers["content-type"] == "application/problem+json"
                assert "broker" in not_ready.json()["failed"]
                assert not_ready.json()["checks"]["broker"] == "waiting"
                assert not_ready.json()["checks"]["database"] == "ok"

            # The api refuses work with a problem saying why, and when to come back.
            refused = await service.api.get("/v1/losses/opp-1", headers={"X-API-Key": KEY})
            assert refused.status_code == 503
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.headers["retry-after"] == "5"
            assert refused.json()["detail"] == "starting: waiting for broker"
            assert service.alive()

            # The broker comes: both become ready, the same processes.
            await broker.open()
            await ready(service)
            assert service.alive()
            assert (await service.api.get("/v1/losses/opp-1", headers={"X-API-Key": KEY})
                    ).status_code == 404  # fmt: skip

            # The service works: an event relayed, consumed, its loss recorded and served.
            await add_lost_deal(database_url, "opp-1")
            await eventually(
                lambda: answers(service.api, "/v1/losses/opp-1", 200),
                within=DEADLINE_S, what="the loss recorded",
            )  # fmt: skip

            # SIGTERM: both drain and exit 0.
            assert await service.terminate() == {"api": 0, "worker": 0}, service.log()
    finally:
        await broker.close()


async def test_sigterm_while_waiting_for_the_broker_stops_both_cleanly(
    database_url: str, amqp_url: str, tmp_path: Path
) -> None:
    await apply_migrations(database_url, MIGRATIONS)
    broker = Forwarder(amqp_url)  # never opened
    async with example_service(database_url, broker.url(amqp_url), tmp_path) as service:
        await up(service)
        assert (await service.worker.get("/readyz")).status_code == 503

        # SIGTERM while they wait: both stop promptly, exit code 0.
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        assert await service.terminate() == {"api": 0, "worker": 0}, service.log()
        assert loop.time() - sent_at < STOP_S


async def test_api_and_worker_wait_for_a_database_that_comes_late(
    database_url: str, amqp_url: str, tmp_path: Path
) -> None:
    await apply_migrations(database_url, MIGRATIONS)
    database = Forwarder(database_url)
    try:
        async with example_service(database.url(database_url), amqp_url, tmp_path) as service:
            # With PostgreSQL away, both come up, not ready, naming the database.
            await up(service)
            for client in (service.api, service.worker):
                not_ready = await client.get("/readyz")
                assert not_ready.status_code == 503
                assert "database" in not_ready.json()["failed"]
                assert not_ready.json()["checks"]["database"].startswith("failed")
            refused = await service.api.get("/v1/losses/opp-2", headers={"X-API-Key": KEY})
            assert refused.status_code == 503
            assert refused.json()["detail"] == "starting: waiting for database"

            # PostgreSQL comes: both become ready and the api answers from it.
            await database.open()
            await ready(service)
            assert (await service.api.get("/v1/losses/opp-2", headers={"X-API-Key": KEY})
                    ).status_code == 404  # fmt: skip
            assert await service.terminate() == {"api": 0, "worker": 0}, service.log()
    finally:
        await database.close()


# The api's lifespan, in this process.

router = APIRouter(prefix="/v1")


@router.get("/dependencies")
async def dependencies(pool: PoolDep, broker: BrokerDep) -> dict[str, object]:
    """Use both dependencies."""
    return {"answer": await pool.fetchval("SELECT 41 + 1"), "broker_open": not broker.is_closed}


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give a client talking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kit.test") as client:
            yield client


def app_for(database_url: str, amqp_url: str, **hooks: object) -> FastAPI:
    settings = ServiceSettings(
        service_name="kit-test", database_url=database_url, amqp_url=amqp_url, probe_max_s=0.2
    )
    return create_app(
        settings, title="kit", version="0", routers=[router], registry=CollectorRegistry(),
        **hooks,  # type: ignore[arg-type]
    )  # fmt: skip


async def status(client: httpx.AsyncClient, path: str) -> int:
    return (await client.get(path)).status_code


async def has_status(client: httpx.AsyncClient, path: str, code: int) -> bool:
    return await status(client, path) == code


async def test_routes_wait_for_the_broker_and_the_hooks_run_once_it_comes(
    database_url: str, amqp_url: str
) -> None:
    broker = Forwarder(amqp_url)
    seen: list[str] = []

    async def on_startup(app: FastAPI) -> None:
        seen.append(f"startup:{app.state.broker.is_closed}")

    async def on_shutdown(app: FastAPI) -> None:
        seen.append("shutdown")

    app = app_for(
        database_url, broker.url(amqp_url), on_startup=on_startup, on_shutdown=on_shutdown
    )
    try:
        async with running(app) as client:
            # Serving at once, though the broker is away: alive, not ready, the broker named.
            assert await status(client, "/healthz") == 200
            not_ready = await client.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["failed"] == ["broker"]
            assert not_ready.json()["checks"] == {"database": "ok", "broker": "waiting"}

            # A route refuses with a problem instead of failing on what is not there yet.
            refused = await client.get("/v1/dependencies")
            assert refused.status_code == 503
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.headers["retry-after"] == "5"
            assert refused.json()["detail"] == "starting: waiting for broker"
            assert seen == []

            # The broker comes: the service is wired once, then ready, then it works.
            await broker.open()
            await eventually(lambda: has_status(client, "/readyz", 200), within=DEADLINE_S,
                             what="ready")  # fmt: skip
            assert seen == ["startup:False"]
            assert (await client.get("/v1/dependencies")).json() == {
                "answer": 42, "broker_open": True
            }  # fmt: skip
    finally:
        await broker.close()

    assert seen == ["startup:False", "shutdown"]
    assert app.state.broker.is_closed


async def test_a_start_that_fails_once_connected_fails_liveness(
    database_url: str, amqp_url: str
) -> None:
    broker = Forwarder(amqp_url)
    seen: list[str] = []

    async def on_startup(app: FastAPI) -> None:
        raise RuntimeError("the wiring is broken")

    async def on_shutdown(app: FastAPI) -> None:
        seen.append("shutdown")

    app = app_for(
        database_url, broker.url(amqp_url), on_startup=on_startup, on_shutdown=on_shutdown
    )
    try:
        async with running(app) as client:
            assert await status(client, "/healthz") == 200
            await broker.open()

            # The wiring fails in the background: liveness fails, so the process is restarted.
            await eventually(lambda: has_status(client, "/healthz", 503), within=DEADLINE_S,
                             what="liveness failing")  # fmt: skip
            not_ready = await client.get("/readyz")
            assert not_ready.json()["checks"]["startup"] == "failed"
            refused = await client.get("/v1/dependencies")
            assert refused.status_code == 503
            assert refused.json()["detail"] == "the service failed to start (RuntimeError)"
    finally:
        await broker.close()

    assert seen == []  # shutdown hooks only follow a start that succeeded


async def test_leaving_the_lifespan_while_waiting_is_prompt(
    database_url: str, amqp_url: str
) -> None:
    broker = Forwarder(amqp_url)  # never opened
    app = app_for(database_url, broker.url(amqp_url))
    loop = asyncio.get_running_loop()
    async with running(app) as client:
        assert await status(client, "/readyz") == 503
        leaving = loop.time()

    assert loop.time() - leaving < 2.0


async def test_open_resources_waits_for_the_broker(database_url: str, amqp_url: str) -> None:
    broker = Forwarder(amqp_url)
    settings = ServiceSettings(
        service_name="kit-test", database_url=database_url, amqp_url=broker.url(amqp_url),
        probe_max_s=0.2,
    )  # fmt: skip

    async def use() -> int:
        async with open_resources(settings) as (pool, connection):
            assert not connection.is_closed
            return int(await pool.fetchval("SELECT 1"))

    try:
        opening = asyncio.create_task(use())
        # It keeps trying, where it used to fail at the first refusal.
        done, _ = await asyncio.wait({opening}, timeout=1.0)
        assert not done
        await broker.open()
        assert await asyncio.wait_for(opening, DEADLINE_S) == 1
    finally:
        await broker.close()
