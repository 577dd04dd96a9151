"""``make bench-observability``: observability's consumer in a month-end burst beside the raw
broker ceiling, its KPI projector behind the burst, its ``/v1`` reads at a million stored steps,
and what a stored step costs (H5's benchmark; targets: ingest at least 0.6 of the raw ceiling,
p99 under 100 ms per read route).

Every run gets a fresh database and vhost, dropped after; 127.0.0.1 only; every wait stops at
``--max-wait``.

1. **Raw ceiling**: plain aio-pika publish-with-confirms and consume on one quorum queue, the
   very bodies, routing keys and headers of the burst (median of ``--runs``).
2. **Ingest**: ``--events`` events of the five services' month (timesheets submitted, their
   entries approved, posted and charged; expenses; invoices; deals; hires; reconciliation,
   leakage, parking and utilization findings), one correlation id per timesheet or flow,
   published at once onto the events exchange as each producer's outbox relay publishes them
   (persistent, confirmed, keyed by that producer's partition key), observability's worker a
   process of its own (``python -m observability worker``, roles consume and schedule, its
   default tuning). Events/s: steps / (last step's ``recorded_at``, when the transaction that
   wrote it began, - first publish); latency: publish -> ``recorded_at`` (one clock: this
   machine's). The KPI projector (the ``fold-kpis`` job, every ``kpi_interval_s``): steps not
   yet folded when the last step is recorded, and when everything is folded. CPU ms per event:
   the worker, the PostgreSQL backends of the run's database, the whole PostgreSQL and RabbitMQ
   servers (shared with anything else running) and this process (the publisher). Medians of
   ``--runs``.
3. **Reads at a million steps**: ``--steps`` generated steps (flows of 10-60 steps: timesheets
   and deals, the keys and facts the consumer writes for them) and their keys COPYed into a
   freshly migrated database (a tool writing observability's tables directly, as no other way
   fills a year of steps in minutes), vacuumed and analysed as autovacuum leaves a year-old
   table; then observability's api process is timed over HTTP, sequentially, ``--queries`` per
   route per round, ``--runs`` rounds: a timeline, a search by time entry id, a time entry's
   steps. Each answer is checked against the generated flow.
4. **Storage**: ``pg_total_relation_size`` of ``steps`` and ``step_keys`` (indexes and TOAST
   included) per step, for the generated million and for the steps the worker recorded.

One file, past the usual module size, as every benchmark in tools/ runs standalone
(``uv run python tools/bench_observability.py [--quick]``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import queue
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import httpx
import uvloop
from bench_scale import _children, _cpu_s, _listener

from billing_readiness.service_layer.handlers import lane_of as billing_key
from month.systems import ROOT, _fresh_database, _fresh_vhost, _urls
from observability.bootstrap import DEFINITION
from observability.service_layer.recording import QUEUE
from observability.service_layer.recording import lane_of as observability_key
from project_sync.service_layer.handlers import lane_of as project_key
from staffing_sync.service_layer.handlers import lane_of as staffing_key
from tandem_contracts import CONTENT_TYPE, Envelope, Money, Producer, decode, encode, message_type
from tandem_contracts import entities as ent
from tandem_contracts import events as ev
from tandem_contracts.samples import sample_envelopes
from tandem_messaging import declare_events_exchange, partition_header
from tandem_service_kit import apply_migrations
from tandem_testing import LocalService
from time_expense.service_layer.handlers import worker_of as time_key

API_KEY = os.urandom(16).hex()
LOGS = ROOT / ".tandem" / "bench"
WORKERS = {"worker": frozenset({"consume", "schedule"})}
KEYS: dict[str, Callable[[Envelope[Any]], str]] = {
    "time-expense": time_key, "billing-readiness": billing_key, "project-sync": project_key,
    "staffing-sync": staffing_key, "observability": observability_key,
}  # fmt: skip
Entity = tuple[str, str, str]  # legal entity, residency region, currency
ENTITIES: tuple[Entity, ...] = (
    ("le-uk", "uk", "GBP"),
    ("le-de", "eu", "EUR"),
    ("le-us", "us", "USD"),
)
RATES = ("95.00", "120.00", "150.00", "185.50", "240.00")
_COUNTS = """
SELECT count(*) AS n, max(recorded_at) AS last, max(seq) AS top,
       CASE WHEN bool_and(folded) IS NOT false THEN max(seq) ELSE 0 END AS folded
FROM observability.steps
"""
_STORAGE = """
SELECT pg_total_relation_size('observability.steps') AS steps,
       pg_total_relation_size('observability.step_keys') AS keys,
       (SELECT count(*) FROM observability.steps) AS n,
       (SELECT count(*) FROM observability.step_keys) AS k
"""
_LOADED = "SELECT count(*) FROM observability.steps WHERE seq BETWEEN 1 AND $1"
_BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"


# --- the month's events, as the services publish them ---------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """One encoded event and how its producer's relay publishes it."""

    event_id: str
    event_type: str
    routing_key: str
    body: bytes
    type: str
    key: str

    def message(self) -> aio_pika.Message:
        """The message a relay sends: persistent, typed, keyed."""
        return aio_pika.Message(
            self.body, content_type=CONTENT_TYPE, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=self.event_id, type=self.type, headers=partition_header(self.key),
        )  # fmt: skip


