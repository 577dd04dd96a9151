"""``make bench-quote-to-cash``: project-sync from a won opportunity to ``ProjectActivated``,
beside the raw broker ceiling measured in the same run, for ``docs/capacity.md``.

Each deployment gets a fresh database and vhost, the in-process sandbox CRM and PSA (this
process), an ERP (the sandbox HTTP ERP, or a real Tryton), and project-sync's api and one
worker (every role) as real processes (``python -m project_sync``), with
``TANDEM_SOW_FROM_OPPORTUNITY=true``: a commit also approves a time-and-materials contract, so
the CRM stage change alone runs the saga to ``ProjectActivated`` (no contract API call).

1. sandbox ERP: ``--accounts`` CRM accounts (US, DE with valid VAT ids, GB) linked to ERP
   customers, and ``2 * --opportunities`` opportunities at Negotiation, all ingested, before
   anything is timed; then
   - **burst**: ``--opportunities`` moved to Closed Won at once (``--writers`` concurrent
     PATCHes to the CRM);
   - **steady**: the other ``--opportunities`` moved to Closed Won at ``--rate`` per second;
2. Tryton: the same with ``--tryton`` opportunities in a burst (0 skips it), the worker at
   ``--tryton-lanes`` (default 1, as the figures in docs/capacity.md were measured: before the
   adapter drew a colliding project number again, concurrent shells failed ``refused``);
3. the raw ceiling: plain aio-pika publish-with-confirms and consume on a quorum queue
   (``tools/bench_runtime.py``'s raw run, median of three) of as many messages as the burst
   put on the bus.

Commit time: the CRM's stage change (``sandbox.events.occurred_at`` of its
``opportunity.stage_changed`` to Closed Won, the database clock of the PATCH). Active time:
when this process's own queue, bound to the events exchange, receives the opportunity's
``ProjectActivated`` (the announcement's own ``occurred_at`` is reported beside it). Both clocks
are this machine's. Opportunities/s: committed opportunities / (last ``ProjectActivated``
received - first commit). Duplicates: ERP and PSA projects per opportunity counted through the
systems' APIs (the sandbox ``GET /v1/projects`` pages, Tryton's ``project.work`` search), each
must be exactly one, with the same code in both; and ``ProjectActivated`` announcements per
project (distinct event ids). Peak RSS: ``VmHWM`` of the api and the worker. CPU: the worker's
and this process's (the sandbox systems and the driver) user + system seconds per opportunity.
The CRM webhook subscription names the record events only (``--all-webhook-events``: every
event, which holds up the webhook lane: see ``docs/capacity.md``). Bounded: every wait stops
at ``--max-wait`` (a set-up wait fails, a run's wait reports what it has); 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import httpx

from month.bench import raw_ceiling
from month.systems import ROOT, _fresh_database, _fresh_vhost, _urls
from project_sync.bootstrap import DEFINITION
from project_sync.domain.keys import project_id
from project_sync.service_layer.handlers import QUEUE
from project_sync.service_layer.ingest import canonical_id
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.ports import AbstractErp
from tandem_connectors.rest import RestErp
from tandem_connectors.tryton import TrytonClient, TrytonErp
from tandem_contracts import Envelope, Money, Producer
from tandem_contracts.entities import (
    LegalEntity,
    RateCard,
    RateCardScope,
    RateCardStatus,
    RateCardVersion,
)
from tandem_contracts.events import RateCardPublished
from tandem_messaging import Outbox, declare_events_exchange
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import Sandbox, SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations
from tandem_testing import LocalService, TrytonServer, eventually, tryton_server

TICK = os.sysconf("SC_CLK_TCK")
WEBHOOK_SECRET = os.urandom(16).hex()
API_KEY = os.urandom(16).hex()
ERP = "erp"
ENTITIES = {
    "le-us": LegalEntity(id="le-us", name="Acme Consulting Inc.", country="US",
                         functional_currency="USD", data_residency_region="us"),
    "le-de": LegalEntity(id="le-de", name="Acme Consulting GmbH", country="DE",
                         functional_currency="EUR", data_residency_region="eu"),
    "le-gb": LegalEntity(id="le-gb", name="Acme Consulting Ltd", country="GB",
                         functional_currency="GBP", data_residency_region="uk"),
}  # fmt: skip
# One worker with every role (the default), or the consumer in a process of its own and
# ingestion, the relay and the jobs in another (as time-expense is deployed).
ROLES = frozenset({"consume", "ingest", "relay", "schedule"})
SINGLE = {"worker": ROLES}
SPLIT = {"worker": frozenset({"consume"}), "ingest": ROLES - {"consume"}}
RECORD_EVENTS = ["account.created", "account.updated", "opportunity.created",
                 "opportunity.updated"]  # fmt: skip
_KEY = re.compile(r"^project:(?P<opportunity>.+):g(?P<generation>\d+):(?P<write>[a-z-]+)$")
_COMMITS = """
SELECT subject_id, occurred_at FROM sandbox.events
WHERE system = 'crm' AND type = 'opportunity.stage_changed' AND data->>'to' = 'Closed Won'
"""
# How each of the run's Closed Won versions first landed in project-sync.
_LANDED = """
SELECT via, count(*) AS n FROM (
  SELECT DISTINCT ON (record_id) record_id, via FROM connectors.inbound
  WHERE system = 'crm' AND record_type = 'opportunity' AND record_id = ANY($1::text[])
    AND payload->>'stage' = 'Closed Won'
  ORDER BY record_id, sequence
) AS first GROUP BY via
"""
# The run's lags inside project-sync, database clock: a commit landed -> handed on as events
# (ingestion), and an outbox row written -> published (the relay).
_HOPS = """
SELECT (SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP
          (ORDER BY extract(epoch FROM settled_at - received_at)) FROM connectors.inbound
        WHERE system = 'crm' AND record_type = 'opportunity' AND record_id = ANY($1::text[])
          AND payload->>'stage' = 'Closed Won' AND status = 'published') AS ingest,
       (SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP
          (ORDER BY extract(epoch FROM published_at - created_at)) FROM messaging.outbox
        WHERE id > $2) AS relay
