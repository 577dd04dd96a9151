"""``make bench-billing``: billing-readiness at month-end, from ``TimePosted`` to charges and
from charges to invoices drafted and posted in the ERP, beside the raw broker ceiling measured
in the same run (issue 16's benchmark; targets on 2 cores: charges/s at least 0.4 of the raw
ceiling, and every invoice of the month drafted into the sandbox ERP in under 5 minutes).

Each run gets a fresh database and vhost, an ERP (the in-process sandbox HTTP ERP on the same
database, or a real Tryton) with the two companies (le-uk, GBP; le-de, EUR) and the customers
written into it beforehand (as project-sync would have), and billing-readiness's api and one
worker (consume and relay roles) as real processes (``python -m billing_readiness``). The firm:
``--projects`` time-and-materials projects of ``--customers`` customers, every fifth capped
(every fiftieth low enough to be crossed mid-month, its overage written off:
``TANDEM_CAP_OVERAGE=write_off``, so that every project invoices), announced on the bus and
taken in before anything is timed.

1. **Charging**: ``--entries`` billable ``TimePosted`` of last month (a handful of bill rates
   per currency) published at once onto the events exchange as time-expense's relay publishes
   them (persistent, confirmed, keyed by the worker), ``posted_at`` stamped as each is sent.
   Charges/s: charge rows / (last charge row's ``created_at`` - first publish); latency: an
   entry's publish -> its first charge row's ``created_at`` (one clock: this machine's). Peak
   RSS: ``VmHWM`` of the worker and the api. CPU ms per entry: the worker, the api, PostgreSQL
   and RabbitMQ (the whole servers: shared with anything else running) and this process (the
   publisher and the sandbox).
2. **Invoicing**: the readiness pass (``POST /v1/readiness``, what the scheduled job runs)
   proposes an invoice per project; the worker drafts and posts each into the ERP. From the
   pass's request: the pass itself, the last invoice drafted (the sandbox's record
   ``created_at``; Tryton's ``create_date``) and posted (billing-readiness's ``posted_at``),
   and invoices per minute. Checked: every proposed invoice in the ERP, every billable charge
   on an invoice, and the invoices' subtotals equal to the billable charges per currency.
3. Steps 1 and 2 ``--runs`` times into the sandbox ERP (medians), then once with
   ``--tryton-projects`` projects of ``--entries-per-project`` entries into a real Tryton, the
   worker at ``--tryton-lanes`` (0 projects: skip).
4. **Raw ceiling**: plain aio-pika publish-with-confirms and consume on a quorum queue
   (``tools/bench_runtime.py``'s raw run, median of three), as many messages as a burst.

``TANDEM_PROFILE_DIR=<dir>`` makes the api and worker write cProfile data there. Bounded: every
wait stops at ``--max-wait``; 127.0.0.1 only. One file, past the usual module size, as every
benchmark in tools/ runs standalone (``uv run python tools/bench_billing.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import httpx
from bench_scale import _children, _cpu_s, _listener

from billing_readiness.bootstrap import DEFINITION
from billing_readiness.service_layer.handlers import QUEUE, lane_of
from month.bench import raw_ceiling
from month.systems import ROOT, _fresh_database, _fresh_vhost, _urls
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.ports import AbstractErp
from tandem_connectors.rest import RestErp
from tandem_connectors.tryton import TrytonClient, TrytonErp
from tandem_contracts import (
    CONTENT_TYPE,
    Envelope,
    ExternalRef,
    Money,
    Producer,
    SystemKind,
    encode,
    message_type,
)
from tandem_contracts.entities import (
    BillingModel,
    Contract,
    ContractStatus,
    Customer,
    LegalEntity,
    Project,
    ProjectStatus,
    TaxpayerKind,
    TaxProfile,
)
from tandem_contracts.events import AccountUpserted, ProjectActivated, SOWApproved, TimePosted
from tandem_messaging import declare_events_exchange, partition_header
from tandem_sandbox import MIGRATIONS as SANDBOX_MIGRATIONS
from tandem_sandbox import SandboxSettings, run_sandbox
from tandem_service_kit import apply_migrations
from tandem_testing import LocalService, TrytonServer, tryton_server

API_KEY = os.urandom(16).hex()
ERP = "erp"
ENTITIES = (
    LegalEntity(id="le-uk", name="Acme UK Ltd", country="GB", functional_currency="GBP",
                data_residency_region="eu"),
    LegalEntity(id="le-de", name="Acme Deutschland GmbH", country="DE",
                functional_currency="EUR", data_residency_region="eu"),
)  # fmt: skip
RATES = {"GBP": ("95.00", "120.00", "150.00", "185.50", "240.00"),
         "EUR": ("110.00", "135.00", "165.00", "210.00", "262.50")}  # fmt: skip
MINUTES = (30, 45, 60, 90, 120, 240, 450, 480)
WORKERS = {"worker": frozenset({"consume", "relay"})}
Entry = tuple[str, Project, str, int, str, date]  # id, project, worker, minutes, rate, work date
_TAKEN_IN = """
SELECT (SELECT count(*) FROM billing_readiness.customers)
     + (SELECT count(*) FROM billing_readiness.contracts)
     + (SELECT count(*) FROM billing_readiness.projects)
