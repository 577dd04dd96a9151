"""TrytonClient over HttpTarget: reads retried, writes never re-sent, rate honoured, re-login."""

import base64
import json
from typing import Any

import httpx
import pytest

from tandem_connectors import AuthenticationFailed, SystemUnavailable
from tandem_connectors.http import RetryPolicy
from tandem_connectors.ratelimit import TokenBucket
from tandem_connectors.tryton import TrytonClient

LOGIN = "common.db.login"
# Retry-After 0: the short in-call retry goes at once, so no test waits on a backoff.
BUSY = httpx.Response(503, headers={"Retry-After": "0"})


class Tryton:
    """A Tryton JSON-RPC endpoint in a script: logs in with a new token each time, answers
    other calls from ``answers`` (a status, or a result), and records every request."""

    def __init__(self, *answers: int | Any) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str | None]] = []  # (method, session token) per request
        self.logins = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        authorization = request.headers.get("Authorization")
        token = base64.b64decode(authorization.split()[1]).decode() if authorization else None
        self.sent.append((body["method"], token))
        assert request.url == "http://tryton.test/acme/rpc/"
        if body["method"] == LOGIN:
            self.logins += 1
            return httpx.Response(200, json={"id": body["id"], "result": [1, f"t{self.logins}"]})
        answer = self.answers.pop(0)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json={"id": body["id"], "result": answer})

    def client(self, bucket: TokenBucket | None = None) -> TrytonClient:
        return TrytonClient(
            "http://tryton.test", "acme", "admin", "admin-pw", instance="tryton-us",
            bucket=bucket, retry=RetryPolicy(attempts=3, first_wait=0.001, max_wait=0.01),
            transport=httpx.MockTransport(self.handle),
        )  # fmt: skip

    def methods(self) -> list[str]:
        return [method for method, _ in self.sent]


async def test_a_read_answered_busy_is_retried_and_succeeds() -> None:
    tryton = Tryton(BUSY, [{"id": 7, "name": "Globex"}])
    async with tryton.client() as client:
        rows = await client.search_read("party.party", [], ["name"])
    assert rows == [{"id": 7, "name": "Globex"}]
    assert tryton.methods() == [LOGIN, *["model.party.party.search_read"] * 2]


async def test_a_read_busy_past_the_attempts_surfaces_as_system_unavailable() -> None:
    tryton = Tryton(BUSY, BUSY, BUSY)
    async with tryton.client() as client:
        with pytest.raises(SystemUnavailable) as caught:
            await client.search("party.party", [])
    assert caught.value.downstream == "erp:tryton-us"
    assert tryton.methods().count("model.party.party.search") == 3


async def test_a_write_answered_busy_is_not_sent_again() -> None:
    tryton = Tryton(BUSY, [99])
    async with tryton.client() as client:
        with pytest.raises(SystemUnavailable):
            await client.create("timesheet.line", [{"duration": 3600}])
        # The caller's retry (with its idempotency key) is what may send it again.
        assert await client.create("timesheet.line", [{"duration": 3600}]) == [99]
    assert tryton.methods() == [LOGIN, "model.timesheet.line.create", "model.timesheet.line.create"]


@pytest.mark.parametrize(
    ("method", "args"), [("write", ([5], {"name": "Phase 2"})), ("delete", ([5],))]
)
async def test_other_writes_answered_busy_are_not_sent_again(
    method: str, args: tuple[Any, ...]
) -> None:
    tryton = Tryton(BUSY)
    async with tryton.client() as client:
        with pytest.raises(SystemUnavailable):
            await client.call("project.work", method, *args)
    assert tryton.methods() == [LOGIN, f"model.project.work.{method}"]


class Time:
    """A clock and a sleep for a token bucket: sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_every_request_waits_for_the_instance_token_bucket() -> None:
    time = Time()
    bucket = TokenBucket(rate=2.0, burst=1, clock=time.clock, sleep=time.sleep)
    tryton = Tryton([1], BUSY, [2], [3])
    async with tryton.client(bucket) as client:
        await client.search("party.party", [])  # the login spent the burst: this one waits
        await client.search("party.party", [])  # this one too, and its retry after "busy"
        time.now += 10.0  # a quiet spell refills the bucket (up to its burst, one)
        await client.search("party.party", [])
    assert time.slept == [0.5, 0.5, 0.5]
    assert len(tryton.sent) == 5


async def test_an_expired_session_logs_in_again_once() -> None:
    tryton = Tryton(httpx.Response(401), [{"id": 3}])
    async with tryton.client() as client:
        assert await client.read("party.party", [3], ["id"]) == [{"id": 3}]
    assert tryton.sent == [
        (LOGIN, None),
        ("model.party.party.read", "admin:1:t1"),
        (LOGIN, None),
        ("model.party.party.read", "admin:1:t2"),
    ]


async def test_credentials_refused_after_a_new_login_surface_as_authentication_failed() -> None:
    tryton = Tryton(httpx.Response(401), httpx.Response(403))
    async with tryton.client() as client:
        with pytest.raises(AuthenticationFailed):
            await client.read("party.party", [3], ["id"])
    assert tryton.methods() == [LOGIN, "model.party.party.read"] * 2