"""
_OUTBOX = "SELECT coalesce(max(id), 0) FROM messaging.outbox"
_STATES = """
SELECT state, count(*) AS n FROM project_sync.sagas WHERE generation > 0 GROUP BY state
"""


# --- the deployment ------------------------------------------------------------------------


@dataclass
class Bus:
    """What this process's own queue received from the events exchange."""

    received: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)

    def first(self, event_type: str) -> dict[str, tuple[datetime, datetime]]:
        """Per subject id: when the first ``event_type`` arrived, and its ``occurred_at``."""
        seen: dict[str, tuple[datetime, datetime]] = {}
        for at, body in self.received:
            if body["event_type"] == event_type and body["subject"]["id"] not in seen:
                occurred = datetime.fromisoformat(body["occurred_at"])
                seen[body["subject"]["id"]] = (at, occurred)
        return seen

    def announcements(self, event_type: str) -> Counter[str]:
        """Distinct envelopes (event ids) of ``event_type`` per subject id."""
        distinct = {b["event_id"]: b for _, b in self.received if b["event_type"] == event_type}
        return Counter(b["subject"]["id"] for b in distinct.values())


@dataclass
class Deployment:
    flavour: str
    sandbox: Sandbox
    service: LocalService
    database_url: str
    bus: Bus
    crm: httpx.AsyncClient
    tryton: TrytonServer | None