"""
_CHARGED = "SELECT count(DISTINCT source_id) FROM billing_readiness.charges WHERE source = 'time'"
_CHARGES = """
SELECT source_id, min(created_at) AS at, count(*) AS n FROM billing_readiness.charges
WHERE source = 'time' GROUP BY source_id
"""
_POSTED = "SELECT count(*) FROM billing_readiness.invoices WHERE status = 'posted'"
_POSTED_AT = "SELECT posted_at FROM billing_readiness.invoices WHERE posted_at IS NOT NULL"
_DRAFTED_AT = """
SELECT created_at FROM sandbox.records WHERE system = 'erp' AND collection = 'customer-invoices'
"""
# Per currency: the billable charges, the invoices' subtotals, charges on no invoice.
_CHECK = """
SELECT c.currency, sum(c.amount) AS charged,
       (SELECT coalesce(sum(subtotal), 0) FROM billing_readiness.invoices i
        WHERE i.currency = c.currency) AS invoiced,
       count(*) FILTER (WHERE c.invoice_id IS NULL OR c.status <> 'invoiced') AS uninvoiced
FROM billing_readiness.charges c WHERE c.billable GROUP BY c.currency ORDER BY c.currency
"""


# --- the firm ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Firm:
    customers: list[Customer]
    contracts: list[tuple[Contract, str]]  # a capped project's contract, and the project
    projects: list[Project]
    month: date  # last month: its periods have ended, its invoices are due


def generate(projects: int, customers: int) -> Firm:
    """``projects`` projects of ``customers`` customers, alternating the two entities."""
    month = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)
    made = []
    for n in range(customers):
        le = ENTITIES[n % len(ENTITIES)]
        made.append(Customer(
            id=f"cu-{n:04d}", name=f"Customer {n}", legal_entity_id=le.id, country=le.country,
            currency=le.functional_currency,
            tax_profile=TaxProfile(country=le.country, taxable_person=TaxpayerKind.B2B),
            refs=(ExternalRef(system=SystemKind.CRM, instance="crm", object_type="account",
                              external_id=f"acc-{n}"),),  # the account it came from
        ))  # fmt: skip
    contracts, shells = [], []
    for n in range(projects):
        customer = made[n % customers]
        entity, currency = customer.legal_entity_id, customer.currency
        model, contract_id = BillingModel.TIME_AND_MATERIALS, None
        if n % 5 == 0:  # capped: most far above a month's work, every 50th crossed mid-month
            model, contract_id = BillingModel.CAPPED_TM, f"sow-{n:04d}"
            cap = Money.of("5000.00" if n % 50 == 0 else "1000000.00", currency)
            contracts.append((Contract(
                id=contract_id, customer_id=customer.id, selling_legal_entity_id=entity,
                billing_model=model, total_value=cap, cap=cap, start_date=month,
                status=ContractStatus.APPROVED,
            ), f"pr-{n:04d}"))  # fmt: skip
        shells.append(Project(
            id=f"pr-{n:04d}", name=f"Rollout {n}", customer_id=customer.id,
            legal_entity_id=entity, currency=currency, billing_model=model,
            contract_id=contract_id, status=ProjectStatus.ACTIVE, start_date=month,
        ))  # fmt: skip
    return Firm(made, contracts, shells, month)


def entries(firm: Firm, count: int, seed: int) -> list[Entry]:
    """``count`` entries spread evenly over the projects, on the month's weekdays."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible month, not a secret
    days = [firm.month + timedelta(days=d) for d in range(28)]
    days = [d for d in days if d.weekday() < 5]
    made = []
    for n in range(count):
        project = firm.projects[n % len(firm.projects)]
        worker = f"w-{project.legal_entity_id}-{rng.randrange(150):03d}"
        made.append((f"te-{n:06d}", project, worker, rng.choice(MINUTES),
                     rng.choice(RATES[project.currency]), rng.choice(days)))  # fmt: skip
    return made