class Month:
    """Builds the events of flows (timestamped, to interleave them as they happen)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible month, not a secret
        self.samples = {e.event_type: e.payload for e in sample_envelopes()}
        self.first = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)
        self.events: list[tuple[float, int, Envelope[Any]]] = []

    def like(self, event_type: str, **update: Any) -> Any:
        """The sample payload of ``event_type``, fields replaced."""
        return self.samples[event_type].model_copy(update=update)

    def add(self, payload: Any, service: str, flow: str, at: datetime, le: Entity,
            version: int = 1) -> None:  # fmt: skip
        envelope = Envelope.new(
            payload, producer=Producer(service=service), tenant_id="acme", legal_entity_id=le[0],
            data_residency_region=le[1], correlation_id=flow, subject_version=version,
            occurred_at=at,
        )  # fmt: skip
        self.events.append((at.timestamp(), len(self.events), envelope))

    def party(self) -> tuple[str, str, Entity, datetime]:
        """A worker, a project of the worker's entity, that entity, a working hour."""
        n, day = self.rng.randrange(1200), self.first + timedelta(days=self.rng.randrange(28))
        at = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
        return (f"wrk-{n:05d}", f"prj-{n % 3}-{self.rng.randrange(120):04d}", ENTITIES[n % 3],
                at + timedelta(minutes=self.rng.randrange(600)))  # fmt: skip

    def timesheet(self, n: int) -> None:
        worker, project, le, start = self.party()
        flow, k, tes = f"ts-{n:06d}", self.rng.randint(3, 8), ent.TimeEntryStatus
        rate, value = Money.of(RATES[n % 5], le[2]), Money.of(RATES[n % 5], le[2]).times(8)
        days = [start.date() - timedelta(days=d) for d in range(k)]
        entries = [self.samples["TimeApproved"].entry.model_copy(update={
            "id": f"te-{n:06d}-{j:02d}", "timesheet_id": flow, "worker_id": worker,
            "worker_legal_entity_id": le[0], "project_id": project, "work_date": day,
            "project_legal_entity_id": le[0], "assignment_id": f"asg-{worker}-{project}",
            "duration_minutes": 480, "bill_rate": rate, "cost_rate": Money.of("60.00", le[2]),
        }) for j, day in enumerate(days)]  # fmt: skip
        sheet = self.samples["TimeSubmitted"].timesheet.model_copy(update={
            "id": flow, "worker_id": worker, "period_start": days[-1], "period_end": days[0],
        })  # fmt: skip
        submitted = tuple(e.model_copy(update={"status": tes.SUBMITTED}) for e in entries)
        self.add(ev.TimeSubmitted(timesheet=sheet, entries=submitted, submitted_at=start),
                 "time-expense", flow, start, le)  # fmt: skip
        at = start + timedelta(hours=self.rng.randint(1, 72))
        for j, e in enumerate(entries):
            at += timedelta(seconds=1)
            self.add(ev.TimeApproved(entry=e.model_copy(update={"status": tes.APPROVED}),
                                     approval_version=1, approved_by="wrk-pm", approved_at=at),
                     "time-expense", flow, at, le, 2)  # fmt: skip
            ids = {"time_entry_id": e.id, "project_id": project, "worker_id": worker}
            if self.rng.random() < 0.02:  # the ERP down for a while: failed, then posted
                self.add(self.like("TimePostingFailed", **ids, failed_at=at), "time-expense",
                         flow, at, le, 3)  # fmt: skip
            line = self.samples["TimePosted"].erp_ref.model_copy(update={"external_id": f"{n}{j}"})
            self.add(self.like(
                "TimePosted", **ids, erp_ref=line, work_date=e.work_date, duration_minutes=480,
                accounting_date=e.work_date, bill_amount=value, bill_rate=rate, billable=True,
                posted_at=at + timedelta(minutes=5), cost_amount=Money.of("480.00", le[2]),
                worker_legal_entity_id=le[0], project_legal_entity_id=le[0],
            ), "time-expense", flow, at + timedelta(minutes=5), le, 4)  # fmt: skip
            charge = self.samples["ChargeCreated"].charge.model_copy(update={
                "id": f"chg-{e.id}", "project_id": project, "contract_id": None, "rate": rate,
                "source_ids": (e.id,), "amount": value, "bill_date": e.work_date,
                "billing_period": f"{e.work_date:%Y-%m}"})  # fmt: skip
            charged = at + timedelta(minutes=5, seconds=1)
            self.add(ev.ChargeCreated(charge=charge), "billing-readiness", flow, charged, le)
            if self.rng.random() < 0.01:
                self.add(self.like("ChargeHeld", charge_id=charge.id, project_id=project,
                                   amount=value, held_at=charged),
                         "billing-readiness", flow, charged, le)  # fmt: skip

    def expense(self, n: int) -> None:
        worker, project, le, at = self.party()
        flow, amount = f"exp-{n:06d}", Money.of(f"{self.rng.randint(20, 900)}.50", le[2])
        spent = self.samples["ExpenseApproved"].expense.model_copy(update={
            "id": flow, "report_id": f"er-{n:06d}", "worker_id": worker, "project_id": project,
            "project_legal_entity_id": le[0], "amount": amount, "reimbursement_amount": amount,
            "expense_date": at.date()})  # fmt: skip
        self.add(self.like("ExpenseApproved", expense=spent, approved_at=at), "time-expense",
                 flow, at, le, 2)  # fmt: skip
        ref = self.samples["ExpensePosted"].erp_ref.model_copy(update={"external_id": f"m{n}"})
        at += timedelta(minutes=3)
        self.add(self.like("ExpensePosted", expense_id=flow, project_id=project, erp_ref=ref,
                           amount=amount, accounting_date=at.date(), posted_at=at),
                 "time-expense", flow, at, le, 3)  # fmt: skip
        charge = self.samples["ChargeCreated"].charge.model_copy(update={
            "id": f"chg-{flow}", "project_id": project, "contract_id": None, "rate": amount,
            "source": ent.ChargeSource.EXPENSE, "source_ids": (flow,), "quantity": Decimal(1),
            "amount": amount, "bill_date": at.date(), "billing_period": f"{at:%Y-%m}",
        })  # fmt: skip
        self.add(ev.ChargeCreated(charge=charge), "billing-readiness", flow, at, le)

    def invoice(self, n: int) -> None:
        _, project, le, at = self.party()
        flow = f"inv-{n:06d}"
        charges = tuple(f"chg-{flow}-{i:02d}" for i in range(self.rng.randint(5, 40)))
        total = Money.of(f"{len(charges) * 1480}.00", le[2])
        line = self.samples["InvoiceReady"].lines[0].model_copy(update={
            "charge_ids": charges, "amount": total, "unit_price": total,
            "quantity": Decimal(1), "project_id": project})  # fmt: skip
        self.add(self.like("InvoiceReady", invoice_id=flow, project_id=project, contract_id=None,
                           currency=le[2], lines=(line,), subtotal=total, charge_ids=charges),
                 "billing-readiness", flow, at, le)  # fmt: skip
        invoice = self.samples["InvoicePosted"].invoice
        invoice = invoice.model_copy(update={
            "id": flow, "number": f"INV-{n:06d}", "seller_legal_entity_id": le[0],
            "currency": le[2], "lines": (line,), "subtotal": total, "total": total,
            "tax_total": Money.of("0", le[2]),
            "refs": (invoice.refs[0].model_copy(update={"external_id": f"i{n}"}),),
        })  # fmt: skip
        at += timedelta(minutes=2)
        self.add(self.like("InvoicePosted", invoice=invoice, posted_at=at), "billing-readiness",
                 flow, at, le, 2)  # fmt: skip

    def deal(self, n: int) -> None:
        worker, _, le, at = self.party()
        opp, project, flow = f"opp-{n:06d}", f"prj-q2c-{n:06d}", f"q2c-opp-{n:06d}"
        opportunity = self.samples["OpportunityCommitted"].opportunity
        self.add(self.like("OpportunityCommitted", committed_at=at,
                           opportunity=opportunity.model_copy(update={"id": opp})),
                 "project-sync", flow, at, le, 7)  # fmt: skip
        contract = self.samples["SOWApproved"].contract.model_copy(
            update={"id": f"ctr-{n:06d}", "opportunity_id": opp}
        )
        for step, name in enumerate(("ProjectShellCreated", "SOWApproved", "ProjectActivated")):
            at += timedelta(minutes=30)
            shell = self.samples[name]
            if name == "SOWApproved":
                payload = self.like(name, contract=contract, project_ids=(project,))
            else:
                payload = self.like(name, project=shell.project.model_copy(
                    update={"id": project, "opportunity_id": opp}))  # fmt: skip
            self.add(payload, "project-sync", flow, at, le, step + 1)
        for r in range(self.rng.randint(1, 3)):
            at += timedelta(hours=2)
            request = self.samples["ResourceRequested"].request.model_copy(
                update={"id": f"rr-{n:06d}-{r}", "project_id": project, "opportunity_id": opp}
            )
            self.add(ev.ResourceRequested(request=request), "staffing-sync", flow, at, le)
            self.add(self.like("StaffingOptionsProposed", request_id=request.id, proposed_at=at),
                     "staffing-sync", flow, at, le, 2)  # fmt: skip
            assignment = self.samples["AssignmentConfirmed"].assignment.model_copy(update={
                "id": f"asg-{n:06d}-{r}", "project_id": project, "worker_id": worker,
                "resource_id": f"res-{worker[4:]}"})  # fmt: skip
            self.add(self.like("AssignmentConfirmed", assignment=assignment), "staffing-sync",
                     flow, at + timedelta(hours=1), le)  # fmt: skip

    def hire(self, n: int) -> None:
        _, _, le, at = self.party()
        onboarded = self.samples["ConsultantOnboarded"]
        worker = onboarded.worker.model_copy(update={"id": f"wrk-new-{n:06d}",
                                                     "legal_entity_id": le[0]})  # fmt: skip
        rate = onboarded.cost_rate.model_copy(update={"worker_id": worker.id})
        self.add(self.like("ConsultantOnboarded", worker=worker, cost_rate=rate),
                 "staffing-sync", f"hire-{worker.id}", at, le)  # fmt: skip

    def findings(self, n: int) -> None:
        _, project, le, at = self.party()
        run = f"rec-{n:06d}"
        for i in range(self.rng.randint(1, 4)):
            self.add(self.like("ReconciliationMismatch", run_id=run, project_id=project,
                               scope_key=f"{project}:{n}:{i}", detected_at=at),
                     "time-expense", run, at, le)  # fmt: skip
        if n % 2:
            self.add(self.like("RevenueLeakageDetected", project_id=project, detected_at=at),
                     "billing-readiness", f"leak-{project}", at, le, n)  # fmt: skip
        if n % 3 == 0:
            self.add(self.like("MessageParked", parked_id=f"prk-{n:06d}",
                               original_event_id=str(uuid.uuid4())),
                     "time-expense", f"prk-{n:06d}", at, le)  # fmt: skip
        if n % 4 == 0:
            breach = self.like("UtilizationThresholdBreached", resource_id=f"res-{n:05d}")
            self.add(breach, "observability", f"util-{n}", at, le)