@contextlib.asynccontextmanager
async def deployed(flavour: str, args: argparse.Namespace, logs: Path) -> AsyncIterator[Deployment]:
    """A fresh database and vhost, the sandbox, the ERP, project-sync's api and worker, this
    process's queue on the events exchange, the rate cards known and the CRM webhook set."""
    admin, amqp, management = _urls()
    run = f"bench_q2c_{flavour}"
    database_url = await _fresh_database(admin, run)
    amqp_url = await _fresh_vhost(amqp, management, run.replace("_", "-"))
    await apply_migrations(database_url, [*DEFINITION.migrations, SANDBOX_MIGRATIONS])
    async with contextlib.AsyncExitStack() as stack:
        settings = SandboxSettings(database_url=database_url, base_port=0)
        sandbox = await stack.enter_async_context(run_sandbox(settings))
        tryton = None
        if flavour == "tryton":
            tryton = stack.enter_context(tryton_server(ROOT / ".tandem" / "tryton", run))
        erp_config, erp = await _erp(stack, sandbox, tryton)
        for entity in ENTITIES.values():  # the companies, under the entity id as key
            await erp.ensure_legal_entity(entity, key=entity.id)
        lanes = args.tryton_lanes if flavour == "tryton" else args.lanes
        service = _service(sandbox, erp_config, database_url, amqp_url, logs, args, lanes)
        stack.callback(service.stop)
        bus = await stack.enter_async_context(_recording(amqp_url))
        service.start("api")
        service.start_workers(SPLIT if args.split else SINGLE)
        await service.wait_api()
        for name in SPLIT if args.split else SINGLE:
            await service.wait_worker(name)
        await service.wait_consuming(QUEUE)
        await _publish_rate_cards(database_url)
        crm = await stack.enter_async_context(
            httpx.AsyncClient(base_url=sandbox.urls["crm"], timeout=60)
        )
        # Record events only: the CRM's ``opportunity.stage_changed`` carries no record as its
        # data, project-sync answers it 400 and the sandbox retries it 8 times (12.7 s) on
        # the subscription's one lane, holding up every later delivery (see the report).
        types = [] if args.all_webhook_events else RECORD_EVENTS
        hook = {"url": f"{service.api_url}/v1/inbound/crm/crm", "secret": WEBHOOK_SECRET,
                "event_types": types}  # fmt: skip
        (await crm.post("/v1/webhooks", json=hook)).raise_for_status()
        await _until(
            database_url, "SELECT count(*) FROM project_sync.rate_cards", len(ENTITIES), 60,
            "the rate cards taken in",
        )  # fmt: skip
        yield Deployment(flavour, sandbox, service, database_url, bus, crm, tryton)


async def _erp(
    stack: contextlib.AsyncExitStack, sandbox: Sandbox, tryton: TrytonServer | None
) -> tuple[dict[str, Any], AbstractErp]:
    """project-sync's ERP settings, and this process's own adapter (to set up companies)."""
    if tryton is not None:
        client = TrytonClient(
            tryton.url, tryton.database, tryton.user, tryton.password, instance=ERP
        )
        stack.push_async_callback(client.aclose)
        config: dict[str, Any] = {"kind": "tryton", "url": tryton.url, "database": tryton.database,
                                  "user": tryton.user, "password": tryton.password}  # fmt: skip
        return config, TrytonErp(client, instance=ERP)
    target = HttpTarget(sandbox.urls["erp"], downstream="erp", retry=RetryPolicy(5, 0.1, 2))
    stack.push_async_callback(target.aclose)
    config = {"kind": "rest", "url": sandbox.urls["erp"], "requests_per_second": 5000,
              "burst": 1000}  # fmt: skip
    return config, RestErp(target, instance=ERP)


