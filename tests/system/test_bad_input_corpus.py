"""Hostile and careless input at every ingress of time-expense and project-sync, on real parts.

time-expense: the process API, the kit's routes, the signed webhooks and the AMQP queue each get
a corpus of bad input (``corpus``); every case must get its answer (a 4xx that says what is
wrong) or its parked reason, never a 500; the processes stay ready; and a month's valid work
sent after the corpus is still posted to the ERP. Schemathesis then holds the API to its OpenAPI
document.

project-sync: its api as a real process gets the same HTTP classes (its own routes, the kit's,
the credentials matrix, signed CRM webhooks), each answered with its 4xx problem and never a
500; it stays ready and still answers valid calls; and schemathesis, with the same options,
holds it to its OpenAPI document.

billing-readiness: its api and worker as real processes beside the sandbox ERP get its own
routes, the kit's (parking lot, company links), the credentials matrix and a reader deciding
on money (403); its queue gets the malformed messages and well-formed events it must refuse
for what they say (billable time without a rate, an expense in another currency, an invoice
never proposed, time of a project never activated), each parked with its reason; valid time
is still charged after; and schemathesis holds its api to its OpenAPI document.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest

from billing_readiness.bootstrap import DEFINITION as BILLING_READINESS
from billing_readiness.service_layer.handlers import QUEUE as BILLING_QUEUE
from project_sync.bootstrap import DEFINITION as PROJECT_SYNC
from tandem_connectors.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from tandem_contracts import Envelope, Producer, SystemKind, decode, encode, new_id
from tandem_messaging import declare_events_exchange
from tandem_sandbox import Sandbox
from tandem_service_kit import apply_migrations
from tandem_testing import LocalService
from time_expense.service_layer.handlers import QUEUE

from .corpus import (
    AmqpCase,
    HttpCase,
    amqp_cases,
    billing_amqp_cases,
    billing_api_cases,
    billing_reader_cases,
    billing_setup,
    billing_time,
    body_cases,
    id_path_values,
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


def kit_cases(inbound: str = "psa/psa") -> Iterator[HttpCase]:
    """The routes every service gets from the kit: parking lot, company links, webhooks
    (``inbound``: a ``<system>/<instance>`` the service ingests)."""
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
    instance = inbound.split("/")[1]
    yield HttpCase(
        "POST inbound unknown system", "POST", f"/v1/inbound/nope/{instance}", 404, b"{}"
    )
    yield from query_cases(
        f"/v1/inbound/{inbound}/set-aside", "limit", [v for v in limit_values() if v[2] != 200]
    )


def auth_cases(
    own: tuple[tuple[str, str], ...] = (("GET", "/v1/exceptions"), ("PUT", "/v1/fx-rates")),
    inbound: str = "psa/psa",
    reader_key: str = API_KEY,
) -> Iterator[HttpCase]:
    """The credentials matrix on a route of each kind (``own``: the service's own routes);
    ``reader_key`` holds the service's read scope only."""
    routes = [*own, ("GET", "/v1/parked"), ("GET", f"/v1/inbound/{inbound}/set-aside")]
    credentials = [
        ("none", {}),
        ("unknown-key", {"X-API-Key": "not-a-key"}),
        ("empty-key", {"X-API-Key": ""}),
        ("garbage-bearer", {"Authorization": "Bearer not.a.jwt"}),
        ("basic-beside-a-good-key", {"Authorization": "Basic YTpi", "X-API-Key": reader_key}),
        ("alg-none-jwt", {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}),
    ]
    for method, route in routes:
        for name, headers in credentials:
            yield HttpCase(
                f"{method} {route} credentials={name}", method, route, 401, b"{}", headers
            )
    # The reader's key lacks these scopes.
    reader = {"X-API-Key": reader_key, "content-type": "application/json"}
    yield HttpCase("replay without parked:replay", "POST", "/v1/parked/replay", 403, b"{}", reader)
    yield HttpCase(
        "set-aside without inbound:read", "GET", f"/v1/inbound/{inbound}/set-aside", 403, None,
        reader,
    )  # fmt: skip


TIME_ENTRY = ("time_entry", {"id": "te-corpus", "version": 1, "worker_id": "w", "minutes": 60})


def webhook_cases(
    inbound: str = "psa/psa",
    subject: tuple[str, dict[str, Any]] = TIME_ENTRY,
    webhook_secret: str = WEBHOOK_SECRET,
) -> Iterator[HttpCase]:
    """Signed and unsigned deliveries to a system's webhook route (``inbound``:
    ``<system>/<instance>``), of a ``subject`` type and a record holding the value ``"w"``."""
    route = f"/v1/inbound/{inbound}"
    secret = webhook_secret.encode()

    def signed(body: bytes, **overrides: str) -> dict[str, str]:
        delivery = overrides.pop("delivery", new_id())
        at = int(overrides.pop("at", str(int(time.time()))))
        headers = {
            "content-type": "application/json",
            DELIVERY_HEADER: delivery,
            SIGNATURE_HEADER: sign(secret, body, at, delivery=delivery),
        }
        return headers | overrides

    kind, record = subject
    event = {"subject": {"type": kind}, "data": record}

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
    yield shaped("data not an object", {"subject": {"type": kind}, "data": "x"}, 400)
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
        await build(firm, deployment, http.erp, http.psa, crm_url=sandbox.urls["crm"])

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


async def schemathesis(api_url: str, key: str, folder: Path) -> tuple[int, str]:
    """Schemathesis over the API's OpenAPI document, every check; its exit code and summary."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{api_url}/openapi.json",
        "--checks", "all", "--max-examples", "25", "--seed", "20261128",
        "--header", f"X-API-Key: {key}", "--request-timeout", "10",
        "--generation-allow-x00", "false", "--generation-with-security-parameters", "false",
        "--no-color", "--max-failures", "20", "--workers", "1",
    ]  # fmt: skip
    run = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=os.environ | {"SCHEMATHESIS_HOOKS": ""}, cwd=folder,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(run.communicate(), timeout=600)
    summary = output.decode(errors="replace")[-6000:]
    logger.info("schemathesis: %s", summary)
    assert run.returncode is not None
    return run.returncode, summary


async def test_the_process_api_holds_to_its_openapi_document(
    sandbox: Sandbox, deployment: Deployment, tmp_path: Path
) -> None:
    deployment.start("api")
    await deployment.wait_api()
    returncode, summary = await schemathesis(deployment.api_url, OPERATOR_KEY, tmp_path)
    assert returncode == 0, summary


# --- project-sync ------------------------------------------------------------------------
# Its api as a real process (``python -m project_sync api``) against the sandbox CRM, PSA and
# ERP, with an operator key holding every scope it and the kit know, and a reader's key.

PS_OPERATOR_KEY = "system-test-q2c-operator-key"
PS_READER_KEY = "system-test-q2c-reader-key"
PS_OPERATOR_SCOPES = [
    "q2c:read", "q2c:write", "parked:read", "parked:replay", "parked:discard",
    "inbound:read", "inbound:write", "links:read", "links:write",
]  # fmt: skip
CRM_SECRET = "crm-webhook-secret-for-system-tests"
OPPORTUNITY = (
    "opportunity",
    {"id": "opp-corpus", "version": 1, "account_id": "acct-corpus", "name": "Corpus",
     "stage": "Negotiation", "owner": "w"},
)  # fmt: skip
SETUP: dict[str, Any] = {
    "selling_legal_entity_id": "le-us",
    "customer_id": "crm-acct-corpus",
    "currency": "USD",
}
CONTRACT: dict[str, Any] = {
    "billing_model": "time_and_materials", "total_value": {"amount": "1000.00", "currency": "USD"},
    "start_date": "2026-10-01", "why": "corpus",
}  # fmt: skip


@pytest.fixture
async def project_sync(
    sandbox: Sandbox, database_url: str, amqp_url: str, tmp_path: Path
) -> AsyncIterator[LocalService]:
    """project-sync's processes (none started yet), its schema applied as `migrate` would."""
    await apply_migrations(database_url, PROJECT_SYNC.migrations)
    urls = sandbox.urls
    limits = {"requests_per_second": 400, "burst": 200}
    deployed = LocalService(
        module="project_sync",
        name="project-sync",
        database_url=database_url,
        amqp_url=amqp_url,
        logs=tmp_path,
        settings={
            "TANDEM_LOG_LEVEL": "WARNING",
            "TANDEM_TENANT_ID": "acme",
            "TANDEM_API_KEYS": json.dumps(
                {PS_OPERATOR_KEY: PS_OPERATOR_SCOPES, PS_READER_KEY: ["q2c:read"]}
            ),
            "TANDEM_CRM_INSTANCES": json.dumps(
                {"crm": {"url": urls["crm"], "webhook_secret": CRM_SECRET, **limits}}
            ),
            "TANDEM_PSA_INSTANCES": json.dumps({"psa": {"url": urls["psa"], **limits}}),
            "TANDEM_ERP_INSTANCES": json.dumps(
                {"erp-sandbox": {"kind": "rest", "url": urls["erp"], **limits}}
            ),
            "TANDEM_ERP_BY_REGION": json.dumps({"us": "erp-sandbox", "eu": "erp-sandbox"}),
            "TANDEM_RATE_LIMIT": "100000/minute",
        },
    )
    try:
        yield deployed
    finally:
        deployed.stop()


def project_sync_api_cases() -> Iterator[HttpCase]:
    """project-sync's own routes (``/v1``)."""
    for parameter in ("opportunity", "customer", "project"):
        yield from query_cases(
            "/v1/quote-to-cash", parameter, [*key_values(found=404), ("over-64", "a" * 65, 422)]
        )
    # Without a filter nothing is listed: nothing matches (the OpenAPI cannot require one of
    # three optional parameters, so a 400 would refuse a request its schema allows).
    yield HttpCase("GET quote-to-cash no filter", "GET", "/v1/quote-to-cash", 404)
    yield HttpCase("GET quote-to-cash only unknown", "GET", "/v1/quote-to-cash?colour=red", 404)
    yield from query_cases(
        "/v1/sagas", "state",
        [("unknown", "nope", 422), ("upper-case", "STUCK", 422), ("nul", "%00", 400),
         ("list", "stuck,failed", 422), ("stuck", "stuck", 200), ("waiting", "waiting", 200)],
    )  # fmt: skip
    yield from query_cases(
        "/v1/sagas", "reason",
        [("unknown", "because", 422), ("empty", "", 422), ("known", "refused", 200)],
    )  # fmt: skip
    yield from query_cases("/v1/sagas", "limit", limit_values())
    for name, value, status in id_path_values():
        yield HttpCase(f"GET customer {name}", "GET", f"/v1/customers/{value}", status)
    yield HttpCase("GET customer path-too-long", "GET", "/v1/customers/" + "a" * 3000, 414)
    yield HttpCase("GET customers (no collection)", "GET", "/v1/customers", 404)
    for name, value, status in id_path_values()[
        :-2
    ]:  # the well-formed: answered below  # a well-formed id: its saga is unknown, answered below
        yield HttpCase(
            f"POST saga retry {name}", "POST", f"/v1/sagas/{value}/retry", status,
            b'{"why": "corpus"}', {"content-type": "application/json"},
        )  # fmt: skip
    action = "/v1/sagas/opp-none/retry"
    yield from body_cases(
        "POST",
        action,
        {"why": "corpus"},
        [
            ("unknown-opportunity", {}, 404),
            ("empty-why", {"why": ""}, 422),
            ("blank-why", {"why": "   "}, 422),
            ("control-why", {"why": "\u0007\t"}, 422),
            ("why-501", {"why": "w" * 501}, 422),
            ("no-why", {"why": ...}, 422),
            ("why-a-number", {"why": 7}, 422),
            ("unknown-field", {"actor": "someone-else"}, 422),
            ("not-json", b"{why:", 422),
            ("a-json-array", b"[]", 422),
            ("empty-body", b"", 422),
            ("nested-100k", nested(100_000), 400),
            ("nul-in-why", b'{"why": "c\\u0000"}', 400),
            ("lone-surrogate", b'{"why": "\\ud800"}', 400),
            ("two-megabytes", {"pad": "x" * 2_000_000}, 413),
        ],
    )
    for verb in ("resume", "cancel"):
        yield HttpCase(f"POST saga {verb} unknown", "POST", f"/v1/sagas/opp-none/{verb}", 404,
                       b'{"why": "corpus"}', {"content-type": "application/json"})  # fmt: skip
    yield HttpCase("POST saga unknown action", "POST", "/v1/sagas/opp-none/explode", 422,
                   b'{"why": "corpus"}', {"content-type": "application/json"})  # fmt: skip
    yield HttpCase("GET saga action", "GET", action, 405)
    yield from body_cases(
        "POST",
        "/v1/projects/validate",
        SETUP,
        [
            ("unknown-everything", {}, 200),
            ("unknown-currency", {"currency": "AAA"}, 422),
            ("lower-case-currency", {"currency": "usd"}, 422),
            ("currency-a-number", {"currency": 840}, 422),
            ("entity-with-space", {"selling_legal_entity_id": "le us"}, 422),
            ("entity-65", {"selling_legal_entity_id": "e" * 65}, 422),
            ("customer-empty", {"customer_id": ""}, 422),
            ("customer-missing", {"customer_id": ...}, 422),
            ("customer-sql", {"customer_id": "x' OR 1=1 --"}, 422),
            ("rate-card-unicode", {"rate_card_id": "caf\u00e9"}, 422),
            ("name-empty", {"name": ""}, 422),
            ("name-201", {"name": "n" * 201}, 422),
            ("tax-profile-unknown", {"tax_profile": "pirate"}, 422),
            ("unknown-field", {"discount": "100%"}, 422),
            ("not-json", b"{selling:", 422),
            ("a-json-array", b"[]", 422),
            ("empty-body", b"", 422),
            ("nested-100k", nested(100_000), 400),
            ("nul-in-name", json.dumps(SETUP | {"name": "a"}).replace(
                '"a"', '"a\\u0000"').encode(), 400),
            ("lone-surrogate", json.dumps(SETUP | {"name": "a"}).replace(
                '"a"', '"\\udc00"').encode(), 400),
            ("two-megabytes", {"name": "n", "pad": "x" * 2_000_000}, 413),
        ],
    )  # fmt: skip
    code = "/v1/billing-codes/P-NONE"
    yield from query_cases(
        code, "date",
        [("garbage", "garbage", 422), ("year-zero", "0000-01-01", 422),
         ("february-30", "2026-02-30", 422), ("empty", "", 422), ("nul", "2026-10-01%00", 400),
         ("a-number", "20261001", 422), ("unknown-code", "2026-10-01", 404)],
    )  # fmt: skip
    yield HttpCase("GET billing code without date", "GET", code, 422)
    yield HttpCase("GET billing code 61 long", "GET",
                   "/v1/billing-codes/" + "C" * 61 + "?date=2026-10-01", 422)  # fmt: skip
    yield HttpCase("GET billing code nul", "GET", "/v1/billing-codes/P%00?date=2026-10-01", 400)
    yield from query_cases(
        code, "worker", [("over-64", "w" * 65, 422), ("empty", "", 422), ("known", "w-1", 404)],
        fixed="date=2026-10-01",
    )  # fmt: skip
    contract = "/v1/opportunities/opp-none/contract"
    money: dict[str, str] = CONTRACT["total_value"]
    yield from body_cases(
        "PUT",
        contract,
        CONTRACT,
        [
            ("unknown-opportunity", {}, 404),
            ("billing-model-unknown", {"billing_model": "barter"}, 422),
            ("amount-word", {"total_value": money | {"amount": "lots"}}, 422),
            ("amount-nan", {"total_value": money | {"amount": "NaN"}}, 422),
            ("amount-infinite", {"total_value": money | {"amount": "Infinity"}}, 422),
            ("amount-huge-exponent", {"total_value": money | {"amount": "1e400"}}, 422),
            ("amount-10^18", {"total_value": money | {"amount": "1" + "0" * 18}}, 422),
            ("amount-18-digits", {"total_value": money | {"amount": "9" * 18 + ".99"}}, 404),
            ("cap-10^18", {"cap": money | {"amount": "-1" + "0" * 18}}, 422),
            ("currency-unknown", {"total_value": money | {"currency": "AAA"}}, 422),
            ("money-extra-field", {"total_value": money | {"fx": "1"}}, 422),
            ("terms-366", {"payment_terms_days": 366}, 422),
            ("terms-negative", {"payment_terms_days": -1}, 422),
            ("terms-beyond-64-bits", {"payment_terms_days": 2**70}, 422),
            ("start-february-30", {"start_date": "2026-02-30"}, 422),
            ("start-year-zero", {"start_date": "0000-01-01"}, 422),
            ("start-missing", {"start_date": ...}, 422),
            ("po-61", {"po_number": "p" * 61}, 422),
            ("contract-id-with-space", {"contract_id": "a b"}, 422),
            ("po-required-a-word", {"po_required": "maybe"}, 422),
            ("empty-why", {"why": ""}, 422),
            ("blank-why", {"why": " \t "}, 422),
            ("unknown-field", {"approved_by": "someone-else"}, 422),
            ("not-json", b"{billing:", 422),
            ("a-json-array", b"[]", 422),
            ("nested-100k", nested(100_000), 400),
            ("nul-in-po", json.dumps(CONTRACT | {"po_number": "p"}).replace(
                '"p"', '"p\\u0000"').encode(), 400),
            ("two-megabytes", {"pad": "x" * 2_000_000}, 413),
        ],
    )  # fmt: skip
    for name, value, status in id_path_values()[:-2]:  # the well-formed: answered below
        yield HttpCase(f"PUT contract {name}", "PUT", f"/v1/opportunities/{value}/contract",
                       status, json.dumps(CONTRACT).encode(),
                       {"content-type": "application/json"})  # fmt: skip


def project_sync_auth_cases() -> Iterator[HttpCase]:
    """The credentials matrix on project-sync's routes, and its reader's missing scopes."""
    own = (("GET", "/v1/sagas"), ("PUT", "/v1/opportunities/opp-none/contract"))
    yield from auth_cases(own, inbound="crm/crm", reader_key=PS_READER_KEY)
    reader = {"X-API-Key": PS_READER_KEY, "content-type": "application/json"}
    body = json.dumps(CONTRACT).encode()
    yield HttpCase("contract without q2c:write", "PUT", "/v1/opportunities/opp-none/contract",
                   403, body, reader)  # fmt: skip
    yield HttpCase("cancel without q2c:write", "POST", "/v1/sagas/opp-none/cancel", 403,
                   b'{"why": "corpus"}', reader)  # fmt: skip


async def test_project_sync_answers_bad_input_and_valid_traffic_still_answered(
    project_sync: LocalService,
) -> None:
    project_sync.start("api")
    await project_sync.wait_api()
    operator_cases = [*project_sync_api_cases(), *kit_cases(inbound="crm/crm")]
    bare_cases = [
        *project_sync_auth_cases(),
        *webhook_cases("crm/crm", OPPORTUNITY, CRM_SECRET),
    ]
    async with (
        httpx.AsyncClient(base_url=project_sync.api_url) as bare,
        httpx.AsyncClient(
            base_url=project_sync.api_url, headers={"X-API-Key": PS_OPERATOR_KEY}
        ) as operator,
    ):
        wrong = await run_http(operator, operator_cases)
        wrong += await run_http(bare, bare_cases)
        logger.info(
            "project-sync corpus: %d HTTP cases, %d answered wrongly",
            len(operator_cases) + len(bare_cases), len(wrong),
        )  # fmt: skip
        assert wrong == [], "\n".join(wrong)

        # Still ready, and valid traffic is still answered, with what it asked for.
        assert (await bare.get("/readyz")).status_code == 200
        checked = await operator.post(
            "/v1/projects/validate", json=SETUP | {"rate_card_id": "rc-none"}
        )
        assert checked.status_code == 200, checked.text
        assert checked.json()["valid"] is False
        codes = {problem["code"] for problem in checked.json()["problems"]}
        assert {"customer_unknown", "rate_card_unknown"} <= codes, codes
        sagas = await operator.get("/v1/sagas", params={"state": "failed", "limit": 10})
        assert sagas.status_code == 200, sagas.text
        assert sagas.json() == {"items": []}
        # The one signed record the corpus delivered landed once, for the ingestion.
        landed = await operator.get("/v1/inbound/crm/crm/set-aside")
        assert landed.status_code == 200, landed.text


async def test_project_sync_holds_to_its_openapi_document(
    project_sync: LocalService, tmp_path: Path
) -> None:
    project_sync.start("api")
    await project_sync.wait_api()
    returncode, summary = await schemathesis(project_sync.api_url, PS_OPERATOR_KEY, tmp_path)
    assert returncode == 0, summary


# --- billing-readiness -----------------------------------------------------------------------
# Its api and worker as real processes (``python -m billing_readiness``) beside the sandbox
# ERP, with an operator key holding every scope it and the kit know, and a reader's key.

BR_OPERATOR_KEY = "system-test-billing-operator-key"
BR_READER_KEY = "system-test-billing-reader-key"
BR_OPERATOR_SCOPES = [
    "billing:read", "billing:release", "billing:operate", "parked:read", "parked:replay",
    "parked:discard", "links:read", "links:write",
]  # fmt: skip


@pytest.fixture
async def billing_readiness(
    sandbox: Sandbox, database_url: str, amqp_url: str, tmp_path: Path
) -> AsyncIterator[LocalService]:
    """billing-readiness's processes (none started yet), its schema applied as `migrate`
    would."""
    await apply_migrations(database_url, BILLING_READINESS.migrations)
    limits = {"requests_per_second": 400, "burst": 200}
    deployed = LocalService(
        module="billing_readiness",
        name="billing-readiness",
        database_url=database_url,
        amqp_url=amqp_url,
        logs=tmp_path,
        settings={
            "TANDEM_LOG_LEVEL": "WARNING",
            "TANDEM_TENANT_ID": "acme",
            "TANDEM_API_KEYS": json.dumps(
                {BR_OPERATOR_KEY: BR_OPERATOR_SCOPES, BR_READER_KEY: ["billing:read"]}
            ),
            "TANDEM_ERP_INSTANCES": json.dumps(
                {"erp-sandbox": {"kind": "rest", "url": sandbox.urls["erp"], **limits}}
            ),
            "TANDEM_ERP_BY_REGION": json.dumps({"us": "erp-sandbox", "eu": "erp-sandbox"}),
            "TANDEM_ENTITY_COUNTRIES": json.dumps({"le-uk": "GB"}),
            "TANDEM_RATE_LIMIT": "100000/minute",
        },
    )
    try:
        yield deployed
    finally:
        deployed.stop()


def billing_kit_and_auth_cases() -> tuple[list[HttpCase], list[HttpCase]]:
    """The kit's routes (with an operator key) and the credentials matrix (bare): those of a
    service that ingests from no system (no inbound routes)."""
    own = (("GET", "/v1/charges"), ("POST", "/v1/charges/chg-none/release"),
           ("GET", "/v1/reconciliation"))  # fmt: skip
    kit = [c for c in kit_cases() if "/v1/inbound/" not in c.url]
    bare = [c for c in auth_cases(own, reader_key=BR_READER_KEY) if "/v1/inbound/" not in c.url]
    return kit, [*bare, *billing_reader_cases(BR_READER_KEY)]


async def test_billing_readiness_answers_bad_input_and_valid_time_is_still_charged(
    billing_readiness: LocalService,
) -> None:
    service = billing_readiness
    service.start("api")
    service.start("worker")
    await service.wait_api()
    await service.wait_worker("worker")
    await service.wait_consuming(BILLING_QUEUE)
    kit, bare_cases = billing_kit_and_auth_cases()
    operator_cases = [*billing_api_cases(), *kit]
    async with (
        httpx.AsyncClient(base_url=service.api_url) as bare,
        httpx.AsyncClient(base_url=service.api_url, headers={"X-API-Key": BR_OPERATOR_KEY},
                          timeout=30) as operator,
    ):  # fmt: skip
        wrong = await run_http(operator, operator_cases)
        wrong += await run_http(bare, bare_cases)
        logger.info(
            "billing-readiness corpus: %d HTTP cases, %d answered wrongly",
            len(operator_cases) + len(bare_cases), len(wrong),
        )  # fmt: skip
        assert wrong == [], "\n".join(wrong)

        # The customer and project the events are about, then the hostile messages.
        for setup in billing_setup():
            await publish_corpus(service.amqp_url, [AmqpCase("setup", encode(setup), "")],
                                 setup.routing_key)  # fmt: skip

        async def active() -> bool:
            answer = await operator.get("/v1/projects/p-corpus/billing")
            return answer.status_code == 200

        await eventually(active, within=60, what="the corpus project active")
        valid = billing_time("te-valid")
        malformed, refused = list(amqp_cases(encode(valid))), list(billing_amqp_cases())
        await publish_corpus(service.amqp_url, malformed, valid.routing_key)
        for case in refused:  # each under its own event's key
            await publish_corpus(service.amqp_url, [case], decode(case.body).routing_key)
        amqp = [*malformed, *refused]
        reasons: Counter[str] = Counter()

        async def all_parked() -> bool:
            page = await operator.get(
                "/v1/parked", params={"consumer": BILLING_QUEUE, "limit": 500}
            )
            reasons.clear()
            reasons.update(item["reason"] for item in page.json()["items"])
            return reasons.total() >= len(amqp)

        try:
            await eventually(all_parked, within=90, what="every corpus message to be parked")
        finally:
            logger.info("billing corpus: %d AMQP cases; parked: %s", len(amqp), dict(reasons))
        assert reasons == Counter(case.reason for case in amqp)

        for url in (service.api_url, service.worker_url("worker")):
            ready = await bare.get(f"{url}/readyz")
            assert ready.status_code == 200, (url, ready.text)

        # Valid time after all that: charged at its rate, ready to invoice.
        await publish_corpus(service.amqp_url, [AmqpCase("valid", encode(valid), "")],
                             valid.routing_key)  # fmt: skip
        charges: list[dict[str, Any]] = []

        async def charged() -> bool:
            page = await operator.get("/v1/charges", params={"project_id": "p-corpus"})
            charges[:] = page.json()["items"]
            return bool(charges)

        await eventually(charged, within=60, what="the valid time to be charged")
        [charge] = charges
        assert (charge["source_id"], charge["amount"]) == (
            "te-valid", {"amount": "150.00", "currency": "GBP"},
        )  # fmt: skip
        assert (charge["holds"], charge["status"]) == ([], "open")


async def test_billing_readiness_holds_to_its_openapi_document(
    billing_readiness: LocalService, tmp_path: Path
) -> None:
    billing_readiness.start("api")
    await billing_readiness.wait_api()
    returncode, summary = await schemathesis(billing_readiness.api_url, BR_OPERATOR_KEY, tmp_path)
    assert returncode == 0, summary