def month_events(count: int, seed: int) -> list[Outgoing]:
    """``count`` events of a month's flows, interleaved in time, each decoded once (checked)."""
    month = Month(seed)
    kinds = (month.timesheet, month.expense, month.invoice, month.deal, month.hire, month.findings)
    n = 0
    while len(month.events) < count:
        n += 1
        month.rng.choices(kinds, (60, 14, 4, 2, 4, 3))[0](n)
    made, seen = [], set()
    for _, _, envelope in sorted(month.events, key=lambda e: (e[0], e[1]))[:count]:
        body = encode(envelope)
        decode(body)  # a generated payload the consumer would refuse fails here, not parked
        seen.add(envelope.idempotency_key)  # the inbox would drop a second one
        made.append(Outgoing(str(envelope.event_id), envelope.event_type, envelope.routing_key,
                             body, message_type(envelope),
                             KEYS[envelope.producer.service](envelope)))  # fmt: skip
    if len(seen) != len(made):
        sys.exit(f"{len(made) - len(seen)} generated events repeat an idempotency key")
    return made


# --- fresh parts, CPU, memory -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh(name: str) -> AsyncIterator[tuple[str, str]]:
    """A new database and vhost named ``name``; both dropped afterwards."""
    admin, amqp, management = _urls()
    database_url = await _fresh_database(admin, name)
    amqp_url = await _fresh_vhost(amqp, management, name)
    try:
        yield database_url, amqp_url
    finally:
        async with httpx.AsyncClient(base_url=management, timeout=30) as api:
            await api.delete(f"/api/vhosts/{name}")
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


