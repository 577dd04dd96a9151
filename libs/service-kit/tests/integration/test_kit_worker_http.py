"""The worker's HTTP endpoints on real PostgreSQL and RabbitMQ, served in the test's loop."""

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from tandem_service_kit import ServiceSettings, WorkerHttp, open_resources

DEADLINE_S = 10.0


@asynccontextmanager
async def worker_http(
    database_url: str,
    amqp_url: str,
    *,
    checks: Mapping[str, Callable[[], bool]] | None = None,
    registry: CollectorRegistry | None = None,
) -> AsyncIterator[tuple[WorkerHttp, httpx.AsyncClient]]:
    """Serve a ``WorkerHttp`` on a free port over real connections; yield it and a client."""
    settings = ServiceSettings(
        service_name="kit-worker", database_url=database_url, amqp_url=amqp_url
    )
    async with open_resources(settings) as (pool, connection):
        http = WorkerHttp(
            "127.0.0.1",
            0,
            pool,
            connection,
            registry=registry if registry is not None else CollectorRegistry(),
            checks=checks or {},
        )
        stopping = asyncio.Event()
        serving = asyncio.create_task(http.serve(stopping))
        try:
            await asyncio.wait_for(http.started.wait(), DEADLINE_S)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.port}") as client:
                yield http, client
        finally:
            stopping.set()
            await asyncio.wait_for(serving, DEADLINE_S)


async def test_alive_and_ready_when_postgres_and_rabbitmq_answer(
    database_url: str, amqp_url: str
) -> None:
    checks = {"consumer": lambda: True}
    async with worker_http(database_url, amqp_url, checks=checks) as (http, client):
        assert http.port != 0
        alive = await client.get("/healthz")
        ready = await client.get("/readyz")

    assert alive.status_code == 200
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "consumer": "ok"}


async def test_a_failing_check_makes_the_worker_not_ready_and_is_named(
    database_url: str, amqp_url: str
) -> None:
    state = {"scheduler": False}
    checks = {"consumer": lambda: True, "scheduler": lambda: state["scheduler"]}
    async with worker_http(database_url, amqp_url, checks=checks) as (_, client):
        not_ready = await client.get("/readyz")
        # Checks are read on every request: once the condition holds, the worker is ready.
        state["scheduler"] = True
        ready = await client.get("/readyz")

    assert not_ready.status_code == 503
    assert not_ready.headers["content-type"] == "application/problem+json"
    problem = not_ready.json()
    assert problem["failed"] == ["scheduler"]
    assert problem["checks"]["consumer"] == "ok"
    assert "scheduler" in problem["detail"]
    assert ready.status_code == 200


async def test_a_check_that_raises_counts_as_failed(database_url: str, amqp_url: str) -> None:
    def broken() -> bool:
        raise RuntimeError("no idea")

    async with worker_http(database_url, amqp_url, checks={"relay": broken}) as (_, client):
        response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["relay"] == "failed: RuntimeError"


async def test_metrics_expose_the_workers_registry(database_url: str, amqp_url: str) -> None:
    registry = CollectorRegistry()
    handled = Counter("kit_worker_handled", "Messages handled", registry=registry)
    async with worker_http(database_url, amqp_url, registry=registry) as (_, client):
        handled.inc(3)
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert "kit_worker_handled_total 3.0" in response.text


async def test_stopping_ends_serve_promptly_and_frees_the_port(
    database_url: str, amqp_url: str
) -> None:
    loop = asyncio.get_running_loop()
    async with worker_http(database_url, amqp_url) as (http, client):
        assert (await client.get("/healthz")).status_code == 200
        port = http.port
        stopped_at = loop.time()
    # Leaving the block set stopping and awaited serve().

    assert loop.time() - stopped_at < 2.0
    async with httpx.AsyncClient() as late:
        with pytest.raises(httpx.ConnectError):
            await late.get(f"http://127.0.0.1:{port}/healthz")
    with socket.socket() as probe:
        # Connections the server closed may linger in TIME_WAIT; only a listener would refuse.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


async def test_a_port_in_use_fails_serve_with_an_error(database_url: str, amqp_url: str) -> None:
    async with worker_http(database_url, amqp_url) as (first, _):
        settings = ServiceSettings(
            service_name="kit-worker", database_url=database_url, amqp_url=amqp_url
        )
        async with open_resources(settings) as (pool, connection):
            second = WorkerHttp("127.0.0.1", first.port, pool, connection)
            with pytest.raises(OSError, match=str(first.port)):
                await asyncio.wait_for(second.serve(asyncio.Event()), DEADLINE_S)


async def test_serving_leaves_the_workers_signal_handlers_alone(
    database_url: str, amqp_url: str
) -> None:
    loop = asyncio.get_running_loop()
    interrupt = signal.getsignal(signal.SIGINT)
    settings = ServiceSettings(
        service_name="kit-worker", database_url=database_url, amqp_url=amqp_url
    )
    async with open_resources(settings) as (pool, connection):
        http = WorkerHttp("127.0.0.1", 0, pool, connection, registry=CollectorRegistry())
        stopping = asyncio.Event()
        # The worker's own handler, installed the way run_worker does it.
        loop.add_signal_handler(signal.SIGTERM, stopping.set)
        try:
            terminate = signal.getsignal(signal.SIGTERM)
            serving = asyncio.create_task(http.serve(stopping))
            await asyncio.wait_for(http.started.wait(), DEADLINE_S)
            during = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)

            # SIGTERM reaches the worker's handler, which ends serve().
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(serving, DEADLINE_S)
            after = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    assert stopping.is_set()
    assert during == (terminate, interrupt)
    assert after == (terminate, interrupt)
