"""Hostile and careless input at every ingress of time-expense, on real parts.

The process API, the kit's routes, the signed webhooks and the AMQP queue each get a corpus of
bad input (``corpus``); every case must get its answer (a 4xx that says what is wrong) or its
parked reason, never a 500; the processes stay ready; and a month's valid work sent after the
corpus is still posted to the ERP. Schemathesis then holds the API to its OpenAPI document.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aio_pika
import httpx

from tandem_connectors.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from tandem_contracts import Envelope, Producer, SystemKind, encode, new_id
from tandem_messaging import declare_events_exchange
from tandem_sandbox import Sandbox
from time_expense.service_layer.handlers import QUEUE

from .corpus import (
    AmqpCase,
    HttpCase,
    amqp_cases,
    body_cases,
    key_values,
    limit_values,
    nested,
    period_values,
    query_cases,
)
from .harness import (
    API_KEY,
    OPERATOR_KEY,
    WEBHOOK_SECRET,
    Deployment,
    clients,
    eventually,
    weekdays,
)
from .story import build, decide, log_week, onboarding, posted_count, psa_approved, the_firm

logger = logging.getLogger(__name__)
WEEK = weekdays(date(2026, 10, 12), date(2026, 10, 16))
FX_RATE = {
    "id": "fx-corpus-1", "base": "EUR", "quote": "USD", "rate": "1.0825",
    "rate_type": "spot", "effective_date": "2026-10-01", "source": "ecb",
}  # fmt: skip


def process_api_cases() -> Iterator[HttpCase]:
    """time-expense's own routes."""
    for parameter in ("timesheet_id", "project_id", "after"):
        yield from query_cases("/v1/time-entries", parameter, key_values())
    yield from query_cases("/v1/time-entries", "limit", limit_values())
    yield from query_cases(
        "/v1/time-entries",
        "stage",
        [("unknown", "nope", 422), ("upper-case", "POSTED", 422), ("nul", "%00", 400),
         ("known", "posted", 200)],
    )  # fmt: skip
    for parameter in ("legal_entity_id", "practice_id", "after"):
        yield from query_cases("/v1/exceptions", parameter, key_values())
    yield from query_cases("/v1/exceptions", "limit", limit_values())
    yield from query_cases(
        "/v1/exceptions",
        "region",
        [("upper-case", "US", 422), ("too-long", "abcdefghi", 422), ("known", "us", 200)],
    )
    yield from query_cases(
        "/v1/exceptions",
        "open_only",
        [("word", "maybe", 422), ("number", "2", 422), ("true", "true", 200), ("one", "1", 200)],
    )
    yield from query_cases("/v1/postings/summary", "period", period_values())
    for parameter in ("project_id", "legal_entity_id"):
        yield from query_cases(
            "/v1/postings/summary", parameter, key_values(), fixed="period=2026-10"
        )
    for name, value, status in key_values(found=404):
        if status == 422 and not value:
            status = 307  # an empty last segment: redirected to the collection
        elif status == 414:
            continue  # a path that long is refused by the query rule's twin below
        yield HttpCase(f"GET entry {name}", "GET", f"/v1/time-entries/{value}", status)
    yield HttpCase("GET entry path-too-long", "GET", "/v1/time-entries/" + "a" * 3000, 414)
    yield HttpCase("GET entry dot-segments", "GET", "/v1/time-entries/..%2F..%2Fetc", 404)
    yield from body_cases(
        "PUT",
        "/v1/fx-rates",
        {"rates": [FX_RATE]},
        [
            ("float-rate", {"rates": [FX_RATE | {"rate": 1.0825}]}, 422),
            ("word-rate", {"rates": [FX_RATE | {"rate": "abc"}]}, 422),
            ("nan-rate", {"rates": [FX_RATE | {"rate": "NaN"}]}, 422),
            ("infinite-rate", {"rates": [FX_RATE | {"rate": "Infinity"}]}, 422),
            ("negative-rate", {"rates": [FX_RATE | {"rate": "-1"}]}, 422),
            ("huge-exponent", {"rates": [FX_RATE | {"rate": "1e400"}]}, 422),
            ("datetime-for-date",
             {"rates": [FX_RATE | {"effective_date": "2026-10-01T00:00:00"}]}, 422),
            ("year-zero", {"rates": [FX_RATE | {"effective_date": "0000-01-01"}]}, 422),
            ("february-30", {"rates": [FX_RATE | {"effective_date": "2026-02-30"}]}, 422),
            ("unknown-currency", {"rates": [FX_RATE | {"base": "AAA"}]}, 422),
            ("lower-case-currency", {"rates": [FX_RATE | {"quote": "usd"}]}, 422),
            ("id-10k", {"rates": [FX_RATE | {"id": "x" * 10_000}]}, 422),
            ("id-with-space", {"rates": [FX_RATE | {"id": "a b"}]}, 422),
            ("source-empty", {"rates": [FX_RATE | {"source": ""}]}, 422),
            ("missing-rate", {"rates": [{k: v for k, v in FX_RATE.items() if k != "rate"}]}, 422),
            ("no-rates", {"rates": []}, 422),
            ("rates-not-a-list", {"rates": {"a": 1}}, 422),
            ("not-json", b"{rates:", 422),
            ("a-json-array", b"[]", 422),
            ("empty-body", b"", 422),
            ("nested-100k", nested(100_000), 400),
            ("nul-in-source", json.dumps({"rates": [FX_RATE]}).replace(
                '"ecb"', '"ec\\u0000b"').encode(), 400),
            ("lone-surrogate", json.dumps({"rates": [FX_RATE]}).replace(
                '"ecb"', '"\\ud800"').encode(), 400),
            ("two-megabytes", {"rates": [FX_RATE], "pad": "x" * 2_000_000}, 413),
            ("integer-beyond-64-bits", {"rates": [FX_RATE | {"rate": 2**70}]}, 422),
        ],
    )  # fmt: skip
    reconcile = {"legal_entity_id": "le-nowhere", "period": "2026-10", "repair": False}
    yield from body_cases(
        "POST",
        "/v1/reconciliations",
        reconcile,
        [
            *((f"period-{name}", {"period": json.loads(f'"{value}"') if "%" not in value
               else value}, status) for name, value, status in period_values()
              if status == 422 and "%" not in value),
            ("unknown-entity", {}, 404),
            ("entity-empty", {"legal_entity_id": ""}, 422),
            ("entity-too-long", {"legal_entity_id": "x" * 65}, 422),
            ("entity-nul", json.dumps(reconcile).replace("le-nowhere", "le\\u0000").encode(), 400),
            ("repair-word", {"repair": "yes please"}, 422),
        ],
    )  # fmt: skip