Cpu = dict[str, dict[int, float]]


def cpu(parts: dict[str, list[int]]) -> Cpu:
    """CPU seconds so far of each part's processes."""
    return {part: {pid: _cpu_s(pid) for pid in pids} for part, pids in parts.items()}


def cpu_ms(before: Cpu, after: Cpu, count: int) -> dict[str, float]:
    """CPU ms per ``count`` of each part between two snapshots (a new process: all of it)."""
    return {part: 1000 * sum(max(0.0, s - before[part].get(pid, 0.0)) for pid, s in pids.items())
            / count for part, pids in after.items()}  # fmt: skip


def peak_rss_mb(pid: int) -> float:
    """``VmHWM`` of ``pid``, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def parts(service: LocalService, db: asyncpg.Connection[Any], name: str
                ) -> dict[str, list[int]]:  # fmt: skip
    """The processes of each part now: the service's, the backends of its database (not this
    one's), the whole PostgreSQL and RabbitMQ servers, and this process."""
    admin, amqp, _ = _urls()
    postmaster = _listener(urlsplit(admin).port or 5432)
    return {**{role: [pid] for role, pid in ((r, service.pid(r)) for r in service.processes)},
            "postgres (this db)": [r[0] for r in await db.fetch(_BACKENDS, name)],
            "postgres (all)": [postmaster, *_children(postmaster)],
            "rabbitmq": [_listener(urlsplit(amqp).port or 5672)],
            "publisher" if "worker" in service.processes else "client": [os.getpid()]}  # fmt: skip


async def storage(connection: asyncpg.Connection[Any]) -> tuple[float, float]:
    """Bytes of steps + step_keys (indexes, TOAST) per step; keys per step."""
    row = await connection.fetchrow(_STORAGE)
    assert row is not None  # noqa: S101 - one row, always
    return (row["steps"] + row["keys"]) / max(1, row["n"]), row["k"] / max(1, row["n"])


async def publish_all(exchange: aio_pika.abc.AbstractExchange, batch: list[Outgoing],
                      window: int, sent: dict[str, float] | None = None) -> None:  # fmt: skip
    """Publish ``batch`` with ``window`` publishes awaiting their confirms."""
    gate = asyncio.Semaphore(window)

    async def one(out: Outgoing) -> None:
        async with gate:
            if sent is not None:
                sent[out.event_id] = time.time()
            await exchange.publish(out.message(), routing_key=out.routing_key)

    await asyncio.gather(*(one(out) for out in batch))


# --- 1. the raw ceiling --------------------------------------------------------------------