def _service(
    sandbox: Sandbox,
    erp: dict[str, Any],
    database_url: str,
    amqp_url: str,
    logs: Path,
    args: argparse.Namespace,
    lanes: int,
) -> LocalService:
    urls = sandbox.urls
    regions = {e.id: e.data_residency_region for e in ENTITIES.values()}
    limits = {"requests_per_second": 5000, "burst": 1000}
    return LocalService(
        module="project_sync",
        name="project-sync",
        database_url=database_url,
        amqp_url=amqp_url,
        logs=logs,
        settings={
            "TANDEM_CRM_INSTANCES": json.dumps(
                {"crm": {"url": urls["crm"], "webhook_secret": WEBHOOK_SECRET, **limits}}
            ),
            "TANDEM_PSA_INSTANCES": json.dumps({"psa": {"url": urls["psa"], **limits}}),
            "TANDEM_ERP_INSTANCES": json.dumps({ERP: erp}),
            "TANDEM_ERP_BY_REGION": json.dumps(dict.fromkeys(regions.values(), ERP)),
            "TANDEM_ENTITY_BY_COUNTRY": json.dumps({e.country: e.id for e in ENTITIES.values()}),
            "TANDEM_DEFAULT_LEGAL_ENTITY": "le-us",
            "TANDEM_ENTITY_REGIONS": json.dumps(regions),
            "TANDEM_ENTITY_CURRENCIES": json.dumps(
                {e.id: [e.functional_currency] for e in ENTITIES.values()}
            ),
            "TANDEM_SOW_FROM_OPPORTUNITY": "true",
            "TANDEM_API_KEYS": json.dumps({API_KEY: ["q2c:read"]}),
            "TANDEM_LOG_LEVEL": "WARNING",
            "TANDEM_RATE_LIMIT": "100000/minute",
            "TANDEM_CONCURRENCY": str(lanes),
            **({"TANDEM_POLL_INTERVAL_S": str(args.poll_interval)} if args.poll_interval else {}),
        },
    )


@contextlib.asynccontextmanager
async def _recording(amqp_url: str) -> AsyncIterator[Bus]:
    """Record the events exchange from now on, stamping each message on arrival."""
    bus = Bus()
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1000)
        exchange = await declare_events_exchange(channel)
        queue = await channel.declare_queue("bench-q2c", durable=False, exclusive=True)
        await queue.bind(exchange, routing_key="#")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            at = datetime.now(UTC)
            await message.ack()
            bus.received.append((at, json.loads(message.body)))

        await queue.consume(on_message)
        yield bus


async def _publish_rate_cards(database_url: str) -> None:
    """A published rate card per entity currency, through project-sync's outbox (its relay
    publishes them, as billing-readiness would have)."""
    envelopes = []
    for entity in ENTITIES.values():
        currency = entity.functional_currency
        card = RateCard(
            id=f"rc-{currency.lower()}", name=f"Standard {currency}", currency=currency,
            scope=RateCardScope(), status=RateCardStatus.PUBLISHED,
            versions=(RateCardVersion(version=1, effective_from=date(2024, 1, 1),
                                      default_rate=Money(amount=Decimal(150), currency=currency)),),
        )  # fmt: skip
        event = RateCardPublished(rate_card=card, published_version=1, published_at=_now())
        envelopes.append(
            Envelope.new(
                event,
                producer=Producer(service="billing-readiness"),
                tenant_id="acme",
                legal_entity_id=entity.id,
                data_residency_region=entity.data_residency_region,
                correlation_id=card.id,
                subject_version=1,
            )
        )
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            await Outbox().add(connection, *envelopes)
    finally:
        await connection.close()


