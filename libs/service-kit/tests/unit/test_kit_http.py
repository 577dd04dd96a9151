"""The app factory's HTTP behaviour: ids echoed, errors as problem details, metrics, OpenAPI."""

from collections.abc import AsyncIterator
from http import HTTPStatus

import httpx
import pytest
from fastapi import APIRouter, HTTPException
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, Field

from tandem_service_kit import ServiceSettings, correlation_id, create_app, request_id

router = APIRouter(prefix="/v1")


class EntryCreate(BaseModel):
    worker_id: str
    minutes: int = Field(gt=0)


@router.post("/entries", status_code=201)
async def post_entry(entry: EntryCreate) -> dict[str, str | int | None]:
    """Record a time entry."""
    return {"minutes": entry.minutes, "correlation_id": correlation_id.get()}


@router.get("/entries/{entry_id}")
async def get_entry(entry_id: int) -> dict[str, str | None]:
    """Read a time entry."""
    raise HTTPException(404, detail=f"no entry {entry_id}")


@router.get("/ids")
async def ids() -> dict[str, str | None]:
    """Show the ids bound to this request."""
    return {"request_id": request_id.get(), "correlation_id": correlation_id.get()}


@router.get("/crash")
async def crash() -> None:
    """Fail the way a bug does."""
    raise RuntimeError("secret internal state")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def client(registry: CollectorRegistry) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(service_name="kit-test")
    app = create_app(settings, title="Kit", version="1.2.3", routers=[router], registry=registry)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit.test") as client:
        yield client


async def test_healthz_answers_without_any_dependency(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


async def test_given_ids_are_bound_to_the_request_and_echoed(client: httpx.AsyncClient) -> None:
    headers = {"X-Request-ID": "req-123", "X-Correlation-ID": "opp-0001"}

    response = await client.get("/v1/ids", headers=headers)

    assert response.json() == {"request_id": "req-123", "correlation_id": "opp-0001"}
    assert response.headers["x-request-id"] == "req-123"
    assert response.headers["x-correlation-id"] == "opp-0001"


async def test_missing_ids_are_minted_per_request(client: httpx.AsyncClient) -> None:
    first = await client.get("/v1/ids")
    second = await client.get("/v1/ids")

    assert first.json()["request_id"] == first.headers["x-request-id"]
    assert first.json()["correlation_id"] == first.headers["x-correlation-id"]
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert first.headers["x-correlation-id"] != second.headers["x-correlation-id"]


async def test_an_unsafe_correlation_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/ids", headers={"X-Correlation-ID": "a b\tc" + "x" * 80})

    minted = response.headers["x-correlation-id"]
    assert " " not in minted
    assert len(minted) == 36  # a UUIDv7 string


async def test_ids_do_not_leak_out_of_the_request(client: httpx.AsyncClient) -> None:
    await client.get("/v1/ids", headers={"X-Correlation-ID": "opp-0001"})

    assert correlation_id.get() is None
    assert request_id.get() is None


async def test_an_http_exception_is_a_problem_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/entries/7", headers={"X-Correlation-ID": "opp-0002"})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "no entry 7",
        "instance": "/v1/entries/7",
        "correlation_id": "opp-0002",
    }


async def test_an_unknown_route_is_a_problem_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Not Found"


async def test_a_validation_error_names_each_field_path(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/entries", json={"minutes": 0})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == HTTPStatus.UNPROCESSABLE_ENTITY.phrase
    assert problem["detail"] == "invalid request: body.worker_id, body.minutes"
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("body.worker_id", "missing"),
        ("body.minutes", "greater_than"),
    ]


async def test_a_bad_path_parameter_is_named_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/entries/seven")

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "path.entry_id"


async def test_metrics_are_exposed_from_the_given_registry(
    client: httpx.AsyncClient, registry: CollectorRegistry
) -> None:
    Counter("kit_entries_posted", "Entries posted", registry=registry).inc(3)

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "kit_entries_posted_total 3.0" in response.text


async def test_openapi_describes_the_service_routes(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    assert document["info"] == {"title": "Kit", "version": "1.2.3"}
    assert document["paths"]["/v1/entries"]["post"]["description"] == "Record a time entry."
    assert {"/healthz", "/readyz", "/metrics"} <= set(document["paths"])


async def test_a_crash_is_a_problem_document_revealing_nothing(registry: CollectorRegistry) -> None:
    settings = ServiceSettings(service_name="kit-test")
    app = create_app(settings, title="Kit", version="1", routers=[router], registry=registry)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit.test") as client:
        response = await client.get("/v1/crash")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Internal Server Error"
    assert "secret" not in response.text
