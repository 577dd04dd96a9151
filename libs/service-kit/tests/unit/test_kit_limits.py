"""Limits on every API: 413 for bodies over their limit, 429 for clients over the rate limit."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from prometheus_client import REGISTRY, CollectorRegistry
from pydantic import BaseModel, ValidationError
from starlette.types import Message

from tandem_service_kit import ServiceSettings, create_app

router = APIRouter(prefix="/v1")


class NoteCreate(BaseModel):
    text: str


@router.post("/notes", status_code=201)
async def post_note(note: NoteCreate, request: Request) -> dict[str, int]:
    """Record a note."""
    request.app.state.handled.append(note.text)
    return {"length": len(note.text)}


@router.post("/raw/{name:path}")
async def post_raw(name: str, request: Request) -> dict[str, int]:
    """Take a body as it comes."""
    body = await request.body()
    request.app.state.handled.append(body)
    return {"length": len(body)}


@router.get("/ping")
async def ping() -> dict[str, str]:
    """Answer."""
    return {"status": "pong"}


def build_app(**settings: Any) -> FastAPI:
    values: dict[str, Any] = {"service_name": "kit-test", "max_body_bytes": 100} | settings
    app = create_app(
        ServiceSettings.model_validate(values),
        title="Kit",
        version="1",
        routers=[router],
        registry=CollectorRegistry(),
    )
    app.state.handled = []
    return app


def client_for(app: FastAPI, client: tuple[str, int] = ("10.0.0.1", 5000)) -> httpx.AsyncClient:
    # The app's lifespan (PostgreSQL, RabbitMQ) never runs: ASGITransport does not start it.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://kit.test")


def limited(reason: str) -> float:
    return REGISTRY.get_sample_value("tandem_http_limited_total", {"reason": reason}) or 0.0


async def streamed(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def note(size: int) -> dict[str, str]:
    return {"text": "x" * (size - len('{"text":""}'))}  # a JSON body of exactly `size` bytes


# --- body size -----------------------------------------------------------------------------


async def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body() -> None:
    app = build_app()
    sent: list[Message] = []
    headers = [(b"content-length", b"101"), (b"x-request-id", b"req-413")]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "http",
        "method": "POST",
        "path": "/v1/notes",
        "raw_path": b"/v1/notes",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("10.0.0.1", 1),
        "server": ("kit.test", 80),
    }

    async def receive() -> Message:
        raise AssertionError("the body was read")

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)

    start = sent[0]
    assert start["status"] == 413
    assert (b"x-request-id", b"req-413") in start["headers"]
    assert (b"content-type", b"application/problem+json") in start["headers"]
    assert b"limit of 100 bytes" in sent[1]["body"]
    assert app.state.handled == []


async def test_a_body_within_the_limit_is_served() -> None:
    async with client_for(app := build_app()) as client:
        response = await client.post("/v1/notes", json=note(100))

    assert response.status_code == 201
    assert len(app.state.handled) == 1


@pytest.mark.parametrize("route", ["/v1/notes", "/v1/raw/upload"])
async def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit(route: str) -> None:
    pulled: list[bytes] = []

    async def chunks() -> AsyncIterator[bytes]:
        for chunk in [b'{"text":"', *[b"y" * 40] * 10, b'"}']:
            pulled.append(chunk)
            yield chunk

    async with client_for(app := build_app()) as client:
        response = await client.post(route, content=chunks())

    assert "content-length" not in response.request.headers  # sent chunked
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "the request body is larger than the limit of 100 bytes"
    assert "x-request-id" in response.headers
    assert len(pulled) == 4  # 9 + 40 + 40 + 40 bytes: the fourth chunk passed 100
    assert app.state.handled == []  # no handler ran, nor took a cut-off body for a whole one


async def test_the_longest_matching_prefix_sets_the_body_limit() -> None:
    limits = {"/v1/raw/imports/": 1000, "/v1/raw/imports/tiny/": 10}
    async with client_for(build_app(body_limits=limits)) as client:
        big_import = await client.post("/v1/raw/imports/2024", content=b"i" * 1000)
        tiny = await client.post("/v1/raw/imports/tiny/1", content=b"t" * 11)
        elsewhere = await client.post("/v1/raw/other", content=b"o" * 101)

    assert big_import.status_code == 200
    assert tiny.status_code == 413
    assert "limit of 10 bytes" in tiny.json()["detail"]
    assert elsewhere.status_code == 413
    assert "limit of 100 bytes" in elsewhere.json()["detail"]


# --- rate ----------------------------------------------------------------------------------


async def test_a_client_over_the_rate_limit_gets_429_with_retry_after() -> None:
    async with client_for(build_app(rate_limit="3/minute")) as client:
        answers = [await client.get("/v1/ping") for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["content-type"] == "application/problem+json"
    assert "3 per 1 minute" in refused.json()["detail"]
    assert "x-request-id" in refused.headers


async def test_each_credential_has_its_own_count() -> None:
    async with client_for(build_app(rate_limit="2/minute")) as client:
        first = [await client.get("/v1/ping", headers={"X-API-Key": "key-a"}) for _ in range(3)]
        second = await client.get("/v1/ping", headers={"X-API-Key": "key-b"})
        bearer = await client.get("/v1/ping", headers={"Authorization": "Bearer tok-c"})
        anonymous = await client.get("/v1/ping")
        first_again = await client.get("/v1/ping", headers={"X-API-Key": "key-a"})

    assert [answer.status_code for answer in first] == [200, 200, 429]
    assert (second.status_code, bearer.status_code, anonymous.status_code) == (200, 200, 200)
    assert first_again.status_code == 429


async def test_forwarded_for_is_ignored_unless_trusted() -> None:
    for trusted, expected in [(False, 429), (True, 200)]:
        app = build_app(rate_limit="1/minute", trust_forwarded_for=trusted)
        async with client_for(app) as client:
            await client.get("/v1/ping", headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.1"})
            other = await client.get("/v1/ping", headers={"X-Forwarded-For": "198.51.100.2"})

        assert other.status_code == expected, f"trust_forwarded_for={trusted}"


async def test_addresses_are_counted_apart() -> None:
    app = build_app(rate_limit="1/minute")
    async with client_for(app, ("10.0.0.1", 1)) as one, client_for(app, ("10.0.0.2", 1)) as two:
        assert (await one.get("/v1/ping")).status_code == 200
        assert (await one.get("/v1/ping")).status_code == 429
        assert (await two.get("/v1/ping")).status_code == 200


async def test_a_prefix_with_a_smaller_limit_refuses_sooner_than_the_default() -> None:
    app = build_app(rate_limit="4/minute", rate_limits={"/v1/raw/": "2/minute"})
    async with client_for(app) as client:
        raw = [await client.post(f"/v1/raw/{n}", content=b"r") for n in range(3)]
        pings = [await client.get("/v1/ping") for _ in range(5)]

    assert [answer.status_code for answer in raw] == [200, 200, 429]
    assert "2 per 1 minute" in raw[-1].json()["detail"]
    assert [answer.status_code for answer in pings] == [200, 200, 200, 200, 429]
    assert "4 per 1 minute" in pings[-1].json()["detail"]


async def test_a_prefix_is_counted_apart_from_the_default_for_the_same_client() -> None:
    app = build_app(rate_limit="2/minute", rate_limits={"/v1/raw/": "3/minute"})
    key = {"X-API-Key": "key-a"}
    async with client_for(app) as client:
        # The client uses up its default allowance; its prefix allowance is untouched.
        pings = [await client.get("/v1/ping", headers=key) for _ in range(3)]
        raw = [await client.post("/v1/raw/a", content=b"r", headers=key) for _ in range(4)]
        # And the other way round: the exhausted prefix leaves the default as it was.
        ping_again = await client.get("/v1/ping", headers=key)
        other_client = await client.post("/v1/raw/a", content=b"r", headers={"X-API-Key": "b"})

    assert [answer.status_code for answer in pings] == [200, 200, 429]
    assert [answer.status_code for answer in raw] == [200, 200, 200, 429]
    assert ping_again.status_code == 429
    assert other_client.status_code == 200


async def test_the_longest_matching_prefix_sets_the_rate_limit() -> None:
    limits = {"/v1/raw/": "5/minute", "/v1/raw/tiny/": "1/minute"}
    async with client_for(build_app(rate_limits=limits)) as client:
        tiny = [await client.post("/v1/raw/tiny/1", content=b"t") for _ in range(2)]
        elsewhere = [await client.post("/v1/raw/other", content=b"o") for _ in range(5)]

    assert [answer.status_code for answer in tiny] == [200, 429]
    assert [answer.status_code for answer in elsewhere] == [200] * 5


async def test_probes_and_scrapes_are_never_limited_by_a_prefix_either() -> None:
    async with client_for(build_app(rate_limits={"/": "1/minute"})) as client:
        answers = [await client.get("/healthz") for _ in range(3)]
        await client.get("/v1/ping")
        refused = await client.get("/v1/ping")

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert refused.status_code == 429


async def test_probes_and_scrapes_are_never_limited() -> None:
    async with client_for(build_app(rate_limit="1/minute")) as client:
        await client.get("/v1/ping")
        assert (await client.get("/v1/ping")).status_code == 429

        for _ in range(5):
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/metrics")).status_code == 200
            # Without a lifespan /readyz has no pool and fails, but never with a 429.
            assert (await client.get("/readyz")).status_code != 429


# --- metrics and settings ------------------------------------------------------------------


async def test_each_refusal_is_counted_by_reason() -> None:
    before = {reason: limited(reason) for reason in ("body_size", "rate")}
    async with client_for(build_app(rate_limit="2/minute")) as client:
        await client.post("/v1/raw/a", content=b"z" * 101)  # declared length
        await client.post("/v1/raw/b", content=streamed(b"z" * 60, b"z" * 60))  # streamed
        await client.get("/v1/ping")  # the third request: over the rate

    assert limited("body_size") == before["body_size"] + 2
    assert limited("rate") == before["rate"] + 1


def test_limit_settings_have_safe_defaults() -> None:
    settings = ServiceSettings(service_name="time-expense")

    assert settings.max_body_bytes == 1_048_576
    assert settings.body_limits == {"/v1/inbound/": 262_144}  # one record per webhook
    assert settings.rate_limit == "600/minute"
    assert settings.trust_forwarded_for is False


def test_limit_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_BODY_LIMITS", '{"/v1/inbound/": 262144}')
    monkeypatch.setenv("TANDEM_RATE_LIMIT", "20 per 10 seconds")
    monkeypatch.setenv("TANDEM_TRUST_FORWARDED_FOR", "true")

    settings = ServiceSettings(service_name="time-expense")

    assert settings.body_limits == {"/v1/inbound/": 262144}
    assert settings.rate_limit == "20 per 10 seconds"
    assert settings.trust_forwarded_for is True


@pytest.mark.parametrize("value", ["lots", "600/fortnight", "0/minute", "5/second;100/minute"])
def test_an_invalid_rate_limit_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match=r"rate_limit[\s\S]*such as '600/minute'"):
        ServiceSettings(service_name="time-expense", rate_limit=value)


def test_signed_webhooks_get_a_larger_rate_limit_by_default() -> None:
    settings = ServiceSettings(service_name="time-expense")

    assert settings.rate_limits == {"/v1/inbound/": "12000/minute"}


def test_rate_limits_per_prefix_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TANDEM_RATE_LIMITS", '{"/v1/inbound/": "50 per second"}')

    settings = ServiceSettings(service_name="time-expense")

    assert settings.rate_limits == {"/v1/inbound/": "50 per second"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"v1/inbound/": "600/minute"}, "must start with '/': v1/inbound/"),
        ({"/v1/inbound/": "lots"}, "such as '600/minute'"),
        ({"/v1/inbound/": "0/minute"}, "such as '600/minute'"),
        ({"/v1/inbound/": "5/second;100/minute"}, "such as '600/minute'"),
    ],
    ids=["relative-prefix", "not-a-limit", "zero", "two-limits"],
)
def test_an_invalid_prefix_rate_limit_is_refused(value: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=rf"rate_limits[\s\S]*{message}"):
        ServiceSettings(service_name="time-expense", rate_limits=value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_body_bytes", 0, "greater than or equal to 1"),
        ("body_limits", {"/v1/": 0}, "greater than or equal to 1"),
        ("body_limits", {"v1/": 10}, "must start with '/': v1/"),
    ],
)
def test_invalid_body_limits_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=rf"{field}[\s\S]*{message}"):
        ServiceSettings.model_validate({"service_name": "time-expense", field: value})
