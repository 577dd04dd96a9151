"""The input guard, the crash barrier and the documented problem answers of every API."""

import asyncio
from typing import Annotated, Any

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, SecretStr

from tandem_service_kit import Principal, ServiceSettings, create_app, require_scopes
from tandem_testing import eventually, free_port

router = APIRouter(prefix="/v1")
Reader = Annotated[Principal, Depends(require_scopes("notes:read"))]


class NoteCreate(BaseModel):
    text: str


@router.post("/notes", status_code=201)
async def post_note(note: NoteCreate, request: Request) -> dict[str, int]:
    """Record a note."""
    request.app.state.handled.append(note.text)
    return {"length": len(note.text)}


@router.get("/notes/{name}")
async def read_note(name: str, caller: Reader, q: str | None = None) -> dict[str, str | None]:
    """Answer a note's name and the query."""
    return {"name": name, "q": q}


@router.get("/crash")
async def crash() -> None:
    """Fail as a bug would."""
    raise RuntimeError("a bug")


def build_app() -> FastAPI:
    settings = ServiceSettings(
        service_name="kit-test",
        api_keys={SecretStr("key-1"): frozenset({"notes:read"})},
    )
    app = create_app(
        settings, title="Kit", version="1", routers=[router], registry=CollectorRegistry()
    )
    app.state.handled = []
    return app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(
        transport=transport, base_url="http://kit.test", headers={"X-API-Key": "key-1"}
    )


@pytest.mark.parametrize(
    "path",
    [
        "/v1/notes/a%00b",
        "/v1/notes/ok?q=a%00b",
        "/v1/notes/ok?q%00=x",
        "/v1/notes/ok?q=x&q=%00",
    ],
)
async def test_nul_in_path_or_query_is_refused_with_400(path: str) -> None:
    async with client_for(build_app()) as client:
        answer = await client.get(path)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert "NUL character" in answer.json()["detail"]


async def test_an_overlong_path_or_query_is_refused_with_414() -> None:
    async with client_for(build_app()) as client:
        long_path = await client.get("/v1/notes/" + "a" * 3000)
        long_query = await client.get("/v1/notes/ok", params={"q": "b" * 9000})
    assert (long_path.status_code, long_query.status_code) == (414, 414)


async def test_safe_text_passes_the_guard_unchanged() -> None:
    async with client_for(build_app()) as client:
        answer = await client.get("/v1/notes/caf%C3%A9", params={"q": "tab\there \x1b \\u0000"})
    assert answer.status_code == 200
    assert answer.json() == {"name": "café", "q": "tab\there \x1b \\u0000"}


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (rb'{"text": "a\u0000b"}', "NUL"),
        (rb'{"text": "\ud800"}', "unpaired surrogate"),
        (rb'{"text": "\udc00\ud800"}', "unpaired surrogate"),
        (rb'{"text": "ok", "extra": "\ud83d"}', "unpaired surrogate"),
    ],
)
async def test_json_strings_that_cannot_be_stored_are_refused_before_the_handler(
    body: bytes, why: str
) -> None:
    app = build_app()
    async with client_for(app) as client:
        answer = await client.post(
            "/v1/notes", content=body, headers={"content-type": "application/json"}
        )
    assert answer.status_code == 400
    assert why in answer.json()["detail"]
    assert app.state.handled == []


async def test_escaped_backslashes_and_paired_surrogates_are_stored_text() -> None:
    app = build_app()
    body = rb'{"text": "C:\\u0000 \ud83d\ude00"}'
    async with client_for(app) as client:
        answer = await client.post(
            "/v1/notes", content=body, headers={"content-type": "application/json"}
        )
    assert answer.status_code == 201
    assert app.state.handled == ["C:\\u0000 \U0001f600"]


async def test_a_crash_is_a_problem_500_and_the_connection_stays_open() -> None:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(build_app(), host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    serving = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, within=10, what="the server started")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = b"GET /v1/crash HTTP/1.1\r\nHost: kit\r\n\r\n"
        writer.write(request + request)  # two requests on one connection
        await writer.drain()
        answers = []
        for _ in range(2):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            answers.append((head, await asyncio.wait_for(reader.readexactly(length), 10)))
        writer.close()
    finally:
        server.should_exit = True
        await serving
    for head, body in answers:
        assert head.startswith(b"HTTP/1.1 500")
        assert b"application/problem+json" in head
        assert b"connection: close" not in head.lower()
        assert b"an unexpected error occurred" in body
        assert b"a bug" not in body


def operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return dict(document["paths"][path][method])


async def test_the_openapi_document_names_every_problem_answer() -> None:
    async with client_for(build_app()) as client:
        document = (await client.get("/openapi.json")).json()
    secured = operation(document, "/v1/notes/{name}", "get")["responses"]
    assert {"400", "401", "403", "404", "422", "429", "500"} <= set(secured)
    assert set(secured["401"]["content"]) == {"application/problem+json"}
    assert set(secured["422"]["content"]) == {"application/problem+json"}
    open_route = operation(document, "/v1/notes", "post")["responses"]
    assert "401" not in open_route
    assert "404" not in open_route
    assert "413" in open_route
    assert "Retry-After" in open_route["429"]["headers"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "Problem" in document["components"]["schemas"]