def kit_cases() -> Iterator[HttpCase]:
    """The routes every service gets from the kit: parking lot, company links, webhooks."""
    for parameter in ("consumer", "reason", "event_type"):
        yield from query_cases(
            "/v1/parked", parameter, [v for v in key_values() if v[2] != 422 or v[1]]
        )
    yield from query_cases("/v1/parked", "limit", limit_values())
    yield from query_cases(
        "/v1/parked",
        "parked_after",
        [("garbage", "garbage", 422), ("year-zero", "0000-01-01T00:00:00Z", 422),
         ("valid", "2026-10-01T00:00:00Z", 200)],
    )  # fmt: skip
    yield HttpCase("GET parked not-a-uuid", "GET", "/v1/parked/not-a-uuid", 404)
    yield HttpCase("GET parked unknown", "GET", f"/v1/parked/{new_id()}", 404)
    yield HttpCase("GET parked/replay", "GET", "/v1/parked/replay", 405)
    yield from body_cases(
        "POST",
        "/v1/parked/replay",
        {"consumer": "nobody", "why": "corpus"},
        [
            ("nothing-selected", {"consumer": ...}, 422),
            ("empty-why", {"why": ""}, 422),
            ("blank-why", {"why": "   "}, 422),
            ("unknown-field", {"actor": "someone-else"}, 422),
            ("ids-not-uuids", {"ids": ["a", "b"]}, 422),
            ("nobody-selected", {}, 200),
        ],
    )
    entity = "/v1/legal-entities/le-us/erp-company"
    yield HttpCase("GET company unknown instance", "GET", f"{entity}?instance=nope", 404)
    yield HttpCase("GET company nul", "GET", "/v1/legal-entities/le%00/erp-company", 400)
    yield from body_cases(
        "PUT",
        entity,
        {"instance": "erp-sandbox", "company": "1", "why": "corpus"},
        [
            ("empty-why", {"why": ""}, 422),
            ("unknown-instance", {"instance": "nope"}, 404),
            ("company-nul", b'{"instance": "erp-sandbox", "company": "\\u0000", "why": "x"}', 400),
        ],
    )
    yield HttpCase("POST inbound unknown system", "POST", "/v1/inbound/nope/psa", 404, b"{}")
    yield from query_cases(
        "/v1/inbound/psa/psa/set-aside", "limit", [v for v in limit_values() if v[2] != 200]
    )


