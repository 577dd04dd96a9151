"""observability against hostile input: its api and worker as real processes
(``python -m observability``) on real RabbitMQ and PostgreSQL.

- every route answers bad input with a 4xx that says what is wrong (a problem document);
- the credentials matrix: 401 without a proof, 403 without the scope;
- malformed messages on its queue are parked with their reason, and valid events after them
  are still recorded;
- schemathesis holds the API to its OpenAPI document.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from observability.bootstrap import DEFINITION as OBSERVABILITY
from observability.service_layer.recording import QUEUE as OBSERVABILITY_QUEUE
from tandem_contracts import Envelope, encode, new_id
from tandem_contracts.samples import sample_envelopes
from tandem_service_kit import apply_migrations
from tandem_testing import LocalService, eventually, free_port

from .corpus import (
    AmqpCase,
    HttpCase,
    amqp_cases,
    body_cases,
    key_values,
    limit_values,
    query_cases,
)
from .test_bad_input_corpus import auth_cases, kit_cases, publish_corpus, run_http, schemathesis

logger = logging.getLogger(__name__)

OPERATOR_KEY = "system-test-observability-operator-key"
READER_KEY = "system-test-observability-reader-key"
OPERATOR_SCOPES = ["observability:read", "parked:read", "parked:replay", "parked:discard"]
UNREACHABLE = "time-expense"  # a parking lot configured at a port nothing listens on


@pytest.fixture
async def observability(
    database_url: str, amqp_url: str, tmp_path: Path
) -> AsyncIterator[LocalService]:
    """observability's processes (none started yet), its schema applied as `migrate` would."""
    await apply_migrations(database_url, OBSERVABILITY.migrations)
    lots = {UNREACHABLE: {"url": f"http://127.0.0.1:{free_port()}", "api_key": "k"}}
    deployed = LocalService(
        module="observability",
        name="observability",
        database_url=database_url,
        amqp_url=amqp_url,
        logs=tmp_path,
        settings={
            "TANDEM_LOG_LEVEL": "WARNING",
            "TANDEM_API_KEYS": json.dumps(
                {OPERATOR_KEY: OPERATOR_SCOPES, READER_KEY: ["observability:read"]}
            ),
            "TANDEM_PARKING_LOTS": json.dumps(lots),
            "TANDEM_RATE_LIMIT": "100000/minute",
            "TANDEM_KPI_INTERVAL_S": "0.5",
        },
    )
    try:
        yield deployed
    finally:
        deployed.stop()


def _id_values() -> list[tuple[str, str, int]]:
    """Hostile correlation ids and keys in a path (1..255 characters, no white space)."""
    return [
        ("nul", "%00abc", 400),
        ("over-255", "a" * 256, 422),
        ("whitespace", "a%20b", 422),
        ("escape-sequence", "%1B%5B31m", 422),
        ("next-line", "a%C2%85b", 422),
        ("sql-injection", "%27OR%271%27%3D%271", 404),
        ("unicode", "caf%C3%A9%F0%9F%98%80", 404),
        ("dot-segments", "..%2F..%2Fetc", 404),
        ("well-formed-unknown", "flow-nobody", 404),
    ]


def observability_cases() -> Iterator[HttpCase]:
    """Hostile requests of every observability route."""
    # An id holds no white space: values with spaces are refused, not searched.
    spaced = {"whitespace", "sql-injection", "sql-comment", "escape-sequence"}
    search = [(n, v, 422 if n in spaced else s) for n, v, s in key_values()]
    yield from query_cases("/v1/search", "q", search)
    for name, value, status in _id_values():
        yield HttpCase(f"GET timeline {name}", "GET", f"/v1/timelines/{value}", status)
        yield HttpCase(f"GET key {name}", "GET", f"/v1/keys/time_entry/{value}", status)
    yield HttpCase("GET key kind upper", "GET", "/v1/keys/TIME/te-1", 422)
    yield HttpCase("GET key kind 41 long", "GET", "/v1/keys/" + "k" * 41 + "/te-1", 422)
    yield from query_cases("/v1/kpis", "region", [
        ("over-32", "r" * 33, 422), ("whitespace", "e%20u", 422), ("nul", "eu%00", 400),
        ("unknown", "mars", 200), ("known", "eu", 200),
    ])  # fmt: skip
    yield from query_cases("/v1/audit", "limit", limit_values())
    for route in ("/v1/slos", "/v1/reconciliation", "/v1/fleet", "/v1/parking-lots",
                  "/v1/whoami", "/v1/kpis"):  # fmt: skip
        yield HttpCase(f"GET {route}", "GET", route, 200)
    parked = f"/v1/parking-lots/{UNREACHABLE}"
    yield HttpCase("GET parked not-a-uuid", "GET", f"{parked}/messages/not-a-uuid", 422)
    yield HttpCase("GET parked of an unreachable lot", "GET", f"{parked}/messages/{new_id()}", 502)
    yield HttpCase("GET parked unknown service", "GET",
                   f"/v1/parking-lots/nope/messages/{new_id()}", 404)  # fmt: skip
    yield HttpCase("GET parked bad service", "GET",
                   f"/v1/parking-lots/No%20pe/messages/{new_id()}", 422)  # fmt: skip
    yield HttpCase("GET replay", "GET", f"{parked}/replay", 405)
    for action in ("replay", "discard"):
        yield from body_cases("POST", f"{parked}/{action}", {"ids": [new_id()], "why": "corpus"}, [
            ("no-ids", {"ids": []}, 422),
            ("ids-not-uuids", {"ids": ["a"]}, 422),
            ("501-ids", {"ids": [new_id() for _ in range(501)]}, 422),
            ("no-why", {"why": ...}, 422),
            ("blank-why", {"why": " \t "}, 422),
            ("control-why", {"why": "\u0001"}, 422),
            ("why-501", {"why": "w" * 501}, 422),
            ("not-json", b"{ids:", 422),
            ("a-json-array", b"[]", 422),
            ("unreachable-service", {}, 502),
        ])  # fmt: skip
    yield from body_cases("POST", "/v1/parking-lots/nope/replay",
                          {"ids": [new_id()], "why": "corpus"},
                          [("unknown-service", {}, 404)])  # fmt: skip