async def _until(database_url: str, query: str, target: int, within: float, what: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:

        async def reached() -> bool:
            return int(await connection.fetchval(query)) >= target

        await eventually(reached, within=within, what=what, every=0.2)
    finally:
        await connection.close()


def _now() -> datetime:
    return datetime.now(UTC)


# --- the firm in the CRM -------------------------------------------------------------------


def german_vat(serial: int) -> str:
    """A valid German VAT id (ISO 7064 MOD 11,10 check digit) from an 8-digit ``serial``."""
    digits = f"{serial:08d}"
    product = 10
    for digit in digits:
        total = (int(digit) + product) % 10 or 10
        product = (2 * total) % 11
    return f"DE{digits}{(11 - product) % 10}"


async def _limited(calls: list[Callable[[], Coroutine[Any, Any, Any]]], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


async def _json(answer: Awaitable[httpx.Response]) -> Any:
    reply = await answer
    reply.raise_for_status()
    return reply.json()


async def firm(
    d: Deployment, accounts: int, opportunities: int, args: argparse.Namespace
) -> list[str]:
    """``accounts`` accounts linked to ERP customers, then ``opportunities`` opportunities at
    Negotiation, all ingested by project-sync; answer the opportunities' CRM ids."""
    entities = list(ENTITIES.values())

    def account(n: int) -> Callable[[], Coroutine[Any, Any, Any]]:
        le = entities[n % len(entities)]
        tax = german_vat(81190798 + 1000 * n) if le.country == "DE" else None
        body = {"name": f"Customer {n} of {le.name}", "country": le.country,
                "currency": le.functional_currency, "tax_id": tax}  # fmt: skip
        return lambda: _json(d.crm.post("/v1/accounts", json=body))

    made = await _limited([account(n) for n in range(accounts)], args.writers)
    await _until(
        d.database_url, "SELECT count(*) FROM project_sync.customers WHERE linked_at IS NOT NULL",
        accounts, args.max_wait, f"{accounts} customers linked",
    )  # fmt: skip

    def deal(n: int) -> Callable[[], Coroutine[Any, Any, Any]]:
        le = entities[n % len(entities)]
        body = {"account_id": made[n % len(made)]["id"], "name": f"Roll-out {n}",
                "stage": "Negotiation", "amount": f"{10_000 + n}.00",
                "currency": le.functional_currency, "close_date": "2026-12-15",
                "selling_entity": le.id}  # fmt: skip
        return lambda: _json(d.crm.post("/v1/opportunities", json=body))

    deals = await _limited([deal(n) for n in range(opportunities)], args.writers)
    await _until(
        d.database_url, "SELECT count(*) FROM project_sync.opportunities", opportunities,
        args.max_wait, f"{opportunities} opportunities ingested",
    )  # fmt: skip
    return [str(x["id"]) for x in deals]


# --- the runs ------------------------------------------------------------------------------


@dataclass
class Measured:
    name: str
    committed: int
    active: int
    seconds: float  # first commit -> last ProjectActivated received
    commit_spread_s: float  # first -> last commit
    latency: list[float]  # commit -> ProjectActivated received, per opportunity
    to_commit_event: list[float]  # commit -> OpportunityCommitted received
    announced: list[float]  # commit -> ProjectActivated occurred_at
    rss_mb: dict[str, float]
    cpu_ms: dict[str, float]  # per opportunity
    erp_not_one: int
    psa_not_one: int
    code_mismatch: int
    announcements_not_one: int
    states: dict[str, int]
    messages: int  # events on the bus in this run
    webhooks: dict[str, int]  # the sandbox CRM's webhook counters (whole deployment)
    hops: str  # project-sync's own lags: landed -> ingested, outbox -> published
    landed: dict[str, int]  # this run's commits landed by project-sync, by webhook / poll
    note: str = ""

    @property
    def rate(self) -> float:
        return self.active / self.seconds if self.seconds else 0.0

    def pct(self, values: list[float], q: float) -> float:
        if len(values) < 2:
            return values[0] if values else float("nan")
        return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


async def commit(
    d: Deployment, name: str, deals: list[str], args: argparse.Namespace, rate: float | None
) -> Measured:
    """Move ``deals`` to Closed Won (all at once, or ``rate`` per second); wait until each has
    its ``ProjectActivated`` on the bus (or ``--max-wait``); measure."""
    start_messages = len(d.bus.received)
    connection = await asyncpg.connect(d.database_url)
    try:
        outbox = int(await connection.fetchval(_OUTBOX))
    finally:
        await connection.close()
    cpu_before = _cpu(d)
    patch = {"stage": "Closed Won"}

    def won(crm_id: str) -> Callable[[], Coroutine[Any, Any, Any]]:
        return lambda: _json(d.crm.patch(f"/v1/opportunities/{crm_id}", json=patch))

    if rate is None:
        await _limited([won(x) for x in deals], args.writers)
    else:
        began = time.monotonic()
        tasks: list[asyncio.Task[Any]] = []
        for n, crm_id in enumerate(deals):
            await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
            tasks.append(asyncio.create_task(won(crm_id)()))
        await asyncio.gather(*tasks)
    projects = {project_id(canonical_id("crm", x), 1): x for x in deals}
    deadline = time.monotonic() + args.max_wait
    note = ""
    while len(set(d.bus.first("ProjectActivated")) & set(projects)) < len(projects):
        if time.monotonic() > deadline:
            note = f"stopped waiting after {args.max_wait:.0f} s"
            break
        await asyncio.sleep(0.2)
    cpu = _cpu(d)
    marks = (start_messages, outbox)
    return await _measure(d, name, deals, projects, marks, cpu_before, cpu, note)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _cpu(d: Deployment) -> dict[str, float]:
    pids = {name: d.service.pid(name) for name in d.service.processes}
    return {part: _cpu_s(pid) for part, pid in (pids | {"this process": os.getpid()}).items()}


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _measure(
    d: Deployment,
    name: str,
    deals: list[str],
    projects: dict[str, str],
    marks: tuple[int, int],
    cpu_before: dict[str, float],
    cpu_after: dict[str, float],
    note: str,
) -> Measured:
    connection = await asyncpg.connect(d.database_url)
    try:
        commits = {r["subject_id"]: r["occurred_at"] for r in await connection.fetch(_COMMITS)}
        states = {r["state"]: int(r["n"]) for r in await connection.fetch(_STATES)}
        landed = {r["via"]: int(r["n"]) for r in await connection.fetch(_LANDED, deals)}
        hops = await connection.fetchrow(_HOPS, deals, marks[1])
    finally:
        await connection.close()
    activated = d.bus.first("ProjectActivated")
    committed_seen = d.bus.first("OpportunityCommitted")
    mine = [commits[x] for x in deals if x in commits]
    latency, announced, to_event, last = [], [], [], None
    for project, crm_id in projects.items():
        if project in activated and crm_id in commits:
            at, occurred = activated[project]
            latency.append((at - commits[crm_id]).total_seconds())
            announced.append((occurred - commits[crm_id]).total_seconds())
            last = at if last is None else max(last, at)
        opportunity = canonical_id("crm", crm_id)
        if opportunity in committed_seen and crm_id in commits:
            to_event.append((committed_seen[opportunity][0] - commits[crm_id]).total_seconds())
    erp, psa, mismatch = await _duplicates(d, {canonical_id("crm", x) for x in deals})
    counts = d.bus.announcements("ProjectActivated")
    return Measured(
        name=name, committed=len(mine), active=len(latency),
        seconds=(last - min(mine)).total_seconds() if last and mine else 0.0,
        commit_spread_s=(max(mine) - min(mine)).total_seconds() if mine else 0.0,
        latency=latency, to_commit_event=to_event, announced=announced,
        rss_mb={p: _peak_rss_mb(d.service.pid(p)) for p in d.service.processes},
        cpu_ms={p: 1000 * (cpu_after[p] - cpu_before[p]) / max(len(deals), 1) for p in cpu_after},
        erp_not_one=erp, psa_not_one=psa, code_mismatch=mismatch,
        announcements_not_one=sum(1 for p in projects if counts.get(p, 0) != 1),
        states=states, messages=len(d.bus.received) - marks[0], note=note,
        hops=_hops(hops),
        webhooks=dict(d.sandbox.faults["crm"].counters), landed=landed,
    )  # fmt: skip


def _hops(row: asyncpg.Record | None) -> str:
    def two(values: list[float] | None) -> str:
        return f"p50 {values[0]:.2f} / p99 {values[1]:.2f} s" if values else "none"

    if row is None:
        return ""
    return f"landed -> ingested {two(row['ingest'])}, outbox -> published {two(row['relay'])}"


async def _duplicates(d: Deployment, opportunities: set[str]) -> tuple[int, int, int]:
    """Opportunities without exactly one ERP project, without exactly one PSA project, and
    with codes that differ between the two; counted in the systems themselves."""
    psa = await _sandbox_projects(d.sandbox.urls["psa"])
    if d.tryton is None:
        erp = await _sandbox_projects(d.sandbox.urls["erp"])
    else:
        erp = await _tryton_projects(d.tryton)
    erp_by, psa_by = _by_opportunity(erp), _by_opportunity(psa)
    erp_not_one = sum(1 for o in opportunities if len(erp_by.get(o, [])) != 1)
    psa_not_one = sum(1 for o in opportunities if len(psa_by.get(o, [])) != 1)
    mismatch = sum(
        1
        for o in opportunities
        if len(erp_by.get(o, [])) == 1 and len(psa_by.get(o, [])) == 1
        and erp_by[o][0] != psa_by[o][0]
    )  # fmt: skip
    return erp_not_one, psa_not_one, mismatch


def _by_opportunity(projects: list[tuple[str, str | None]]) -> dict[str, list[str | None]]:
    """(creation key, code) pairs → the codes per opportunity (any generation)."""
    found: dict[str, list[str | None]] = {}
    for key, code in projects:
        if (match := _KEY.match(key or "")) is not None:
            found.setdefault(match["opportunity"], []).append(code)
    return found


async def _sandbox_projects(url: str) -> list[tuple[str, str | None]]:
    projects: list[tuple[str, str | None]] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        token: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 200} | ({"page_token": token} if token else {})
            page = await _json(client.get("/v1/projects", params=params))
            projects += [(p.get("external_id", ""), p.get("code")) for p in page["items"]]
            if not (token := page.get("next_page_token")):
                return projects


async def _tryton_projects(tryton: TrytonServer) -> list[tuple[str, str | None]]:
    async with TrytonClient(
        tryton.url, tryton.database, tryton.user, tryton.password, instance=ERP
    ) as client:
        rows = await client.search_read(
            "project.work", [["type", "=", "project"]], ["comment", "number"]
        )
    return [(str(r.get("comment") or "").strip(), r.get("number")) for r in rows]


# --- report --------------------------------------------------------------------------------


def _print(raw: float, raw_messages: int, runs: list[Measured], load: list[float]) -> None:
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, 1-min load average "
          f"{load[0]:.2f} before the run and {os.getloadavg()[0]:.2f} after (anything else "
          "running shares the cores, PostgreSQL and RabbitMQ)")  # fmt: skip
    print(f"raw broker ceiling (plain aio-pika, {raw_messages:,} messages, median of 3): "
          f"{raw:,.0f} messages/s")  # fmt: skip
    head = ("run", "opps", "active", "opps/s", "x raw", "p50 s", "p95 s", "p99 s", "max s",
            "RSS api", "RSS wrk", "ERP!=1", "PSA!=1", "code!=", "PA!=1")  # fmt: skip
    print("{:<34} {:>5} {:>6} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6} "
          "{:>6} {:>5}".format(*head))  # fmt: skip
    for m in runs:
        lat = m.latency
        print(
            f"{m.name:<34} {m.committed:>5} {m.active:>6} {m.rate:>7.1f} {m.rate / raw:>7.4f} "
            f"{m.pct(lat, 0.5):>6.2f} {m.pct(lat, 0.95):>6.2f} {m.pct(lat, 0.99):>6.2f} "
            f"{max(lat, default=float('nan')):>6.2f} {m.rss_mb['api']:>5.0f}MB "
            f"{m.rss_mb['worker']:>5.0f}MB {m.erp_not_one:>6} {m.psa_not_one:>6} "
            f"{m.code_mismatch:>6} {m.announcements_not_one:>5}"
        )
    for m in runs:
        cpu = ", ".join(f"{p} {ms:.1f}" for p, ms in m.cpu_ms.items())
        rss = ", ".join(f"{p} {mb:.0f} MB" for p, mb in m.rss_mb.items())
        print(f"  {m.name}: commits spread over {m.commit_spread_s:.1f} s; commit -> "
              f"OpportunityCommitted on the bus p50 {m.pct(m.to_commit_event, 0.5):.2f} / p99 "
              f"{m.pct(m.to_commit_event, 0.99):.2f} s; commit -> ProjectActivated occurred_at "
              f"p50 {m.pct(m.announced, 0.5):.2f} / p99 {m.pct(m.announced, 0.99):.2f} s; "
              f"CPU ms per opportunity: {cpu}; peak RSS: {rss}; {m.messages:,} messages on the "
              f"bus; {m.hops}; "
              f"sagas by state (whole deployment): {m.states}; commits landed by "
              f"{m.landed}; CRM webhooks so far {m.webhooks} {m.note}")  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    for url in _urls():
        if urlsplit(url).hostname not in {"127.0.0.1", "localhost", "::1"}:
            sys.exit(f"bench_quote_to_cash talks to loopback only, not {urlsplit(url).hostname}")
    logs = ROOT / ".tandem" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    load = [os.getloadavg()[0]]
    runs: list[Measured] = []
    n = args.opportunities
    async with deployed("sandbox", args, logs) as d:
        deals = await firm(d, args.accounts, 2 * n, args)
        runs.append(await commit(d, "burst, sandbox ERP", deals[:n], args, None))
        steady = f"steady {args.rate:g}/s, sandbox ERP"
        runs.append(await commit(d, steady, deals[n:], args, args.rate))
    if args.tryton:
        async with deployed("tryton", args, logs) as d:
            deals = await firm(d, args.tryton_accounts, args.tryton, args)
            runs.append(await commit(d, "burst, Tryton ERP", deals, args, None))
    messages = max(1_000, runs[0].messages)
    raw = await raw_ceiling(messages)
    _print(raw, messages, runs, load)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="make bench-quote-to-cash",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--opportunities", type=int, default=2_000, help="per sandbox run")
    parser.add_argument("--rate", type=float, default=20.0, help="steady commits per second")
    parser.add_argument(
        "--tryton", type=int, default=100, help="opportunities into Tryton, 0: skip"
    )
    parser.add_argument("--accounts", type=int, default=60, help="CRM accounts (sandbox runs)")
    parser.add_argument("--tryton-accounts", type=int, default=12, help="CRM accounts (Tryton)")
    parser.add_argument("--lanes", type=int, default=16, help="TANDEM_CONCURRENCY of the worker")
    parser.add_argument(
        "--tryton-lanes", type=int, default=1,
        help="TANDEM_CONCURRENCY against Tryton (concurrent shells collide on its project number)",
    )  # fmt: skip
    parser.add_argument(
        "--split", action="store_true",
        help="the consumer in one worker process, ingestion + relay + jobs in another",
    )  # fmt: skip
    parser.add_argument("--writers", type=int, default=16, help="concurrent CRM writes (burst)")
    parser.add_argument(
        "--all-webhook-events", action="store_true",
        help="subscribe project-sync to every CRM event (stage_changed too) instead of the "
        "record events",
    )  # fmt: skip
    parser.add_argument(
        "--poll-interval", type=float, default=None,
        help="TANDEM_POLL_INTERVAL_S (default: the service's)",
    )  # fmt: skip
    parser.add_argument("--max-wait", type=float, default=600.0, help="seconds per wait")
    asyncio.run(main(parser.parse_args()))
