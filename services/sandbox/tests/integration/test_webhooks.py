import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tandem_connectors.webhooks import WebhookRejected, verify
from tandem_sandbox import Sandbox
from tandem_sandbox._server import SystemServer
from tandem_testing import eventually

SECRET = "a-shared-webhook-secret"


@dataclass
class Receiver:
    url: str = ""
    fail_first: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    attempts: int = 0
    attempt_ids: list[str] = field(default_factory=list)
    requests: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    async def handle(self, request: Request) -> JSONResponse:
        self.attempts += 1
        self.attempt_ids.append(request.headers["x-tandem-delivery"])
        if self.attempts <= self.fail_first:
            return JSONResponse({}, status_code=500)
        body = await request.body()
        self.requests.append((body, dict(request.headers)))
        try:
            delivery = verify(SECRET.encode(), body, dict(request.headers))
        except WebhookRejected as exc:
            self.rejected.append(exc.reason)
            return JSONResponse({}, status_code=401)
        self.received.append({"delivery": delivery, **json.loads(body)})
        return JSONResponse({})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
    server = SystemServer("receiver", app, "127.0.0.1", 0, None)
    await server.start()
    receiver.url = f"{server.url}/hook"
    try:
        yield receiver
    finally:
        await server.stop()


async def _subscribe(client: httpx.AsyncClient, base: str, url: str, types: list[str]) -> None:
    answer = await client.post(
        f"{base}/v1/webhooks", json={"url": url, "secret": SECRET, "event_types": types}
    )
    assert answer.status_code == 201, answer.text


def _seq(event: dict[str, Any]) -> int:
    return int(event["id"].rsplit("_", 1)[1])


async def test_deliveries_are_signed_and_faults_match_the_configured_counts(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    psa, control = sandbox.urls["psa"], sandbox.urls["control"]
    async with httpx.AsyncClient() as client:
        faults = {"webhook_drop_pct": 20, "webhook_duplicate_pct": 10, "webhook_reorder_pct": 10}
        await client.put(f"{control}/_sandbox/faults/psa", json={"seed": 5, **faults})
        await _subscribe(client, psa, receiver.url, ["resource.created"])
        for n in range(50):
            created = await client.post(f"{psa}/v1/resources", json={"name": f"Consultant {n}"})
            assert created.status_code == 201

        counters = sandbox.faults["psa"].counters

        async def settled() -> bool:
            return (
                len(receiver.received)
                == 50 - counters["webhook_dropped"] + counters["webhook_duplicated"]
                and counters["webhook_reordered"] >= 1
            )

        await eventually(settled, within=5, what="the deliveries settled")
    # Exactly 20 % dropped; duplicates are 10 % of the 40 sent (4, or 5 by the seeded phase).
    assert counters["webhook_dropped"] == 10
    assert counters["webhook_duplicated"] in (4, 5)
    assert 1 <= counters["webhook_reordered"] <= 5
    event_ids = [event["id"] for event in receiver.received]
    assert len(set(event_ids)) == 40
    assert len(event_ids) - len(set(event_ids)) == counters["webhook_duplicated"]
    # A duplicate is a new delivery of the same event: receivers dedupe by event id.
    assert len({event["delivery"] for event in receiver.received}) == len(event_ids)
    seqs = [_seq(event) for event in receiver.received]
    assert any(later < earlier for earlier, later in itertools.pairwise(seqs))
    assert receiver.rejected == []


async def test_a_failing_subscriber_is_retried_with_the_same_delivery_id(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    crm = sandbox.urls["crm"]
    async with httpx.AsyncClient() as client:
        await _subscribe(client, crm, receiver.url, [])
        account = await client.post(
            f"{crm}/v1/accounts", json={"name": "Globex", "country": "DE", "currency": "EUR"}
        )
        assert account.status_code == 201

        async def delivered() -> bool:
            return sandbox.faults["crm"].counters["webhook_delivered"] == 1

        await eventually(delivered, within=5, what="the delivery")
    assert receiver.received[0]["type"] == "account.created"
    assert len(receiver.attempt_ids) == 3
    assert len(set(receiver.attempt_ids)) == 1
    assert sandbox.faults["crm"].counters["webhook_failed_attempts"] == 2
    assert sandbox.faults["crm"].counters["webhook_delivered"] == 1
    # The signature covers the delivery id: a delivery re-sent under another id fails.
    body, headers = receiver.requests[-1]
    assert verify(SECRET.encode(), body, headers) == receiver.attempt_ids[-1]
    with pytest.raises(WebhookRejected) as resent:
        verify(SECRET.encode(), body, {**headers, "x-tandem-delivery": "dlv_other"})
    assert resent.value.reason == "bad_signature"