def reader_cases() -> Iterator[HttpCase]:
    """What a reader's key may not do."""
    reader = {"X-API-Key": READER_KEY, "content-type": "application/json"}
    body = json.dumps({"ids": [new_id()], "why": "corpus"}).encode()
    yield HttpCase("reader lists parking lots", "GET", "/v1/parking-lots", 403, None, reader)
    for action in ("replay", "discard"):
        route = f"/v1/parking-lots/{UNREACHABLE}/{action}"
        yield HttpCase(f"reader {action}s", "POST", route, 403, body, reader)


def _valid(event_type: str, correlation: str) -> Envelope[Any]:
    sample = next(e for e in sample_envelopes() if e.event_type == event_type)
    return sample.model_copy(update={
        "event_id": uuid.UUID(new_id()), "correlation_id": correlation,
        "occurred_at": datetime.now(UTC), "idempotency_key": f"corpus-{correlation}-{event_type}",
    })  # fmt: skip


async def test_observability_answers_bad_input_and_valid_events_are_still_recorded(
    observability: LocalService,
) -> None:
    service = observability
    service.start("api")
    service.start("worker")
    await service.wait_api()
    await service.wait_worker("worker")
    await service.wait_consuming(OBSERVABILITY_QUEUE)
    kit = [c for c in kit_cases() if c.url.startswith("/v1/parked")]
    own = (("GET", "/v1/timelines/x"), ("GET", "/v1/kpis"), ("POST", "/v1/parking-lots/x/replay"))
    bare = [c for c in auth_cases(own, reader_key=READER_KEY) if "/v1/inbound/" not in c.url]
    operator_cases = [*observability_cases(), *kit]
    async with (
        httpx.AsyncClient(base_url=service.api_url) as anonymous,
        httpx.AsyncClient(base_url=service.api_url, headers={"X-API-Key": OPERATOR_KEY},
                          timeout=30) as operator,
    ):  # fmt: skip
        wrong = await run_http(operator, operator_cases)
        wrong += await run_http(anonymous, [*bare, *reader_cases()])
        logger.info("observability corpus: %d HTTP cases, %d answered wrongly",
                    len(operator_cases) + len(bare), len(wrong))  # fmt: skip
        assert wrong == [], "\n".join(wrong)

        valid = _valid("TimeApproved", "corpus-before")
        malformed = list(amqp_cases(encode(valid)))
        await publish_corpus(service.amqp_url, malformed, valid.routing_key)
        reasons: Counter[str] = Counter()

        async def all_parked() -> bool:
            page = await operator.get("/v1/parked", params={"limit": 500})
            reasons.clear()
            reasons.update(item["reason"] for item in page.json()["items"])
            return reasons.total() >= len(malformed)

        await eventually(all_parked, within=90, what="every corpus message to be parked")
        assert reasons == Counter(case.reason for case in malformed)

        # Valid events after all that: recorded, each once.
        after = [_valid("TimeApproved", "corpus-after"), _valid("TimePosted", "corpus-after")]
        for event in after:
            await publish_corpus(service.amqp_url, [AmqpCase("valid", encode(event), "")],
                                 event.routing_key)  # fmt: skip

        async def recorded() -> bool:
            answer = await operator.get("/v1/timelines/corpus-after")
            return answer.status_code == 200 and len(answer.json()["steps"]) == 2

        await eventually(recorded, within=60, what="the valid events recorded")
        for url in (service.api_url, service.worker_url("worker")):
            assert (await anonymous.get(f"{url}/readyz")).status_code == 200


async def test_observability_holds_to_its_openapi_document(
    observability: LocalService, tmp_path: Path
) -> None:
    observability.start("api")
    await observability.wait_api()
    returncode, summary = await schemathesis(observability.api_url, OPERATOR_KEY, tmp_path)
    assert returncode == 0, summary