async def raw_run(batch: list[Outgoing], n: int, args: argparse.Namespace
                  ) -> tuple[float, dict[str, float]]:  # fmt: skip
    """Messages/s of plain aio-pika (confirmed publishes, one quorum queue, acked one by one)
    and CPU ms per message of RabbitMQ and of this process (publisher and consumer)."""
    received, last, done = 0, 0.0, asyncio.Event()

    async def consume(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal received, last
        await message.ack()
        received, last = received + 1, time.perf_counter()
        if received >= len(batch):
            done.set()

    async with (
        fresh(f"bench-obs-raw-{n}") as (_, amqp_url),
        await aio_pika.connect(amqp_url) as connection,
    ):
        exchange = await declare_events_exchange(await connection.channel(publisher_confirms=True))
        subscriber = await connection.channel()
        await subscriber.set_qos(prefetch_count=256)
        raw = await subscriber.declare_queue(
            "bench.raw", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await raw.bind(exchange, routing_key="#")
        await raw.consume(consume)
        parts = {"rabbitmq": [_listener(urlsplit(amqp_url).port or 5672)], "this": [os.getpid()]}
        before, started = cpu(parts), time.perf_counter()
        await publish_all(exchange, batch, args.window)
        await asyncio.wait_for(done.wait(), args.max_wait)
        used = cpu_ms(before, cpu(parts), len(batch))
    return len(batch) / (last - started), used


# --- 2. ingest -----------------------------------------------------------------------------


@dataclass
class Ingest:
    steps: int = 0
    seconds: float = 0.0  # first publish -> last step's recorded_at
    rate: float = 0.0
    publish_s: float = 0.0
    latency: tuple[float, float] = (0.0, 0.0)  # p50, p99 s: publish -> recorded_at
    lag: int = 0  # steps not folded when the last was recorded
    fold_s: float = float("nan")  # last step recorded -> everything folded
    rss_mb: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    bytes_per_step: float = 0.0
    keys_per_step: float = 0.0


async def poll(connection: asyncpg.Connection[Any], done: Callable[[asyncpg.Record], bool],
               within: float) -> asyncpg.Record:  # fmt: skip
    """``_COUNTS`` every 0.1 s until ``done`` or ``within`` s (then the last row)."""
    deadline = time.monotonic() + within
    while True:
        row: asyncpg.Record | None = await connection.fetchrow(_COUNTS)
        assert row is not None  # noqa: S101 - an aggregate, always a row
        if done(row) or time.monotonic() > deadline:
            return row
        await asyncio.sleep(0.1)


async def ingest(batch: list[Outgoing], n: int, args: argparse.Namespace) -> Ingest:
    """One burst into a fresh deployment of observability's worker."""
    run, name = Ingest(), f"bench_obs_ingest_{n}"
    async with fresh(name) as (database_url, amqp_url):
        await apply_migrations(database_url, DEFINITION.migrations)
        service = LocalService(
            module="observability", name="observability", database_url=database_url,
            amqp_url=amqp_url, logs=LOGS, settings={"TANDEM_LOG_LEVEL": "WARNING"},
        )  # fmt: skip
        try:
            service.start_workers(WORKERS)
            await service.wait_worker("worker")
            await service.wait_consuming(QUEUE)
            await burst(service, (database_url, name, amqp_url), batch, run, args)
        finally:
            service.stop()
    return run


async def burst(service: LocalService, where: tuple[str, str, str], batch: list[Outgoing],
                run: Ingest, args: argparse.Namespace) -> None:  # fmt: skip
    """Publish ``batch`` at once; wait until recorded, then folded; measure."""
    database_url, name, amqp_url = where
    db = await asyncpg.connect(database_url)
    try:
        async with await aio_pika.connect(amqp_url) as connection:
            exchange = await declare_events_exchange(
                await connection.channel(publisher_confirms=True)
            )
            before, sent = cpu(await parts(service, db, name)), dict[str, float]()
            first = time.time()
            await publish_all(exchange, batch, args.window, sent)
            run.publish_s = time.time() - first
            row = await poll(db, lambda r: r["n"] >= len(batch), args.max_wait)
            run.cpu = cpu_ms(before, cpu(await parts(service, db, name)), len(batch))
        run.steps, run.rss_mb = int(row["n"]), peak_rss_mb(service.pid("worker"))
        run.seconds = row["last"].timestamp() - first
        run.rate = run.steps / run.seconds
        run.lag = int(await db.fetchval(
            "SELECT count(*) FROM observability.steps WHERE NOT folded"))  # fmt: skip
        recorded = await db.fetch("SELECT event_id::text, recorded_at FROM observability.steps")
        waits = sorted(r["recorded_at"].timestamp() - sent[r["event_id"]] for r in recorded)
        run.latency = (waits[len(waits) // 2], waits[min(len(waits) - 1, len(waits) * 99 // 100)])
        top = row["top"]
        folded = await poll(db, lambda r: r["folded"] >= top, args.max_wait)
        if folded["folded"] >= top:
            moved = await db.fetchval("SELECT moved_at FROM observability.projector")
            run.fold_s = (moved - row["last"]).total_seconds()
        run.bytes_per_step, run.keys_per_step = await storage(db)
    finally:
        await db.close()


# --- 3. reads at a million steps -----------------------------------------------------------

STEP_COLUMNS = (
    "event_id", "event_type", "service", "system", "occurred_at", "recorded_at", "outcome",
    "reason", "subject_type", "subject_id", "correlation_id", "causation_id", "region",
    "legal_entity_id", "trace_id", "keys", "system_ids", "facts", "folded",
)  # fmt: skip
KEY_COLUMNS = ("key_id", "kind", "seq", "correlation_id")
CHUNK = 25_000


@dataclass(frozen=True)
class Flow:
    """A generated flow: a timesheet (``k`` entries, 1 + 3k steps) or a deal (``k`` roles
    staffed, 4 + 3k steps); ``size`` its steps stored (the last flow may be cut short)."""

    n: int
    deal: bool
    k: int
    size: int
    start: float
    lag: float
    worker: int
    project: int
    cid: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "cid", f"q2c-opp-{self.n:07d}" if self.deal else f"ts-{self.n:07d}"
        )

    def entry(self, j: int) -> str:
        return f"te-{self.n:07d}-{j:02d}"

    def at(self, idx: int) -> float:
        """When step ``idx`` happened."""
        if self.deal:
            return self.start + (1800.0 * idx if idx < 4 else 7200.0 * ((idx - 4) // 3 + 1)
                                 + (0, 60, 3600)[(idx - 4) % 3])  # fmt: skip
        if idx == 0:
            return self.start
        j, phase = (idx - 1) % self.k, (idx - 1) // self.k
        return self.start + self.lag + j + (0, 300, 301)[phase]


def plan(steps: int, seed: int) -> tuple[list[Flow], list[int]]:
    """Flows of 10-60 steps (85 % timesheets) started over 13 months until ``steps``; and the
    order their steps are recorded in (``ms << 26 | flow << 6 | step``)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible data, not a secret
    now, flows, total = time.time() - 86_400, list[Flow](), 0
    while total < steps:
        deal = rng.random() < 0.15
        k = rng.randint(2, 18) if deal else rng.randint(3, 19)
        size = min((4 if deal else 1) + 3 * k, steps - total)
        flows.append(Flow(len(flows), deal, k, size, now - rng.random() * 390 * 86_400,
                          3600.0 * rng.randint(1, 72), rng.randrange(3000),
                          rng.randrange(1500)))  # fmt: skip
        total += size
    order = [int(f.at(i) * 1000 + 300) << 26 | f.n << 6 | i for f in flows for i in range(f.size)]
    order.sort()
    return flows, order


def _event_id(flow: Flow, idx: int) -> str:
    """A UUIDv7 of when the step happened, its random bits a hash of (flow, step)."""
    rand = f"{(flow.n << 6 | idx) * 0x9E3779B97F4A7C15 & ((1 << 64) - 1):016x}"
    ms = f"{int(flow.at(idx) * 1000):012x}"
    return f"{ms[:8]}-{ms[8:]}-7{rand[:3]}-a{rand[3:6]}-{rand[6:16]}{rand[:2]}"


def _entry_facts(flow: Flow, j: int, le: Entity) -> dict[str, Any]:
    work = datetime.fromtimestamp(flow.start - 86_400 * j, UTC).date().isoformat()
    return {"entry": flow.entry(j), "timesheet": flow.cid, "worker": f"wrk-{flow.worker:05d}",
            "project": f"prj-{flow.project:05d}", "work_date": work, "minutes": 480,
            "billable": True, "rate": RATES[flow.n % 5], "currency": le[2]}  # fmt: skip


def _timesheet_step(f: Flow, idx: int, le: Entity) -> tuple[Any, ...]:
    """(event type, service, subject type, subject id, keys, system ids, facts, causing step)."""
    worker, project, sheet = f"wrk-{f.worker:05d}", f"prj-{f.project:05d}", f.cid
    assignment = f"asg-{f.worker:05d}-{f.project:05d}"
    if idx == 0:
        entries = [f.entry(j) for j in range(f.k)]
        keys = [("timesheet", sheet), ("worker", worker),
                *(("time_entry", e) for e in entries), ("project", project),
                ("assignment", assignment)]  # fmt: skip
        facts: dict[str, Any] = {"timesheet": sheet, "entries": entries}
        return "TimeSubmitted", "time-expense", "timesheet", sheet, keys, [], facts, None
    j, phase = (idx - 1) % f.k, (idx - 1) // f.k
    entry, facts = f.entry(j), _entry_facts(f, j, le)
    if phase == 0:
        facts = {"flow": ["time_posting", entry, "start"], **facts}
        keys = [("time_entry", entry), ("timesheet", sheet), ("worker", worker),
                ("project", project), ("assignment", assignment)]  # fmt: skip
        return "TimeApproved", "time-expense", "time_entry", entry, keys, [], facts, 0
    amount = str(Decimal(RATES[f.n % 5]) * 8)
    if phase == 1:
        keys = [("time_entry", entry), ("project", project), ("worker", worker)]
        line = [("erp", "tryton-" + le[1], "timesheet.line", str(f.n * 32 + j))]
        facts = {k: facts[k] for k in ("entry", "worker", "project", "work_date", "minutes")}
        facts |= {"amount": amount, "currency": le[2], "billable": True, "reversal_of": None,
                  "flow": ["time_posting", entry, "end"]}  # fmt: skip
        return "TimePosted", "time-expense", "time_entry", entry, keys, line, facts, 1 + j
    charge = f"chg-{f.n:07d}-{j:02d}"
    keys = [("charge", charge), ("project", project), ("time_entry", entry)]
    facts = {"charge": charge, "project": project, "source": "time", "source_ids": [entry],
             "amount": amount, "currency": le[2], "bill_date": facts["work_date"],
             "intercompany": False}  # fmt: skip
    return "ChargeCreated", "billing-readiness", "charge", charge, keys, [], facts, 1 + f.k + j


def _deal_step(f: Flow, idx: int, le: Entity) -> tuple[Any, ...]:
    """(event type, service, subject type, subject id, keys, system ids, facts, causing step)."""
    opp, project, customer = f"opp-{f.n:07d}", f"prj-{f.project:05d}", f"cus-{f.project % 400:04d}"
    contract, erp = f"ctr-{f.n:07d}", "tryton-" + le[1]
    if idx == 0:
        return ("OpportunityCommitted", "project-sync", "opportunity", opp,
                [("opportunity", opp), ("customer", customer)],
                [("crm", "salesforce-acme", "Opportunity", f"0065g{f.n:013d}")],
                {"flow": ["quote_to_cash", opp, "start"]}, None)  # fmt: skip
    if idx == 1:
        return ("ProjectShellCreated", "project-sync", "project", project,
                [("project", project), ("customer", customer), ("opportunity", opp)],
                [("erp", erp, "project.work", str(f.n))], {}, 0)  # fmt: skip
    if idx == 2:
        return ("SOWApproved", "project-sync", "contract", contract,
                [("contract", contract), ("customer", customer), ("opportunity", opp),
                 ("project", project)],
                [("erp", erp, "sale.contract", str(f.n))], {}, 1)  # fmt: skip
    if idx == 3:
        return ("ProjectActivated", "project-sync", "project", project,
                [("project", project), ("customer", customer), ("contract", contract),
                 ("opportunity", opp)],
                [("erp", erp, "project.work", str(f.n)), ("psa", "psa", "workspace", str(f.n))],
                {"flow": ["quote_to_cash", opp, "end"]}, 2)  # fmt: skip
    j, phase = (idx - 4) // 3, (idx - 4) % 3
    request, a, b = f"rr-{f.n:07d}-{j:02d}", (f.worker + j) % 3000, (f.worker + 7 * j) % 3000
    if phase == 0:
        return ("ResourceRequested", "staffing-sync", "resource_request", request,
                [("request", request), ("project", project), ("opportunity", opp)], [],
                {"flow": ["staffing", request, "start"]}, 3)  # fmt: skip
    if phase == 1:
        return ("StaffingOptionsProposed", "staffing-sync", "resource_request", request,
                [("request", request), ("worker", f"res-{a:05d}"), ("worker", f"wrk-{a:05d}"),
                 ("worker", f"res-{b:05d}"), ("worker", f"wrk-{b:05d}")], [],
                {"flow": ["staffing", request, "end"]}, idx - 1)  # fmt: skip
    assignment = f"asg-{f.n:07d}-{j:02d}"
    return ("AssignmentConfirmed", "staffing-sync", "assignment", assignment,
            [("assignment", assignment), ("project", project), ("worker", f"res-{a:05d}"),
             ("worker", f"wrk-{a:05d}")], [],
            {"assignment": assignment, "worker": f"wrk-{a:05d}", "minutes_per_day": 480,
             "total_minutes": 24_000, "hard": True}, idx - 1)  # fmt: skip


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


def chunk(flows: list[Flow], order: list[int], start: int) -> tuple[bytes, bytes]:
    """COPY text of steps ``start``.. (seq = position + 1) and of every key they name."""
    steps, keys = list[str](), list[str]()
    for seq in range(start + 1, min(start + CHUNK, len(order)) + 1):
        code = order[seq - 1]
        f, idx = flows[code >> 6 & 0xFFFFF], code & 63
        le = ENTITIES[f.worker % 3]
        kind, service, subject_type, subject_id, named, sys_ids, facts, cause = (
            _deal_step(f, idx, le) if f.deal else _timesheet_step(f, idx, le)
        )
        grouped: dict[str, list[str]] = {}
        for k, v in named:
            grouped.setdefault(k, []).append(v)
        event_id, at = _event_id(f, idx), f.at(idx)
        steps.append("\t".join((
            event_id, kind, service, "\\N", _iso(at), _iso(at + 0.3), "ok", "\\N", subject_type,
            subject_id, f.cid, "\\N" if cause is None else _event_id(f, cause), le[1], le[0],
            f"{(f.n << 6 | idx) * 0x2545F4914F6CDD1D & ((1 << 128) - 1):032x}",
            json.dumps({k: v[0] if len(v) == 1 else v for k, v in grouped.items()}),
            json.dumps([{"system": s, "instance": i, "object": o, "id": x}
                        for s, i, o, x in sys_ids]),
            json.dumps(facts), "t",  # loaded as folded: the read bench folds nothing
        )))  # fmt: skip
        every = [*named, *(("system_id", s[3]) for s in sys_ids), ("event", event_id)]
        keys.extend(f"{v}\t{k}\t{seq}\t{f.cid}" for k, v in dict.fromkeys(every))
    return ("\n".join(steps) + "\n").encode(), ("\n".join(keys) + "\n").encode()


async def load(database_url: str, flows: list[Flow], order: list[int]) -> None:
    """COPY every step and key, chunk by chunk; the next chunk is made while one is copied."""
    made: queue.Queue[tuple[bytes, bytes] | BaseException | None] = queue.Queue(maxsize=2)

    def make() -> None:
        try:
            for start in range(0, len(order), CHUNK):
                made.put(chunk(flows, order, start))
            made.put(None)
        except BaseException as exc:  # handed to the loader, which raises it
            made.put(exc)
            raise

    threading.Thread(target=make, daemon=True).start()
    steps_db, keys_db = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        for connection in (steps_db, keys_db):
            await connection.execute("SET synchronous_commit = off")
        while (part := await asyncio.to_thread(made.get)) is not None:
            if isinstance(part, BaseException):
                raise part
            await asyncio.gather(
                steps_db.copy_to_table("steps", schema_name="observability", format="text",
                                       source=io.BytesIO(part[0]), columns=STEP_COLUMNS),
                keys_db.copy_to_table("step_keys", schema_name="observability", format="text",
                                      source=io.BytesIO(part[1]), columns=KEY_COLUMNS),
            )  # fmt: skip
    finally:
        await steps_db.close()
        await keys_db.close()


@dataclass
class Reads:
    steps: int = 0
    keys_per_step: float = 0.0
    bytes_per_step: float = 0.0
    load_s: float = 0.0
    vacuum_s: float = 0.0
    ms: dict[str, tuple[float, float]] = field(default_factory=dict)  # route: p50, p99
    rounds: list[dict[str, tuple[float, float]]] = field(default_factory=list)
    wrong: int = 0
    rss_mb: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def ask(api: httpx.AsyncClient, path: str, took: list[float]) -> Any:
    """GET ``path``; its time into ``took``; its JSON (None unless 200)."""
    started = time.perf_counter()
    answer = await api.get(path)
    took.append(time.perf_counter() - started)
    return answer.json() if answer.status_code == 200 else None


async def query(api: httpx.AsyncClient, flows: list[Flow], rng: random.Random, count: int,
                reads: Reads) -> dict[str, tuple[float, float]]:  # fmt: skip
    """``count`` timelines, searches and time entries' steps, of random whole timesheets."""
    took: dict[str, list[float]] = {"timeline": [], "search": [], "keys": []}
    for _ in range(count):
        f = rng.choice(flows)
        while f.deal or f.size < 1 + 3 * f.k:
            f = rng.choice(flows)
        entry = f.entry(rng.randrange(f.k))
        line = await ask(api, f"/v1/timelines/{f.cid}", took["timeline"])
        found = await ask(api, f"/v1/search?q={entry}", took["search"])
        steps = await ask(api, f"/v1/keys/time_entry/{entry}", took["keys"])
        reads.wrong += (
            (line is None or len(line["steps"]) != f.size)
            + (found is None or [(m["kind"], m["steps"], m["correlation_ids"])
                                 for m in found["matches"]] != [("time_entry", 4, [f.cid])])
            + (steps is None or len(steps["steps"]) != 4)
        )  # fmt: skip
    return {route: (_pct(t, 0.50), _pct(t, 0.99)) for route, t in took.items()}


async def reads_at(args: argparse.Namespace) -> Reads:
    """Load ``--steps`` steps into a fresh database; time observability's api reading them."""
    reads, name = Reads(), "bench_obs_reads"
    flows, order = plan(args.steps, args.seed)
    async with fresh(name) as (database_url, amqp_url):
        await apply_migrations(database_url, DEFINITION.migrations)
        started = time.monotonic()
        await load(database_url, flows, order)
        reads.load_s = time.monotonic() - started
        db = await asyncpg.connect(database_url)
        try:
            started = time.monotonic()
            await db.execute("VACUUM (ANALYZE) observability.steps, observability.step_keys")
            reads.vacuum_s = time.monotonic() - started
            reads.steps = int(await db.fetchval(_LOADED, len(order)))
            reads.bytes_per_step, reads.keys_per_step = await storage(db)
            service = LocalService(
                module="observability", name="observability", database_url=database_url,
                amqp_url=amqp_url, logs=LOGS,
                settings={"TANDEM_LOG_LEVEL": "WARNING", "TANDEM_RATE_LIMIT": "100000/minute",
                          "TANDEM_API_KEYS": json.dumps({API_KEY: ["observability:read"]})},
            )  # fmt: skip
            try:
                service.start("api")
                await service.wait_api()
                await timed_rounds(service, db, name, flows, reads, args)
            finally:
                service.stop()
        finally:
            await db.close()
    return reads


async def timed_rounds(service: LocalService, db: asyncpg.Connection[Any], name: str,
                       flows: list[Flow], reads: Reads, args: argparse.Namespace
                       ) -> None:  # fmt: skip
    """``--runs`` rounds of ``--queries`` per route after a short warm-up; CPU per query."""
    rng = random.Random(args.seed)  # noqa: S311 - reproducible picks, not a secret
    async with httpx.AsyncClient(base_url=service.api_url, headers={"X-API-Key": API_KEY},
                                 timeout=30) as api:  # fmt: skip
        await query(api, flows, rng, 10, Reads())  # the api's first requests, not the data's
        before = cpu(await parts(service, db, name))
        reads.rounds = [await query(api, flows, rng, args.queries, reads) for _ in range(args.runs)]
        reads.cpu = cpu_ms(
            before, cpu(await parts(service, db, name)), 3 * args.queries * args.runs
        )
    reads.rss_mb = peak_rss_mb(service.pid("api"))
    reads.ms = {route: (statistics.median(r[route][0] for r in reads.rounds),
                        statistics.median(r[route][1] for r in reads.rounds))
                for route in reads.rounds[0]}  # fmt: skip


# --- the report ----------------------------------------------------------------------------


def _cpu_text(used: dict[str, float]) -> str:
    return ", ".join(f"{part} {ms:.2f}" for part, ms in used.items())


def report(args: argparse.Namespace, batch: list[Outgoing], raws: list[tuple[float, Any]],
           runs: list[Ingest], reads: Reads, load: tuple[float, ...]) -> None:  # fmt: skip
    """Print the summary block."""
    mid = statistics.median
    raw, size = mid(r for r, _ in raws), statistics.mean(len(o.body) for o in batch)
    mix = Counter(o.event_type for o in batch).most_common()
    print(f"\n=== bench-observability, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} "
          f"cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after{' (--quick)' if args.quick else ''}")  # fmt: skip
    print(f"events: {len(batch):,}, {size:,.0f} B mean body; mix: "
          + ", ".join(f"{t} {n}" for t, n in mix))  # fmt: skip
    print(f"1. raw broker ceiling (plain aio-pika, confirms, one quorum queue, same messages): "
          f"{raw:,.0f} msg/s (runs: {', '.join(f'{r:,.0f}' for r, _ in raws)}); CPU ms per "
          f"message: {_cpu_text(raws[0][1])}")  # fmt: skip
    print(f"2. ingest (observability worker, roles consume+schedule, default settings), "
          f"{len(runs)} run(s):")  # fmt: skip
    print(f"   {'run':<7} {'steps':>7} {'s':>6} {'steps/s':>8} {'x raw':>6} {'p50 s':>6} "
          f"{'p99 s':>6} {'publish s':>9} {'KPI lag':>7} {'folded s':>8} {'RSS':>6}")  # fmt: skip
    for n, r in enumerate(runs, 1):
        print(f"   {n:<7} {r.steps:>7} {r.seconds:>6.1f} {r.rate:>8,.0f} {r.rate / raw:>6.3f} "
              f"{r.latency[0]:>6.2f} {r.latency[1]:>6.2f} {r.publish_s:>9.1f} {r.lag:>7} "
              f"{r.fold_s:>8.1f} {r.rss_mb:>4.0f}MB")  # fmt: skip
        missing = len(batch) - r.steps
        print(
            f"           CPU ms per event: {_cpu_text(r.cpu)}"
            + (f"; {missing} events NOT recorded within --max-wait" if missing else "")
        )
    rate, lag, fold = (mid(getattr(r, name) for r in runs) for name in ("rate", "lag", "fold_s"))
    print(f"   median: {rate:,.0f} steps/s = {rate / raw:.3f} x raw; KPI projector {lag:,.0f} "
          f"steps behind as the last step was recorded, all folded {fold:.1f} s on")  # fmt: skip
    print(f"3. reads at {reads.steps:,} steps ({reads.keys_per_step:.2f} keys per step): COPY "
          f"{reads.load_s:.1f} s, VACUUM ANALYZE {reads.vacuum_s:.1f} s; api over HTTP, "
          f"sequential, {args.queries} per route x {args.runs} round(s), medians:")  # fmt: skip
    for route, (p50, p99) in reads.ms.items():
        rounds = " / ".join(f"{r[route][1]:.1f}" for r in reads.rounds)
        print(f"   {route:<9} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  (p99 per round: {rounds})")
    print(f"   wrong answers: {reads.wrong}; api peak RSS {reads.rss_mb:.0f} MB; CPU ms per "
          f"query: {_cpu_text(reads.cpu)}")  # fmt: skip
    ingested = mid(r.bytes_per_step for r in runs)
    print(f"4. storage per step (steps + step_keys, indexes and TOAST): {reads.bytes_per_step:,.0f}"
          f" B at {reads.steps:,} generated steps; {ingested:,.0f} B for the "
          f"{runs[0].steps:,} recorded by the worker "
          f"({mid(r.keys_per_step for r in runs):.2f} keys per step)")  # fmt: skip
    worst = max(p99 for _, p99 in reads.ms.values())
    print(f"targets: ingest / raw {rate / raw:.3f} (>= 0.6: {_met(rate / raw >= 0.6)}); "
          f"worst read p99 {worst:.1f} ms (< 100 ms: {_met(worst < 100)}); load "
          f"{reads.load_s:.0f} s (< 120 s: {_met(reads.load_s < 120)})")  # fmt: skip


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


async def main(args: argparse.Namespace) -> None:
    for url in _urls():
        if urlsplit(url).hostname not in {"127.0.0.1", "localhost", "::1"}:
            sys.exit(f"bench_observability talks to loopback only, not {urlsplit(url).hostname}")
    if args.quick:
        args.events, args.steps, args.runs, args.queries = 4_000, 100_000, 1, 100
    LOGS.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    batch = month_events(args.events, args.seed)
    print(f"{len(batch):,} events generated; raw ceiling...", flush=True)
    raws = [await raw_run(batch, n, args) for n in range(args.runs)]
    runs = []
    for n in range(args.runs):
        print(f"ingest run {n + 1}...", flush=True)
        runs.append(await ingest(batch, n, args))
    print(f"loading {args.steps:,} steps...", flush=True)
    reads = await reads_at(args)
    report(args, batch, raws, runs, reads, load)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="make bench-observability",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=20_000, help="events per ingest run")
    parser.add_argument("--steps", type=int, default=1_000_000, help="steps loaded for reads")
    parser.add_argument("--runs", type=int, default=3, help="raw, ingest and query rounds")
    parser.add_argument("--queries", type=int, default=300, help="per route per round")
    parser.add_argument("--window", type=int, default=500, help="publishes awaiting confirms")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--max-wait", type=float, default=300.0, help="seconds per wait")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 4,000 events, 100,000 steps, 1 run"
    )
    uvloop.run(main(parser.parse_args()))