def auth_cases() -> Iterator[HttpCase]:
    """The credentials matrix on a route of each kind."""
    routes = [("GET", "/v1/exceptions"), ("GET", "/v1/parked"), ("PUT", "/v1/fx-rates"),
              ("GET", "/v1/inbound/psa/psa/set-aside")]  # fmt: skip
    credentials = [
        ("none", {}),
        ("unknown-key", {"X-API-Key": "not-a-key"}),
        ("empty-key", {"X-API-Key": ""}),
        ("garbage-bearer", {"Authorization": "Bearer not.a.jwt"}),
        ("basic-beside-a-good-key", {"Authorization": "Basic YTpi", "X-API-Key": API_KEY}),
        ("alg-none-jwt", {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}),
    ]
    for method, route in routes:
        for name, headers in credentials:
            yield HttpCase(
                f"{method} {route} credentials={name}", method, route, 401, b"{}", headers
            )
    # The reader's key lacks these scopes.
    reader = {"X-API-Key": API_KEY, "content-type": "application/json"}
    yield HttpCase("replay without parked:replay", "POST", "/v1/parked/replay", 403, b"{}", reader)
    yield HttpCase(
        "set-aside without inbound:read", "GET", "/v1/inbound/psa/psa/set-aside", 403, None, reader
    )


