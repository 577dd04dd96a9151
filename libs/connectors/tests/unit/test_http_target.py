"""HttpTarget sorts answers into the runtime's failure classes and retries only what is safe."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tandem_connectors import (
    AuthenticationFailed,
    NotFound,
    PeriodClosed,
    RequestRejected,
    SystemUnavailable,
    UnexpectedResponse,
)
from tandem_connectors.http import HttpTarget, RetryPolicy, retry_after_seconds


class Script:
    """Answers requests from a list, one per call, and records what was sent."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.sent: list[httpx.Request] = []
        self.slept: list[float] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def target(self, **kwargs) -> HttpTarget:
        return HttpTarget(
            "http://erp.test",
            downstream="erp:us",
            retry=RetryPolicy(attempts=3, first_wait=0.01, max_wait=5.0),
            transport=httpx.MockTransport(self.handle),
            sleep=self.sleep,
            **kwargs,
        )


def ok() -> httpx.Response:
    return httpx.Response(200, json={"id": "1"})


async def test_a_read_is_retried_through_short_5xx_and_succeeds() -> None:
    script = Script(httpx.Response(503), httpx.Response(502), ok())
    async with script.target() as target:
        reply = await target.request("GET", "/v1/customers/1")
    assert reply.json() == {"id": "1"}
    assert len(script.sent) == 3
    assert len(script.slept) == 2


async def test_retry_after_is_honoured_to_the_second() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "2"}), ok())
    async with script.target() as target:
        await target.request("GET", "/v1/projects")
    assert script.slept == [2.0]


async def test_a_long_retry_after_is_left_to_the_runtime_not_waited_in_a_worker() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "120"}))
    async with script.target() as target:
        with pytest.raises(SystemUnavailable) as caught:
            await target.request("GET", "/v1/projects")
    assert caught.value.retry_after == 120.0
    assert caught.value.downstream == "erp:us"
    assert len(script.sent) == 1
    assert script.slept == []


async def test_a_write_without_a_key_is_never_sent_twice() -> None:
    script = Script(httpx.Response(503), ok())
    async with script.target() as target:
        with pytest.raises(SystemUnavailable):
            await target.request("POST", "/v1/time-bills", json={"minutes": 60})
    assert len(script.sent) == 1


async def test_a_write_with_a_key_is_retried_with_the_same_key() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), ok())
    async with script.target() as target:
        await target.request("POST", "/v1/time-bills", json={}, idempotency_key="te-1:v1")
    assert [r.headers["Idempotency-Key"] for r in script.sent] == ["te-1:v1"] * 3


async def test_an_outage_outlasting_the_attempts_surfaces_as_system_unavailable() -> None:
    script = Script(*[httpx.ConnectError("refused")] * 3)
    async with script.target() as target:
        with pytest.raises(SystemUnavailable, match="refused"):
            await target.request("GET", "/v1/periods")
    assert len(script.sent) == 3


@pytest.mark.parametrize(
    ("answer", "error", "reason"),
    [
        (
            httpx.Response(400, json={"code": "PERIOD_CLOSED", "detail": "2026-09"}),
            PeriodClosed,
            "period_closed",
        ),
        (
            httpx.Response(422, json={"code": "INVALID_FIELD", "detail": "x"}),
            RequestRejected,
            "invalid_field",
        ),
        (httpx.Response(409, text="conflict"), RequestRejected, "http_409"),
        (httpx.Response(404, json={"detail": "no such project"}), NotFound, "not_found"),
    ],
)
async def test_rejections_are_permanent_with_their_reason_and_not_retried(
    answer: httpx.Response, error: type[RequestRejected], reason: str
) -> None:
    script = Script(answer)
    async with script.target() as target:
        with pytest.raises(error) as caught:
            await target.request("POST", "/v1/x", json={}, idempotency_key="k")
    assert caught.value.reason == reason
    assert len(script.sent) == 1


@pytest.mark.parametrize(
    ("answer", "error"),
    [(httpx.Response(401), AuthenticationFailed), (httpx.Response(302), UnexpectedResponse)],
)
async def test_credentials_refused_is_an_outage_and_a_redirect_is_unexpected(
    answer: httpx.Response, error: type[Exception]
) -> None:
    script = Script(answer)
    async with script.target() as target:
        with pytest.raises(error):
            await target.request("GET", "/v1/x")
    assert len(script.sent) == 1


async def test_every_attempt_waits_for_the_instance_token_bucket() -> None:
    taken: list[int] = []

    class Bucket:
        async def take(self) -> None:
            taken.append(1)

    script = Script(httpx.Response(503), ok())
    async with script.target(bucket=Bucket()) as target:
        await target.request("GET", "/v1/x")
    assert len(taken) == 2


now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = retry_after_seconds(format_datetime(now() + timedelta(seconds=90), usegmt=True))
    assert later is not None
    assert 80 <= later <= 90
    assert retry_after_seconds(format_datetime(now() - timedelta(hours=1), usegmt=True)) == 0.0