def _envelope(payload: Any, entity: str, service: str, correlation: str) -> Envelope[Any]:
    return Envelope.new(
        payload, producer=Producer(service=service), tenant_id="acme", legal_entity_id=entity,
        data_residency_region="eu", correlation_id=correlation, subject_version=1,
    )  # fmt: skip


def posted(entry: Entry) -> Envelope[TimePosted]:
    """The entry's ``TimePosted`` as time-expense announces it, posted now."""
    entry_id, project, worker, minutes, rate, on = entry
    bill_rate = Money.of(rate, project.currency)
    event = TimePosted(
        time_entry_id=entry_id, project_id=project.id, worker_id=worker,
        erp_ref=ExternalRef(system=SystemKind.ERP, instance=ERP, object_type="time_line",
                            external_id=f"tl-{entry_id}"),
        work_date=on, accounting_date=on, duration_minutes=minutes,
        bill_amount=bill_rate.times(Decimal(minutes) / 60), billable=True, bill_rate=bill_rate,
        worker_legal_entity_id=project.legal_entity_id,
        project_legal_entity_id=project.legal_entity_id, posted_at=datetime.now(UTC),
    )  # fmt: skip
    return _envelope(event, project.legal_entity_id, "time-expense", entry_id)


# --- the deployment ------------------------------------------------------------------------


@dataclass
class Deployment:
    service: LocalService
    database_url: str
    exchange: aio_pika.abc.AbstractExchange
    erp: AbstractErp
    tryton: TrytonServer | None
    servers: dict[str, int]  # PostgreSQL's postmaster and the RabbitMQ node