def webhook_cases() -> Iterator[HttpCase]:
    """Signed and unsigned deliveries to the PSA's webhook route."""
    route = "/v1/inbound/psa/psa"
    secret = WEBHOOK_SECRET.encode()

    def signed(body: bytes, **overrides: str) -> dict[str, str]:
        delivery = overrides.pop("delivery", new_id())
        at = int(overrides.pop("at", str(int(time.time()))))
        headers = {
            "content-type": "application/json",
            DELIVERY_HEADER: delivery,
            SIGNATURE_HEADER: sign(secret, body, at, delivery=delivery),
        }
        return headers | overrides

    record = {"id": "te-corpus", "version": 1, "worker_id": "w", "minutes": 60}
    event = {"subject": {"type": "time_entry"}, "data": record}

    def shaped(name: str, body: object | bytes, status: int) -> HttpCase:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return HttpCase(f"webhook {name}", "POST", route, status, raw, signed(raw))

    good = json.dumps(event).encode()
    yield HttpCase("webhook unsigned", "POST", route, 401, good)
    yield HttpCase(
        "webhook other secret", "POST", route, 401, good,
        signed(good) | {SIGNATURE_HEADER: sign(b"other", good, int(time.time()), delivery="d1"),
                        DELIVERY_HEADER: "d1"},
    )  # fmt: skip
    yield HttpCase("webhook stale", "POST", route, 401, good, signed(good, at="1000000000"))
    moved = signed(good)
    yield HttpCase(
        "webhook new delivery id under an old signature", "POST", route, 401, good,
        moved | {DELIVERY_HEADER: new_id()},
    )  # fmt: skip
    # HTTP cannot carry a NUL in a header; a long or non-ASCII delivery id it can.
    yield HttpCase("webhook delivery id 200 long", "POST", route, 401, good,
                   signed(good) | {DELIVERY_HEADER: "d" * 200})  # fmt: skip
    yield HttpCase("webhook delivery id not ascii", "POST", route, 401, good,
                   signed(good) | {DELIVERY_HEADER: "dé".encode()})  # fmt: skip
    yield HttpCase(
        "webhook v1 signature", "POST", route, 401, good,
        signed(good) | {SIGNATURE_HEADER: f"t={int(time.time())},v1={'0' * 64}"},
    )  # fmt: skip
    yield shaped("not json", b"{nope", 400)
    yield shaped("an array", [1, 2], 400)
    yield shaped("data not an object", {"subject": {"type": "time_entry"}, "data": "x"}, 400)
    yield shaped("id a number", {**event, "data": record | {"id": 7}}, 400)
    yield shaped("id 10k", {**event, "data": record | {"id": "x" * 10_000}}, 400)
    yield shaped("version a string", {**event, "data": record | {"version": "1"}}, 400)
    yield shaped("version beyond 64 bits", {**event, "data": record | {"version": 2**70}}, 400)
    yield shaped("number beyond 64 bits", {**event, "data": record | {"minutes": 2**70}}, 400)
    yield shaped("subject type a list", {**event, "subject": {"type": ["x"]}}, 400)
    yield shaped("subject type 10k", {**event, "subject": {"type": "t" * 10_000}}, 400)
    yield shaped("nested 10k", b'{"data": ' + nested(10_000) + b"}", 400)
    nul = json.dumps(event).replace('"w"', '"w\\u0000"').encode()
    yield HttpCase("webhook nul in the record", "POST", route, 400, nul, signed(nul))
    lone = json.dumps(event).replace('"w"', '"\\udc00"').encode()
    yield HttpCase("webhook lone surrogate", "POST", route, 400, lone, signed(lone))
    big = json.dumps({**event, "data": record | {"notes": "n" * 300_000}}).encode()
    yield HttpCase("webhook 300 KB record", "POST", route, 413, big, signed(big))
    once = signed(good)
    yield HttpCase("webhook first delivery", "POST", route, 202, good, once)
    yield HttpCase("webhook the same delivery again", "POST", route, 409, good, once)


async def run_http(api: httpx.AsyncClient, cases: list[HttpCase]) -> list[str]:
    """Send every case; return the cases whose answer was not the expected one."""
    wrong = []
    for case in cases:
        headers = [
            (name.encode(), value if isinstance(value, bytes) else value.encode())
            for name, value in case.headers.items()
        ]
        answer = await api.request(case.method, case.url, content=case.body, headers=headers)
        problem = answer.headers.get("content-type", "").startswith("application/problem+json")
        if answer.status_code != case.expect or (answer.status_code >= 400 and not problem):
            wrong.append(f"{case.name}: {answer.status_code} {answer.text[:160]}")
    return wrong


