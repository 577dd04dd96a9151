"""The app's lifespan against real PostgreSQL and RabbitMQ: readiness, dependencies, hooks."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from tandem_service_kit import BrokerDep, PoolDep, ServiceSettings, create_app

CLOSED_PORT_DATABASE = "postgresql://postgres:postgres@127.0.0.1:1/postgres"

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
        service_name="kit-test", database_url=database_url, amqp_url=amqp_url
    )
    return create_app(
        settings,
        title="kit",
        version="0",
        routers=[router],
        registry=CollectorRegistry(),
        **hooks,  # type: ignore[arg-type]
    )


async def test_ready_when_postgres_and_rabbitmq_answer(database_url: str, amqp_url: str) -> None:
    async with running(app_for(database_url, amqp_url)) as client:
        response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


async def test_routes_receive_the_pool_and_the_broker(database_url: str, amqp_url: str) -> None:
    async with running(app_for(database_url, amqp_url)) as client:
        response = await client.get("/v1/dependencies")

    assert response.json() == {"answer": 42, "broker_open": True}


async def test_not_ready_names_the_database_when_it_is_away(amqp_url: str) -> None:
    async with running(app_for(CLOSED_PORT_DATABASE, amqp_url)) as client:
        # Liveness does not depend on PostgreSQL; readiness does.
        assert (await client.get("/healthz")).status_code == 200
        response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["failed"] == ["database"]
    assert problem["checks"]["broker"] == "ok"
    assert problem["checks"]["database"].startswith("failed:")
    assert "database" in problem["detail"]


async def test_not_ready_names_the_broker_once_its_connection_closes(
    database_url: str, amqp_url: str
) -> None:
    app = app_for(database_url, amqp_url)
    async with running(app) as client:
        await app.state.broker.close()
        response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]


async def test_hooks_run_with_the_connections_open(database_url: str, amqp_url: str) -> None:
    seen: list[str] = []

    async def on_startup(app: FastAPI) -> None:
        seen.append(f"startup:{await app.state.pool.fetchval('SELECT 1')}")

    async def on_shutdown(app: FastAPI) -> None:
        seen.append(f"shutdown:{app.state.broker.is_closed}")

    app = app_for(database_url, amqp_url, on_startup=on_startup, on_shutdown=on_shutdown)
    async with running(app):
        assert seen == ["startup:1"]

    assert seen == ["startup:1", "shutdown:False"]
    assert app.state.broker.is_closed