@contextlib.asynccontextmanager
async def deployed(flavour: str, lanes: int, logs: Path) -> AsyncIterator[Deployment]:
    """A fresh database and vhost, the ERP, billing-readiness's api and worker, and a
    confirming channel on the events exchange."""
    admin, amqp, management = _urls()
    run = f"bench_billing_{flavour}"
    database_url = await _fresh_database(admin, run)
    amqp_url = await _fresh_vhost(amqp, management, run.replace("_", "-"))
    await apply_migrations(database_url, [*DEFINITION.migrations, SANDBOX_MIGRATIONS])
    async with contextlib.AsyncExitStack() as stack:
        tryton = None
        if flavour == "tryton":
            tryton = stack.enter_context(tryton_server(ROOT / ".tandem" / "tryton", run))
            client = TrytonClient(tryton.url, tryton.database, tryton.user, tryton.password,
                                  instance=ERP, timeout=120)  # fmt: skip
            stack.push_async_callback(client.aclose)
            config: dict[str, Any] = {"kind": "tryton", "url": tryton.url,
                                      "database": tryton.database, "user": tryton.user,
                                      "password": tryton.password}  # fmt: skip
            erp: AbstractErp = TrytonErp(client, instance=ERP)
        else:
            settings = SandboxSettings(database_url=database_url, base_port=0)
            url = (await stack.enter_async_context(run_sandbox(settings))).urls["erp"]
            target = HttpTarget(url, downstream="erp", retry=RetryPolicy(5, 0.1, 2))
            stack.push_async_callback(target.aclose)
            config = {"kind": "rest", "url": url, "requests_per_second": 5000, "burst": 1000}
            erp = RestErp(target, instance=ERP)
        service = LocalService(
            module="billing_readiness", name="billing-readiness", database_url=database_url,
            amqp_url=amqp_url, logs=logs,
            settings={
                "TANDEM_ERP_INSTANCES": json.dumps({ERP: config}),
                "TANDEM_ERP_BY_REGION": json.dumps({"eu": ERP}), "TANDEM_DEFAULT_REGION": "eu",
                "TANDEM_ENTITY_COUNTRIES": json.dumps({e.id: e.country for e in ENTITIES}),
                "TANDEM_CAP_OVERAGE": "write_off",
                "TANDEM_API_KEYS": json.dumps({API_KEY: ["billing:read", "billing:operate"]}),
                "TANDEM_RATE_LIMIT": "100000/minute", "TANDEM_LOG_LEVEL": "WARNING",
                "TANDEM_CONCURRENCY": str(lanes),
            },
        )  # fmt: skip
        stack.callback(service.stop)
        service.start("api")
        service.start_workers(WORKERS)
        await service.wait_api()
        await service.wait_worker("worker")
        await service.wait_consuming(QUEUE)
        connection = await stack.enter_async_context(await aio_pika.connect_robust(amqp_url))
        exchange = await declare_events_exchange(await connection.channel(publisher_confirms=True))
        servers = {"postgres": _listener(urlsplit(database_url).port or 5432),
                   "rabbitmq": _listener(urlsplit(amqp_url).port or 5672)}  # fmt: skip
        yield Deployment(service, database_url, exchange, erp, tryton, servers)


async def publish(exchange: aio_pika.abc.AbstractExchange, envelope: Envelope[Any],
                  key: str) -> None:  # fmt: skip
    """``envelope`` as an outbox relay publishes it: persistent, confirmed, keyed."""
    await exchange.publish(
        aio_pika.Message(encode(envelope), content_type=CONTENT_TYPE,
                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                         message_id=str(envelope.event_id), type=message_type(envelope),
                         headers=partition_header(key)),
        routing_key=envelope.routing_key,
    )  # fmt: skip