async def publish_corpus(amqp_url: str, cases: list[AmqpCase], routing_key: str) -> None:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_events_exchange(channel)
        for case in cases:
            message = aio_pika.Message(
                case.body, headers=dict(case.headers), content_type=case.content_type,
                message_id=new_id(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )  # fmt: skip
            await exchange.publish(message, routing_key=routing_key)


def valid_envelope() -> Envelope[Any]:
    firm = the_firm(us_consultants=1, de_consultants=0)
    event, entity, region, version = onboarding(firm.consultants[0])
    return Envelope.new(
        event, producer=Producer(service="staffing-sync", system=SystemKind.HRIS),
        tenant_id="acme", legal_entity_id=entity, data_residency_region=region,
        correlation_id="corpus", subject_version=version, occurred_at=datetime.now(UTC),
    )  # fmt: skip


async def test_every_ingress_answers_bad_input_and_valid_work_still_posts(
    sandbox: Sandbox, deployment: Deployment
) -> None:
    firm = the_firm(us_consultants=3, de_consultants=1)
    http_count = sum(1 for _ in [*process_api_cases(), *kit_cases(), *auth_cases()])
    http_count += sum(1 for _ in webhook_cases())
    envelope = valid_envelope()
    amqp = list(amqp_cases(encode(envelope)))
    async with clients(sandbox, deployment) as http:
        deployment.start("api")
        deployment.start_workers()
        await deployment.wait_api()
        await deployment.wait_workers()
        await build(firm, deployment, http.erp, http.psa)

        async with (
            httpx.AsyncClient(base_url=deployment.api_url) as bare,
            httpx.AsyncClient(
                base_url=deployment.api_url, headers={"X-API-Key": OPERATOR_KEY}
            ) as operator,
        ):
            wrong = await run_http(operator, [*process_api_cases(), *kit_cases()])
            wrong += await run_http(bare, [*auth_cases(), *webhook_cases()])
        logger.info("corpus: %d HTTP cases, %d answered wrongly", http_count, len(wrong))
        assert wrong == [], "\n".join(wrong)
        await publish_corpus(deployment.amqp_url, amqp, envelope.routing_key)
        reasons: Counter[str] = Counter()

        async def all_parked() -> bool:
            page = await http.api.get("/v1/parked", params={"consumer": QUEUE, "limit": 500})
            reasons.clear()
            reasons.update(item["reason"] for item in page.json()["items"])
            return reasons.total() >= len(amqp)

        try:
            await eventually(all_parked, within=60, what="every corpus message to be parked")
        finally:
            logger.info("corpus: %d AMQP cases; parked reasons: %s", len(amqp), dict(reasons))
        assert reasons == Counter(case.reason for case in amqp)

        for name in ("api", *deployment.worker_ports):
            url = deployment.api_url if name == "api" else deployment.worker_url(name)
            ready = await http.api.get(f"{url}/readyz")
            assert ready.status_code == 200, (name, ready.text)

        # A week of valid work after all that: every approved entry posts to the ERP.
        for sheet in (await log_week(firm, http.psa, WEEK)).values():
            await decide(http.psa, sheet, "submit", "approve")
        approved = len(await psa_approved(http.psa))
        assert approved == len(WEEK) * len(firm.consultants)

        async def all_posted() -> bool:
            return await posted_count(deployment.database_url) == approved

        await eventually(all_posted, within=120, what="the valid week to post")

        # The one signed record the corpus landed cannot be mapped: it is set aside, visible.
        async with httpx.AsyncClient(
            base_url=deployment.api_url, headers={"X-API-Key": OPERATOR_KEY}
        ) as operator:
            aside = (await operator.get("/v1/inbound/psa/psa/set-aside")).json()["items"]
        assert [item["record_id"] for item in aside] == ["te-corpus"], aside
        assert aside[0]["reason"]


async def test_the_process_api_holds_to_its_openapi_document(
    sandbox: Sandbox, deployment: Deployment, tmp_path: Path
) -> None:
    deployment.start("api")
    await deployment.wait_api()
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{deployment.api_url}/openapi.json",
        "--checks", "all", "--max-examples", "25", "--seed", "20261128",
        "--header", f"X-API-Key: {OPERATOR_KEY}", "--request-timeout", "10",
        "--generation-allow-x00", "false", "--generation-with-security-parameters", "false",
        "--no-color", "--max-failures", "20", "--workers", "1",
    ]  # fmt: skip
    run = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=os.environ | {"SCHEMATHESIS_HOOKS": ""}, cwd=tmp_path,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(run.communicate(), timeout=600)
    summary = output.decode(errors="replace")[-6000:]
    logger.info("schemathesis: %s", summary)
    assert run.returncode == 0, summary