async def _fetch(database_url: str, sql: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return list(await connection.fetch(sql))
    finally:
        await connection.close()


async def until(database_url: str, sql: str, expected: int, within: float, what: str) -> bool:
    """Poll the count ``sql`` answers until ``expected``; False (said) after ``within`` s."""
    deadline = time.monotonic() + within
    while (found := int((await _fetch(database_url, sql))[0][0])) < expected:
        if time.monotonic() > deadline:
            print(f"  stopped waiting for {what} after {within:.0f} s: {found}/{expected}")
            return False
        await asyncio.sleep(0.25)
    return True


async def set_up(d: Deployment, firm: Firm, within: float) -> None:
    """The companies and customers in the ERP; customers, contracts and projects announced on
    the bus (as project-sync's relay publishes them) and taken in by billing-readiness."""
    companies = {e.id: (await d.erp.ensure_legal_entity(e, key=e.id)).external_id
                 for e in ENTITIES}  # fmt: skip
    for customer in firm.customers:
        company = companies[customer.legal_entity_id]
        await d.erp.upsert_customer(customer, company=company, key=customer.id)
    now = datetime.now(UTC)
    known = [
        *(_envelope(AccountUpserted(customer=c, upserted_at=now), c.legal_entity_id,
                    "project-sync", c.id) for c in firm.customers),
        *(_envelope(SOWApproved(contract=c, project_ids=(p,), approved_at=now),
                    c.selling_legal_entity_id, "project-sync", c.id) for c, p in firm.contracts),
        *(_envelope(ProjectActivated(project=p, activated_at=now), p.legal_entity_id,
                    "project-sync", p.id) for p in firm.projects),
    ]  # fmt: skip
    await asyncio.gather(*(publish(d.exchange, e, lane_of(e)) for e in known))
    if not await until(d.database_url, _TAKEN_IN, len(known), within, "the firm taken in"):
        sys.exit("billing-readiness did not take the customers, contracts and projects in")


# --- the runs ------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    entries: int = 0
    charged: int = 0
    rows: int = 0
    seconds: float = 0.0  # first publish -> last charge row
    rate: float = 0.0  # charge rows per second over ``seconds``
    publish_s: float = 0.0  # first -> last publish
    latency: tuple[float, float, float] = (0.0, 0.0, 0.0)  # p50, p95, p99 s
    rss_mb: tuple[float, float] = (0.0, 0.0)  # worker, api
    cpu_ms: str = ""  # per entry, by process
    proposed: int = 0
    posted: int = 0
    in_erp: int = 0
    pass_s: float = 0.0  # the readiness request
    drafted_s: float = 0.0  # request -> last invoice drafted in the ERP
    posted_s: float = 0.0  # request -> last invoice posted
    problems: str = ""


def _cpu(d: Deployment) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each part's processes."""
    groups = {"worker": [d.service.pid("worker")], "api": [d.service.pid("api")],
              "postgres": [d.servers["postgres"], *_children(d.servers["postgres"])],
              "rabbitmq": [d.servers["rabbitmq"]], "this": [os.getpid()]}  # fmt: skip
    return {part: {pid: _cpu_s(pid) for pid in pids} for part, pids in groups.items()}


def _cpu_ms(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]],
            count: int) -> str:  # fmt: skip
    used = {part: sum(max(0.0, s - before[part].get(pid, 0.0)) for pid, s in pids.items())
            for part, pids in after.items()}  # fmt: skip
    return ", ".join(f"{part} {1000 * s / count:.2f}" for part, s in used.items())


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def charge(d: Deployment, run: Run, firm: Firm, count: int, args: argparse.Namespace
                 ) -> None:  # fmt: skip
    """Publish ``count`` posted entries at once; wait until each is charged; measure."""
    month = entries(firm, count, args.seed)
    sent: dict[str, datetime] = {}
    before = _cpu(d)

    async def one(entry: Entry) -> None:
        envelope = posted(entry)
        sent[entry[0]] = datetime.now(UTC)
        await publish(d.exchange, envelope, entry[2])  # keyed by worker, as time-expense does

    for start in range(0, count, args.window):
        await asyncio.gather(*(one(e) for e in month[start : start + args.window]))
    await until(d.database_url, _CHARGED, count, args.max_wait, f"{count} entries charged")
    run.cpu_ms = _cpu_ms(before, _cpu(d), count)
    rows = await _fetch(d.database_url, _CHARGES)
    first = min(sent.values())
    run.entries, run.charged, run.rows = count, len(rows), sum(int(r["n"]) for r in rows)
    run.seconds = (max((r["at"] for r in rows), default=first) - first).total_seconds()
    run.publish_s = (max(sent.values()) - first).total_seconds()
    run.rate = run.rows / run.seconds if run.seconds else 0.0
    latency = [(r["at"] - sent[r["source_id"]]).total_seconds() for r in rows]
    cuts = statistics.quantiles(latency, n=100, method="inclusive")
    run.latency = (cuts[49], cuts[94], cuts[98])
    run.rss_mb = (_peak_rss_mb(d.service.pid("worker")), _peak_rss_mb(d.service.pid("api")))


async def invoice(d: Deployment, run: Run, args: argparse.Namespace) -> None:
    """Run the readiness pass; wait until every proposed invoice is posted; measure."""
    async with httpx.AsyncClient(base_url=d.service.api_url, headers={"X-API-Key": API_KEY},
                                 timeout=args.max_wait) as api:  # fmt: skip
        asked = datetime.now(UTC)
        answer = await api.post("/v1/readiness")
        run.pass_s = (datetime.now(UTC) - asked).total_seconds()
    answer.raise_for_status()
    run.proposed = int(answer.json()["proposed"])
    await until(d.database_url, _POSTED, run.proposed, args.max_wait, "the invoices posted")
    posted_at = [r[0] for r in await _fetch(d.database_url, _POSTED_AT)]
    if d.tryton is None:
        drafted = [r[0] for r in await _fetch(d.database_url, _DRAFTED_AT)]
    else:
        drafted = await _tryton_drafts(d.tryton)
    run.posted, run.in_erp = len(posted_at), len(drafted)
    run.drafted_s = (max(drafted) - asked).total_seconds() if drafted else float("nan")
    run.posted_s = (max(posted_at) - asked).total_seconds() if posted_at else float("nan")
    check = await _fetch(d.database_url, _CHECK)
    problems = [f"{r['currency']} charged {r['charged']:.2f}, invoiced {r['invoiced']:.2f}"
                for r in check if r["charged"] != r["invoiced"]]  # fmt: skip
    problems += [f"{n} billable charges on no invoice"
                 for n in [sum(int(r["uninvoiced"]) for r in check)] if n]  # fmt: skip
    if run.in_erp != run.proposed:
        problems.append(f"{run.in_erp} invoices in the ERP for {run.proposed} proposed")
    run.problems = "; ".join(problems)


async def _tryton_drafts(tryton: TrytonServer) -> list[datetime]:
    """When Tryton created each customer invoice (its ``create_date``, UTC)."""
    async with TrytonClient(tryton.url, tryton.database, tryton.user, tryton.password,
                            instance=ERP) as client:  # fmt: skip
        rows = await client.search_read("account.invoice", [["type", "=", "out"]],
                                        ["create_date"])  # fmt: skip
    return [r["create_date"].replace(tzinfo=UTC) for r in rows]


async def month_end(flavour: str, name: str, firm: Firm, count: int, lanes: int,
                    args: argparse.Namespace) -> Run:  # fmt: skip
    """One deployment: the firm taken in, ``count`` entries charged, the month invoiced."""
    run = Run(name)
    async with deployed(flavour, lanes, ROOT / ".tandem" / "bench") as d:
        await set_up(d, firm, args.max_wait)
        await charge(d, run, firm, count, args)
        await invoice(d, run, args)
    return run


# --- report --------------------------------------------------------------------------------


def _median(runs: list[Run]) -> Run:
    """A run of the medians of ``runs``' figures (latency: of the runs' percentiles)."""
    mid = statistics.median
    p50, p95, p99 = (mid(r.latency[k] for r in runs) for k in range(3))
    return Run(
        name=f"median of {len(runs)}", entries=runs[0].entries, charged=runs[0].charged,
        rows=runs[0].rows, seconds=mid(r.seconds for r in runs), rate=mid(r.rate for r in runs),
        latency=(p50, p95, p99),
        rss_mb=(mid(r.rss_mb[0] for r in runs), mid(r.rss_mb[1] for r in runs)),
        proposed=runs[0].proposed, posted=runs[0].posted, in_erp=runs[0].in_erp,
        pass_s=mid(r.pass_s for r in runs), drafted_s=mid(r.drafted_s for r in runs),
        posted_s=mid(r.posted_s for r in runs),
    )  # fmt: skip


def _print(raw: float, messages: int, runs: list[Run], tryton: Run | None, load: float) -> None:
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, 1-min load average "
          f"{load:.2f} before the run and {os.getloadavg()[0]:.2f} after")  # fmt: skip
    print(f"raw broker ceiling (plain aio-pika, {messages:,} messages, median of 3): "
          f"{raw:,.0f} messages/s")  # fmt: skip
    median = _median(runs)
    shown = [*runs, median] if len(runs) > 1 else runs
    rows = [(f"sandbox {r.name}", r) for r in shown] + ([("Tryton", tryton)] if tryton else [])
    print(f"{'charging':<20} {'entries':>7} {'rows':>6} {'charges/s':>9} {'x raw':>6} "
          f"{'p50 s':>6} {'p95 s':>6} {'p99 s':>6} {'RSS worker':>10} {'RSS api':>7}")  # fmt: skip
    for label, r in rows:
        print(f"{label:<20} {r.entries:>7} {r.rows:>6} {r.rate:>9.1f} {r.rate / raw:>6.3f} "
              f"{r.latency[0]:>6.1f} {r.latency[1]:>6.1f} {r.latency[2]:>6.1f} "
              f"{r.rss_mb[0]:>8.0f}MB {r.rss_mb[1]:>5.0f}MB")  # fmt: skip
    print(f"{'invoicing':<20} {'invoices':>8} {'in ERP':>6} {'pass s':>6} {'drafted s':>9} "
          f"{'posted s':>8} {'drafted/min':>11} {'posted/min':>10}")  # fmt: skip
    for label, r in rows:
        print(f"{label:<20} {r.proposed:>8} {r.in_erp:>6} {r.pass_s:>6.1f} {r.drafted_s:>9.1f} "
              f"{r.posted_s:>8.1f} {60 * r.in_erp / r.drafted_s:>11.0f} "
              f"{60 * r.posted / r.posted_s:>10.0f}")  # fmt: skip
    for label, r in rows:
        if r.cpu_ms:
            print(f"  {label}: {r.charged} entries published in {r.publish_s:.1f} s, charged "
                  f"in {r.seconds:.1f} s; CPU ms per entry: {r.cpu_ms}; "
                  f"{r.problems or 'every charge invoiced once, to the cent'}")  # fmt: skip
    ratio, drafted = median.rate / raw, median.drafted_s
    met = drafted < 300 and median.in_erp == median.proposed
    print(f"targets: charges/s / raw ceiling {ratio:.3f} (>= 0.4: "
          f"{'met' if ratio >= 0.4 else 'missed'}); every invoice of the month drafted into the "
          f"sandbox ERP in {drafted:.0f} s (< 300 s: "
          f"{'met' if met else 'missed'})")  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    for url in _urls():
        if urlsplit(url).hostname not in {"127.0.0.1", "localhost", "::1"}:
            sys.exit(f"bench_billing talks to loopback only, not {urlsplit(url).hostname}")
    (ROOT / ".tandem" / "bench").mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    firm = generate(args.projects, args.customers)
    runs = [
        await month_end("sandbox", f"run {n + 1}", firm, args.entries, args.lanes, args)
        for n in range(args.runs)
    ]
    tryton = None
    if args.tryton_projects:
        small = generate(args.tryton_projects, max(2, args.tryton_projects // 5))
        count = args.tryton_projects * args.entries_per_project
        tryton = await month_end("tryton", "Tryton", small, count, args.tryton_lanes, args)
    raw = await raw_ceiling(args.entries)
    _print(raw, args.entries, runs, tryton, load)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="make bench-billing",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--entries", type=int, default=20_000, help="posted entries per run")
    parser.add_argument("--projects", type=int, default=500, help="projects (sandbox runs)")
    parser.add_argument("--customers", type=int, default=100, help="customers (sandbox runs)")
    parser.add_argument("--runs", type=int, default=3, help="sandbox runs (medians)")
    parser.add_argument(
        "--tryton-projects", type=int, default=40, help="projects into Tryton, 0: skip"
    )
    parser.add_argument("--entries-per-project", type=int, default=40, help="(Tryton run)")
    parser.add_argument("--lanes", type=int, default=16, help="TANDEM_CONCURRENCY of the worker")
    parser.add_argument("--tryton-lanes", type=int, default=4, help="TANDEM_CONCURRENCY (Tryton)")
    parser.add_argument("--window", type=int, default=500, help="publishes awaiting confirms")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--max-wait", type=float, default=600.0, help="seconds per wait")
    asyncio.run(main(parser.parse_args()))
