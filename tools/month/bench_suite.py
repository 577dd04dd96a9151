"""``make bench-suite``: the scenario firm's month through all five services into the sandbox
ERP, at 220 and at 1,000 consultants (issue 18's benchmark).

Each size is a fresh run (databases ``tandem_bench_suite_<n>_*``, vhost
``tandem-bench_suite_<n>``): the suite as ``make run`` starts it (``month.suite``: the sandbox
CRM, PSA, HRIS and HTTP ERP, the api and worker of each service; the firm's intercompany pairs
allowed; no trace store, so tracing is off as in every other bench), the month played by
``make run``'s own stages (set_up_firm, hire, win, staff, play, settle_time, bill). Meanwhile:

- a queue of the bench's own, bound to the events exchange with ``#``, sees every event
  published: when it arrived, its type, and the envelopes the latencies are read from;
- every 2 s, each service's waiting work: its consumer queue's depth (RabbitMQ's management
  API, whose figures lag a few seconds), the records it landed from a system of record and has
  not ingested yet (``connectors.inbound``) and the events it has not relayed yet
  (``messaging.outbox``), both read from its database, never written;
- every 2 s, the CPU seconds of every process (``/proc``): each service's api and worker, the
  PostgreSQL backends of each of the run's databases (the bench's own left out; a backend that
  exits keeps its last reading), the whole PostgreSQL server and RabbitMQ node (shared with
  whatever else uses them), and this process, on whose event loop the sandbox systems run
  beside the driver and the tap;
- after the month, the suite stopped: the raw broker ceiling (``month.bench.raw_ceiling``).

Events/s is the events published during the month over its wall time, a rate the script
paces (the stages run one after another, each waiting for the suite); the peak over 5-s
windows is closer to what the suite sustains. Commit -> first invoice posted includes the
month's play and the month-end invoicing: a pipeline figure, not a latency. Per approved time
entry: the PSA's approval (the entry's ``approved_at``) to time-expense's ``TimeApproved``, then
from that envelope to the first event of each later step that carries the entry (an entry's
charge names it in ``source_ids``; an invoice names its charges in ``charge_ids``). The
limiting service is the one whose work waited most (items x seconds), with its CPU and handler
time per event beside it.

One file, past the usual module size, as every benchmark in tools/ reads top to bottom.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import aio_pika
import asyncpg
import httpx
from aio_pika.abc import AbstractIncomingMessage
from bench_scale import _children, _cpu_s, _listener

from month.bench import _peak_rss_mb, raw_ceiling
from month.close import Billed, bill, settle_time
from month.outcome import Outcome
from month.play import Played, play
from month.report import parked, recorded
from month.seed import Hired, hire, set_up_firm, win
from month.staffing import Staffed, staff
from month.suite import SERVICES, Suite, running_suite
from month.systems import ROOT, _urls
from tandem_contracts import Envelope, decode
from tandem_contracts.entities import ChargeSource
from tandem_contracts.errors import DecodeError
from tandem_messaging import declare_events_exchange
from tandem_sandbox.scenario import Firm, generate
from tandem_testing import eventually

T = TypeVar("T")
LOGS = ROOT / ".tandem" / "bench"
SAMPLE_S = 2.0
WINDOW_S = 5
CUSTOMERS_PER_CONSULTANT = 60 / 220  # the scenario firm's own: 60 customers for 220 consultants
THIS = "this process (sandbox systems, driver, tap)"
PG_ALL, MQ_ALL = "postgres, whole server (all databases)", "rabbitmq, whole node (all vhosts)"
# The envelopes the latencies are read from; of the rest only the arrival and type are kept.
KEPT = frozenset({"OpportunityCommitted", "ProjectShellCreated", "TimeApproved", "TimePosted",
                  "ChargeCreated", "InvoiceReady", "InvoicePosted"})  # fmt: skip
_BACKENDS = """
SELECT pid, datname FROM pg_stat_activity WHERE datname = ANY($1::text[]) AND pid <> ALL($2::int[])
"""
# Where a service's work waits, beside its consumer queue (read, never written).
QUEUED, LANDED, UNSENT = "queue", "inbound", "outbox"
_WAITING = {
    LANDED: "SELECT count(*) FROM connectors.inbound WHERE status = 'pending'",
    UNSENT: "SELECT count(*) FROM messaging.outbox WHERE published_at IS NULL",
}
_TABLES = {LANDED: "connectors.inbound", UNSENT: "messaging.outbox"}
INGESTED = "PSA approval -> TimeApproved"
POSTED, INVOICED = "TimeApproved -> posted", "TimeApproved -> invoice posted"
_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{[^}]*\})? (?P<value>\S+)$", re.MULTILINE)
_PARTITION = re.compile(r"^(?P<group>.+)\.p\d+$")


# --- what the bench watches ------------------------------------------------------------------


@dataclass
class Tap:
    """Every event published on the run's events exchange, as a queue of the bench's own
    received it: its arrival (Unix time) and type; the bodies of the ``KEPT`` types."""

    arrived: list[tuple[float, str]] = field(default_factory=list)
    kept: list[bytes] = field(default_factory=list)
    types: Counter[str] = field(default_factory=Counter)

    async def take(self, message: AbstractIncomingMessage) -> None:
        """Note one delivery (no ack: the queue is the bench's, auto-acknowledged)."""
        # The routing key: ``{context}.{EventType}.v{version}.{region}.{legal_entity_id}``.
        parts = (message.routing_key or "").split(".")
        event_type = parts[1] if len(parts) > 1 else "?"
        self.arrived.append((time.time(), event_type))
        self.types[event_type] += 1
        if event_type in KEPT:
            self.kept.append(message.body)


@contextlib.asynccontextmanager
async def tapped(amqp_url: str) -> AsyncIterator[Tap]:
    """A tap on the events exchange of ``amqp_url``'s vhost until the block exits."""
    tap = Tap()
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=2000)
        exchange = await declare_events_exchange(channel)
        # Exclusive (classic, in memory): the tap costs the broker as little as a queue can.
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="#")
        await queue.consume(tap.take, no_ack=True)
        yield tap


@dataclass
class Probe:
    """The processes of each part of the run, and the CPU seconds each was last seen with (a
    process that exits keeps its last reading; one that starts counts from its start)."""

    fixed: dict[str, list[int]]
    postmaster: int
    databases: dict[str, str]
    """The run's database names -> the part their backends count under."""
    admin: asyncpg.Connection
    stores: dict[str, tuple[asyncpg.Connection, list[str]]]
    """Service -> a connection to its database, and where its work waits there."""
    seen: dict[str, dict[int, float]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def look(self) -> None:
        """Read every part's processes now."""
        parts = {**self.fixed, PG_ALL: [self.postmaster, *_children(self.postmaster)]}
        own = [c.get_server_pid() for c, _ in self.stores.values()]  # the bench's, not theirs
        async with self.lock:  # the sampler and the clock share the one connection
            rows = await self.admin.fetch(_BACKENDS, list(self.databases), own)
        for row in rows:
            parts.setdefault(self.databases[row["datname"]], []).append(int(row["pid"]))
        for part, pids in parts.items():
            for pid in pids:
                if (used := _cpu_s(pid)) > 0:
                    self.seen.setdefault(part, {})[pid] = used

    def snapshot(self) -> dict[str, float]:
        """CPU seconds so far per part."""
        return {part: sum(pids.values()) for part, pids in self.seen.items()}

    async def close(self) -> None:
        for connection in (self.admin, *(c for c, _ in self.stores.values())):
            await connection.close()


def _used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {part: after[part] - before.get(part, 0.0) for part in after}


async def probe_of(suite: Suite, run: str) -> Probe:
    """The run's parts: each service's processes, its database's backends, the servers."""
    admin, amqp, _ = _urls()
    fixed = {f"{name} {role}": [process.pid] for name, service in suite.services.items()
             for role, process in service.processes.items()}  # fmt: skip
    fixed |= {MQ_ALL: [_listener(urlsplit(amqp).port or 5672)], THIS: [os.getpid()]}
    databases = {f"tandem_{run}_{kind.module}": f"{name} db backends"
                 for name, kind in SERVICES.items()}  # fmt: skip
    databases[f"tandem_{run}_sandbox"] = "sandbox db backends"
    stores = {}
    for name, service in suite.services.items():
        connection = await asyncpg.connect(service.database_url)
        kept = [kind for kind, table in _TABLES.items()
                if await connection.fetchval("SELECT to_regclass($1)", table)]  # fmt: skip
        stores[name] = (connection, kept)
    postmaster = _listener(urlsplit(admin).port or 5432)
    return Probe(fixed, postmaster, databases, await asyncpg.connect(admin), stores)


Where = tuple[str, str]
"""A service, and where its work waits: ``QUEUED``, ``LANDED`` or ``UNSENT``."""


@dataclass
class Backlogs:
    """Each service's waiting work per sample: messages in its consumer queue (RabbitMQ's
    management API: ready and unacknowledged, every partition; its figures lag a few
    seconds), records landed from a system of record and not yet ingested, events not yet
    relayed to the broker."""

    samples: list[tuple[float, dict[Where, int]]] = field(default_factory=list)
    failed: int = 0

    def of(self, where: Where) -> tuple[int, float, float]:
        """Peak, items x seconds waiting, and seconds with more than 10 waiting."""
        counts = [s.get(where, 0) for _, s in self.samples]
        backed = SAMPLE_S * sum(n > 10 for n in counts)
        return max(counts, default=0), sum(counts) * SAMPLE_S, backed

    def last_backed(self, where: Where) -> float | None:
        """When (Unix time) more than 10 last waited; None if never."""
        return max((at for at, counts in self.samples if counts.get(where, 0) > 10), default=None)

    def now(self) -> dict[str, int]:
        latest = self.samples[-1][1] if self.samples else {}
        return {f"{service} {kind}": n for (service, kind), n in latest.items() if n}

    def peaks(self, start: float, end: float) -> Counter[Where]:
        """The largest count of each sampled between ``start`` and ``end``."""
        peaks: Counter[Where] = Counter()
        for at, counts in self.samples:
            if start <= at <= end:
                for where, n in counts.items():
                    peaks[where] = max(peaks[where], n)
        return peaks


async def sample(probe: Probe, backlogs: Backlogs, vhost: str) -> None:
    """Every ``SAMPLE_S``: the backlogs and every part's CPU, until cancelled."""
    _, _, management = _urls()
    service_of = {kind.queue: name for name, kind in SERVICES.items()}
    async with httpx.AsyncClient(base_url=management, timeout=10) as api:
        while True:
            counts: Counter[Where] = Counter()
            try:
                answer = await api.get(f"/api/queues/{quote(vhost, safe='')}",
                                       params={"columns": "name,messages"})  # fmt: skip
                answer.raise_for_status()
                for row in answer.json():
                    found = _PARTITION.match(row["name"])
                    if found and found["group"] in service_of:
                        counts[service_of[found["group"]], QUEUED] += int(row.get("messages") or 0)
            except httpx.HTTPError:
                backlogs.failed += 1
            for name, (connection, kinds) in probe.stores.items():
                for kind in kinds:
                    counts[name, kind] = int(await connection.fetchval(_WAITING[kind]))
            backlogs.samples.append((time.time(), dict(counts)))
            await probe.look()
            await asyncio.sleep(SAMPLE_S)


# --- the month, stage by stage -----------------------------------------------------------------


@dataclass
class Mark:
    """One stage: how long, the events the tap received meanwhile, the CPU each part used."""

    stage: str
    began: float
    seconds: float
    events: int
    cpu: dict[str, float]
    facts: str


class Clock:
    """The month's stages as they run, each printed as it ends."""

    def __init__(self, size: int, tap: Tap, probe: Probe) -> None:
        self.size, self.tap, self.probe = size, tap, probe
        self.marks: list[Mark] = []
        self.current = "none yet"
        self.started = self.since = time.time()
        self.begun = self.cpu = probe.snapshot()
        self.events = 0

    async def stage(self, name: str, work: Awaitable[T], facts: Callable[[T], str]) -> T:
        """Run one stage of the month; note and print what it came to."""
        self.current = name
        print(f"  [{self.size}] {name} ...", flush=True)
        result = await work
        await self.probe.look()
        now, cpu, events = time.time(), self.probe.snapshot(), len(self.tap.arrived)
        mark = Mark(name, self.since, now - self.since, events - self.events,
                    _used(self.cpu, cpu), facts(result))  # fmt: skip
        self.marks.append(mark)
        self.since, self.cpu, self.events = now, cpu, events
        print(f"  [{self.size}] {name} done in {mark.seconds:.1f} s: {mark.facts}; "
              f"{events:,} events on the bus so far", flush=True)  # fmt: skip
        return result

    def unfinished(self) -> None:
        """Note the stage the month stopped in, as far as it got."""
        cpu = self.probe.snapshot()
        self.marks.append(Mark(f"{self.current}!", self.since, time.time() - self.since,
                               len(self.tap.arrived) - self.events, _used(self.cpu, cpu),
                               "UNFINISHED"))  # fmt: skip


@dataclass
class Month:
    """What the month's stages answered."""

    played: Played | None = None
    outcome: Outcome | None = None
    billed: Billed | None = None


async def play_month(firm: Firm, suite: Suite, clock: Clock, month: Month) -> None:
    """``make run``'s stages, in its order, each through the clock."""
    await clock.stage("set_up_firm", set_up_firm(firm, suite), _cards)
    hired = await clock.stage("hire", hire(firm, suite), _hired)
    won = await clock.stage("win", win(firm, suite), lambda w: f"projects {_counts(w.states)}")
    await clock.stage("staff", staff(firm, suite, won, hired.workers), _staffed)
    psa = suite.sandbox.urls["psa"]
    month.played = await clock.stage(
        "play", play(firm, psa, won.psa, resources=hired.resources), _played
    )
    month.outcome = await clock.stage("settle_time", settle_time(suite, month.played), _settled)
    month.billed = await clock.stage("bill", bill(suite), _billed)


def _cards(made: tuple[int, int]) -> str:
    by_hand = f", {made[1]} announced BY HAND" if made[1] else ""
    return f"{made[0]} rate cards published by staffing-sync{by_hand}"


def _hired(hired: Hired) -> str:
    return (f"{len(hired.workers)} hires ({_counts(hired.statuses)}), "
            f"{len(hired.resources)} PSA resources")  # fmt: skip


def _staffed(staffed: Staffed) -> str:
    unstaffed = f"; unstaffed: {_counts(staffed.unstaffed)}" if staffed.unstaffed else ""
    return (f"{staffed.requests} requests, {staffed.booked} booked, {staffed.confirmed} "
            f"confirmed; {staffed.refused} options the PSA would not book{unstaffed}")  # fmt: skip


def _played(played: Played) -> str:
    return (f"{played.entries} entries logged, {played.approved_entries} approved, "
            f"{played.approved_expenses} expenses approved")  # fmt: skip


def _settled(outcome: Outcome) -> str:
    return (f"{outcome.posted_entries} entries posted, {outcome.held_entries} held, "
            f"{outcome.outstanding} outstanding")  # fmt: skip


def _billed(billed: Billed) -> str:
    return f"charges {_counts(billed.charges)}; invoices {_counts(billed.invoices)}"


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counter.items(), key=lambda kv: -kv[1])) or "-"


# --- one size --------------------------------------------------------------------------------


@dataclass
class Sized:
    """Everything measured for one size."""

    consultants: int
    customers: int
    marks: list[Mark] = field(default_factory=list)
    month: Month = field(default_factory=Month)
    seconds: float = 0.0
    events: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    peak: float = 0.0
    recorded: int = 0
    parked: list[str] = field(default_factory=list)
    started: float = 0.0
    raw: float = float("nan")
    cpu: dict[str, float] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)
    handled: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Service -> events its worker handled, and its handlers' seconds (start to commit)."""
    backlogs: Backlogs = field(default_factory=Backlogs)
    commit_to_invoice: list[float] = field(default_factory=list)
    won: int = 0
    approval: dict[str, list[float]] = field(default_factory=dict)
    undecoded: int = 0
    failure: str | None = None

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def measure(consultants: int, customers: int, args: argparse.Namespace) -> Sized:
    """A fresh suite, the whole month within ``--deadline`` minutes, the readings; then the
    raw ceiling with the suite stopped."""
    sized = Sized(consultants, customers)
    firm = generate(args.seed, consultants=consultants, customers=customers)
    run = f"bench_suite_{consultants}"
    started = time.monotonic()
    print(f"{consultants} consultants, {customers} customers (seed {args.seed}): "
          f"{len(firm.time_entries):,} time entries in {firm.month:%B %Y}; starting the suite",
          flush=True)  # fmt: skip
    # Invoices proposed as deployed (every minute), so approval -> invoice is the pipeline's.
    async with running_suite("sandbox", firm, run=run, logs=LOGS, phoenix=None,
                             intercompany=True, invoice_on_schedule=True) as suite:  # fmt: skip
        print(f"  [{consultants}] suite up in {time.monotonic() - started:.1f} s", flush=True)
        await _month_measured(firm, suite, run, sized, args)
    sized.raw = await raw_ceiling(args.raw_events)
    print(f"  [{consultants}] raw broker ceiling {sized.raw:,.0f} events/s", flush=True)
    return sized


async def _month_measured(
    firm: Firm, suite: Suite, run: str, sized: Sized, args: argparse.Namespace
) -> None:
    probe = await probe_of(suite, run)
    try:
        async with tapped(suite.amqp_url) as tap:
            await probe.look()
            clock = Clock(sized.consultants, tap, probe)
            sampling = asyncio.create_task(sample(probe, sized.backlogs, f"tandem-{run}"))
            try:
                sized.failure = await _bounded(play_month(firm, suite, clock, sized.month),
                                               clock, sized.backlogs, args.deadline)  # fmt: skip
            finally:
                sampling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampling
            end = time.time()
            await probe.look()
            if sized.failure:
                print(f"  [{sized.consultants}] {sized.failure}", flush=True)
                clock.unfinished()
            sized.cpu = _used(clock.begun, probe.snapshot())
            sized.marks, sized.started = clock.marks, clock.started
            sized.seconds = end - clock.started
            await _final_readings(suite, sized, tap)
        _bus(sized, tap, clock.started, end)
        _latencies(sized, tap.kept)
    finally:
        await probe.close()


async def _bounded(
    work: Awaitable[None], clock: Clock, backlogs: Backlogs, deadline_min: float
) -> str | None:
    """Run the month within the deadline; None, or why it did not finish."""
    try:
        async with asyncio.timeout(deadline_min * 60) as bound:
            await work
    except TimeoutError:
        if not bound.expired():
            raise
        return (f"did not finish within {deadline_min:g} min: still in stage {clock.current} "
                f"after {time.time() - clock.since:.0f} s; waiting now: "
                f"{_counts(backlogs.now())}")  # fmt: skip
    except Exception as failed:  # reported with the stage it broke in; what ran is measured
        return f"stage {clock.current} failed: {failed!r}"[:600]
    return None


async def _final_readings(suite: Suite, sized: Sized, tap: Tap) -> None:
    """Peak RSS, events handled per worker, observability's count; the tap given until the
    invoices the month posted have come through."""
    sized.rss = {f"{name} {role}": _peak_rss_mb(process.pid)
                 for name, service in suite.services.items()
                 for role, process in service.processes.items()}  # fmt: skip
    sized.rss[THIS] = _peak_rss_mb(os.getpid())
    async with httpx.AsyncClient(timeout=30) as client:
        for name, service in suite.services.items():
            with contextlib.suppress(httpx.HTTPError):  # a worker a failed month left dead
                text = (await client.get(f"{service.worker_url('worker')}/metrics")).text
                handled = _metric(text, "tandem_messages_handled_total")
                spent = _metric(text, "tandem_handler_duration_seconds_sum")
                sized.handled[name] = (handled, spent)
    with contextlib.suppress(httpx.HTTPError):
        sized.recorded = sum((await recorded(suite)).values())
        sized.parked = await parked(suite)
    posted = sized.month.billed.invoices["posted"] if sized.month.billed else 0
    # The relay publishes InvoicePosted just after the API shows the invoice posted; one that
    # has not come within the wait is missing from the latencies, which say how many they hold.
    with contextlib.suppress(AssertionError):
        await eventually(lambda: tap.types["InvoicePosted"] >= posted, within=30, every=0.2)


def _metric(text: str, name: str) -> float:
    return sum(float(m["value"]) for m in _SAMPLE.finditer(text) if m["name"] == name)


# --- what the tap saw --------------------------------------------------------------------------


def _bus(sized: Sized, tap: Tap, start: float, end: float) -> None:
    """The month's events, by type, and the busiest ``WINDOW_S`` seconds."""
    inside = [(at, kind) for at, kind in tap.arrived if start <= at <= end]
    sized.events, sized.by_type = len(inside), Counter(kind for _, kind in inside)
    per_second = Counter(int(at - start) for at, _ in inside)
    seconds = int(end - start) + 1
    windows = (sum(per_second[s + k] for k in range(WINDOW_S)) for s in range(seconds))
    sized.peak = max(windows, default=0) / WINDOW_S


def _latencies(sized: Sized, bodies: list[bytes]) -> None:
    envelopes: list[Envelope[Any]] = []
    for body in bodies:
        try:
            envelopes.append(decode(body))
        except DecodeError:
            sized.undecoded += 1
    sized.commit_to_invoice, sized.won = _commit_to_invoice(envelopes)
    sized.approval = _approval_to(envelopes)


def _first_at(pairs: Iterable[tuple[str, datetime]]) -> dict[str, float]:
    """The earliest time per key."""
    first: dict[str, float] = {}
    for key, at in pairs:
        first[key] = min(first.get(key, math.inf), at.timestamp())
    return first


def _commit_to_invoice(envelopes: list[Envelope[Any]]) -> tuple[list[float], int]:
    """Per won opportunity (one project-sync made a project of), its commit to the first
    invoice posted for its project; and how many were won."""
    of = _by_type(envelopes)
    committed = _first_at((e.payload.opportunity.id, e.occurred_at)
                          for e in of["OpportunityCommitted"])  # fmt: skip
    opportunity = {e.payload.project.id: e.payload.project.opportunity_id
                   for e in of["ProjectShellCreated"]}  # fmt: skip
    project_of_invoice = {e.payload.invoice_id: e.payload.project_id for e in of["InvoiceReady"]}
    posted = _first_at(
        (project, e.occurred_at)
        for e in of["InvoicePosted"]
        for project in {project_of_invoice.get(e.payload.invoice.id),
                        *(line.project_id for line in e.payload.invoice.lines)} - {None}
    )  # fmt: skip
    waits = [posted[p] - committed[o] for p, o in opportunity.items()
             if p in posted and o in committed]  # fmt: skip
    return sorted(waits), len(opportunity)


def _approval_to(envelopes: list[Envelope[Any]]) -> dict[str, list[float]]:
    """Per approved time entry, from its (latest earlier) ``TimeApproved`` to the first event
    of each later step that carries it; and before it, from the PSA's approval (the entry's
    ``approved_at``, the PSA's clock: this machine's) to time-expense's ``TimeApproved``."""
    of = _by_type(envelopes)
    approved: dict[str, list[float]] = {}
    ingested: list[float] = []
    for e in of["TimeApproved"]:
        approved.setdefault(e.payload.entry.id, []).append(e.occurred_at.timestamp())
        ingested.append((e.occurred_at - e.payload.approved_at).total_seconds())
    posted = _first_at((e.payload.time_entry_id, e.occurred_at) for e in of["TimePosted"]
                       if e.payload.reversal_of is None)  # fmt: skip
    charges = [e for e in of["ChargeCreated"] if e.payload.charge.source is ChargeSource.TIME]
    entries_of = {e.payload.charge.id: e.payload.charge.source_ids for e in charges}
    charged = _first_at((entry, e.occurred_at) for e in charges
                        for entry in e.payload.charge.source_ids)  # fmt: skip
    ready = _first_at(_entries_invoiced(of["InvoiceReady"], entries_of, lambda p: p.charge_ids))
    invoiced = _first_at(_entries_invoiced(
        of["InvoicePosted"], entries_of,
        lambda p: [c for line in p.invoice.lines for c in line.charge_ids]))  # fmt: skip
    steps = {POSTED: posted, "TimeApproved -> charged": charged,
             "TimeApproved -> invoice ready": ready, INVOICED: invoiced}  # fmt: skip
    return {INGESTED: sorted(ingested)} | {
        step: sorted(w for entry, at in when.items()
                     if (w := _since_approval(approved.get(entry, []), at)) is not None)
        for step, when in steps.items()
    }  # fmt: skip


def _entries_invoiced(
    envelopes: list[Envelope[Any]],
    entries_of: dict[str, tuple[str, ...]],
    charge_ids: Callable[[Any], Iterable[str]],
) -> Iterable[tuple[str, datetime]]:
    for e in envelopes:
        for charge in charge_ids(e.payload):
            for entry in entries_of.get(charge, ()):
                yield entry, e.occurred_at


def _since_approval(approvals: list[float], at: float) -> float | None:
    earlier = [a for a in approvals if a <= at]
    return at - max(earlier) if earlier else None


def _by_type(envelopes: list[Envelope[Any]]) -> dict[str, list[Envelope[Any]]]:
    of: dict[str, list[Envelope[Any]]] = {kind: [] for kind in KEPT}
    for e in envelopes:
        of.setdefault(e.event_type, []).append(e)
    return of


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values`` (nan if none)."""
    return values[max(0, math.ceil(q * len(values)) - 1)] if values else float("nan")


# --- the report ----------------------------------------------------------------------------


def limiting(sized: Sized) -> tuple[str, str]:
    """The service that limits the month's throughput, and the evidence: the one whose work
    waited most (items x seconds, in its consumer queue, its landed records or its outbox);
    when nothing backed up (a peak under 50), the busiest process instead."""
    waits = {(name, kind): sized.backlogs.of((name, kind))
             for name in SERVICES for kind in (QUEUED, LANDED, UNSENT)}  # fmt: skip
    (name, kind), (peak, backlog, backed) = max(waits.items(), key=lambda w: w[1][1])
    if peak >= 50:
        handled, handler_s = sized.handled.get(name, (0.0, 0.0))
        worker = sized.cpu.get(f"{name} worker", 0.0)
        return name, (
            f"its {_WHAT[kind]} held the most waiting work: up to {peak:,}, {backlog:,.0f} "
            f"item-seconds, {backed:.0f} s of {sized.seconds:.0f} s above 10; its worker used "
            f"{worker:.0f} CPU s ({worker / sized.seconds:.2f} of a core over the month, "
            f"{1000 * worker / max(handled, 1):.1f} ms per event handled) while its handlers "
            f"took {1000 * handler_s / max(handled, 1):.1f} ms per event, start to commit"
            + _drained(sized, name)
        )
    ours = {part: used for part, used in sized.cpu.items() if part not in (PG_ALL, MQ_ALL)}
    busiest, used = max(ours.items(), key=lambda kv: kv[1])
    return busiest, (
        f"no service's work backed up (largest peak {peak}, {name} {kind}); the busiest "
        f"process used {used:.0f} CPU s = {used / sized.seconds:.2f} of a core over the month"
    )


def _drained(sized: Sized, name: str) -> str:
    """When the service's backlog last stood above 10, and whose stood there last."""
    until = {n: at for n in SERVICES if (at := _until(sized, n)) is not None}
    if name not in until:
        return ""
    last = max(until, key=lambda n: until[n])
    also = "" if last == name else f"; {last}'s was the last, at {until[last]:.0f} s"
    return f"; more than 10 waited until {until[name]:.0f} s of {sized.seconds:.0f} s{also}"


_WHAT = {QUEUED: "consumer queue", LANDED: "landed records not yet ingested",
         UNSENT: "outbox (events not yet relayed)"}  # fmt: skip


def print_size(sized: Sized) -> None:
    """The compact tables of one size."""
    month = sized.month
    failed = f"  ** {sized.failure} **" if sized.failure else ""
    print(f"\n--- {sized.consultants} consultants, {sized.customers} customers: the month in "
          f"{sized.seconds:.1f} s{failed}")  # fmt: skip
    if month.played and month.outcome:
        print(f"approved {month.played.approved_entries:,} entries, "
              f"{month.played.approved_expenses:,} expenses; time-expense posted "
              f"{month.outcome.posted_entries:,}, held {month.outcome.held_entries:,}; invoices "
              f"on the bus: {sized.by_type['InvoiceReady']:,} ready, "
              f"{sized.by_type['InvoicePosted']:,} posted; parked (observability's "
              "/v1/parking-lots, the oldest 100 per service):")  # fmt: skip
        for line in sized.parked:
            print(f"  {line}")
    _stages(sized)
    raw = sized.raw
    print(f"bus: {sized.events:,} events in {sized.seconds:.1f} s = {sized.rate:,.1f} events/s "
          f"(x{sized.rate / raw:.4f} of the raw ceiling {raw:,.0f}/s); peak {WINDOW_S}-s window "
          f"{sized.peak:,.1f} events/s (x{sized.peak / raw:.4f}); observability recorded "
          f"{sized.recorded:,} steps")  # fmt: skip
    print("  (the month's rate is paced by its stages, each waiting for the suite; the peak "
          "window is what the suite sustained)")  # fmt: skip
    print(f"  by type: {_counts(sized.by_type)}")
    print(f"{'process':<46} {'CPU s':>7} {'cores':>6} {'peak RSS':>9}")
    for part in sorted(sized.cpu, key=lambda p: (p in (THIS, PG_ALL, MQ_ALL), p)):
        rss = f"{sized.rss[part]:>6.0f} MB" if part in sized.rss else ""
        print(f"{part:<46} {sized.cpu[part]:>7.1f} {sized.cpu[part] / sized.seconds:>6.2f} "
              f"{rss:>9}")  # fmt: skip
    _services(sized)
    c = sized.commit_to_invoice
    print(f"commit -> first invoice posted (pipeline, includes the month's play): "
          f"{len(c)} of {sized.won} won opportunities; min {_s(c[0] if c else math.nan)} "
          f"p50 {_s(_pct(c, 0.5))} max {_s(c[-1] if c else math.nan)}")  # fmt: skip
    for step, waits in sized.approval.items():
        print(f"{step:<32} {len(waits):>6,} entries  p50 {_s(_pct(waits, 0.5)):>8}  "
              f"p99 {_s(_pct(waits, 0.99)):>8}")  # fmt: skip
    if sized.undecoded or sized.backlogs.failed:
        print(f"  ({sized.undecoded} envelopes not decoded; {sized.backlogs.failed} queue "
              "samples failed)")  # fmt: skip
    name, why = limiting(sized)
    print(f"limiting: {name}: {why}")


def _stages(sized: Sized) -> None:
    """A line per stage: its events, the cores used (the services' and this process, the two
    servers whole) and by whom, and the work waiting at its peak."""
    print(f"{'stage':<12} {'s':>7} {'events':>7} {'ev/s':>7} {'procs':>5} {'pg':>5} {'mq':>5}"
          "  (cores); busiest (db backends: the PostgreSQL share); backlog peaks")  # fmt: skip
    for mark in sized.marks:
        ours = sorted(((p, s) for p, s in mark.cpu.items() if p not in (PG_ALL, MQ_ALL)),
                      key=lambda kv: -kv[1])  # fmt: skip
        busy = ", ".join(f"{p} {s / mark.seconds:.2f}" for p, s in ours[:3])
        procs = sum(s for p, s in ours if not p.endswith("db backends"))
        cores = [procs, mark.cpu.get(PG_ALL, 0.0), mark.cpu.get(MQ_ALL, 0.0)]
        peaks = sized.backlogs.peaks(mark.began, mark.began + mark.seconds)
        waiting = ", ".join(f"{name} {kind} {n:,}" for (name, kind), n in peaks.most_common()
                            if n > 10)  # fmt: skip
        print(f"{mark.stage:<12} {mark.seconds:>7.1f} {mark.events:>7,} "
              f"{mark.events / mark.seconds:>7.1f} "
              + " ".join(f"{c / mark.seconds:>5.2f}" for c in cores)
              + f"  {busy}; {waiting or 'nothing above 10'}")  # fmt: skip


def _services(sized: Sized) -> None:
    """A line per service: events handled, worker CPU and handler time per event, and the
    peak and item-seconds of its consumer queue, landed records and outbox."""
    print(f"{'service':<18} {'handled':>8} {'CPU ms/ev':>9} {'handler ms/ev':>13}   queue "
          "peak / item-s   inbound peak / item-s   outbox peak / item-s  >10 until")  # fmt: skip
    for name in SERVICES:
        handled, handler_s = sized.handled.get(name, (0.0, 0.0))
        per = 1000 * sized.cpu.get(f"{name} worker", 0.0) / max(handled, 1)
        waits = [sized.backlogs.of((name, kind)) for kind in (QUEUED, LANDED, UNSENT)]
        shown = "".join(f" {peak:>10,} / {held:>10,.0f}" for peak, held, _ in waits)
        until = _until(sized, name)
        print(f"{name:<18} {handled:>8,.0f} {per:>9.1f} {1000 * handler_s / max(handled, 1):>13.1f}"
              f"{shown} {'-' if until is None else f'{until:.0f} s':>10}")  # fmt: skip


def _until(sized: Sized, name: str) -> float | None:
    """Seconds into the month when more than 10 of the service's items last waited."""
    last = [sized.backlogs.last_backed((name, kind)) for kind in (QUEUED, LANDED, UNSENT)]
    return max((at - sized.started for at in last if at is not None), default=None)


def _s(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds:,.1f} s"


def print_summary(sizes: list[Sized]) -> None:
    """The sizes side by side, the last against the first."""
    if len(sizes) < 2:
        return
    a, b = sizes[0], sizes[-1]
    rows: list[tuple[str, Callable[[Sized], float]]] = [
        ("consultants", lambda s: s.consultants),
        ("approved time entries", lambda s: s.month.played.approved_entries if s.month.played
         else math.nan),
        ("month wall time s", lambda s: s.seconds),
        ("events on the bus", lambda s: s.events),
        ("events/s", lambda s: s.rate),
        (f"peak {WINDOW_S}-s window events/s", lambda s: s.peak),
        ("raw ceiling events/s", lambda s: s.raw),
        ("events/s / raw", lambda s: s.rate / s.raw),
        ("peak / raw", lambda s: s.peak / s.raw),
        ("commit -> invoice posted p50 s", lambda s: _pct(s.commit_to_invoice, 0.5)),
        *((f"{step} {q} s", _approval(step, v))
          for step in (INGESTED, POSTED, INVOICED) for q, v in (("p50", 0.5), ("p99", 0.99))),
        ("time-expense inbound peak", lambda s: s.backlogs.of(("time-expense", LANDED))[0]),
        ("billing-readiness queue peak", lambda s: s.backlogs.of(("billing-readiness", QUEUED))[0]),
        *((f"{name} worker CPU s", _cpu_of(f"{name} worker")) for name in SERVICES),
        (f"{THIS} CPU s", _cpu_of(THIS)),
        ("max worker peak RSS MB", lambda s: max((v for k, v in s.rss.items()
                                                  if k.endswith("worker")), default=math.nan)),
    ]  # fmt: skip
    print(f"\n=== side by side: {a.consultants} vs {b.consultants} consultants")
    print(f"{'':<46} {a.consultants:>12,} {b.consultants:>12,} {'ratio':>8}")
    for label, read in rows:
        x, y = float(read(a)), float(read(b))
        ratio = y / x if x and not math.isnan(x) else math.nan
        print(f"{label:<46} {_n(x):>12} {_n(y):>12} {_n(ratio):>8}")
    print(f"{'limiting service':<46} {limiting(a)[0]:>12} {limiting(b)[0]:>12}")


def _cpu_of(part: str) -> Callable[[Sized], float]:
    return lambda s: s.cpu.get(part, math.nan)


def _approval(step: str, q: float) -> Callable[[Sized], float]:
    return lambda s: _pct(s.approval.get(step, []), q)


def _n(value: float) -> str:
    if math.isnan(value):
        return "-"
    if abs(value) < 1:
        return f"{value:.4f}"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:,.0f}"


async def main(args: argparse.Namespace) -> None:
    for url in _urls():
        if urlsplit(url).hostname not in {"127.0.0.1", "localhost", "::1"}:
            raise SystemExit(f"bench-suite talks to loopback only, not {urlsplit(url).hostname}")
    sizes = [40] if args.quick else [int(n) for n in args.sizes.split(",")]
    customers = ([int(n) for n in args.customers.split(",")] if args.customers else
                 [max(8, round(n * CUSTOMERS_PER_CONSULTANT)) for n in sizes])  # fmt: skip
    if len(customers) != len(sizes):
        raise SystemExit("--customers names one count per size")
    LOGS.mkdir(parents=True, exist_ok=True)
    load, broker = os.getloadavg(), urlsplit(_urls()[1])
    print(f"=== bench-suite, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load "
          f"average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; sandbox ERP, tracing off, broker "
          f"{broker.hostname}:{broker.port}, deadline {args.deadline:g} min per size",
          flush=True)  # fmt: skip
    measured = [await measure(n, c, args) for n, c in zip(sizes, customers, strict=True)]
    for sized in measured:
        print_size(sized)
    print_summary(measured)
    after = os.getloadavg()
    print(f"\nload average {load[0]:.2f} before, {after[0]:.2f} {after[1]:.2f} {after[2]:.2f} "
          "after")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="make bench-suite",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", default="220,1000", help="consultants per run, comma-separated")
    parser.add_argument(
        "--customers",
        default="",
        help="customers per size, comma-separated (default: the scenario's 60 per 220 consultants)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--deadline", type=float, default=25.0, help="minutes per size's month")
    parser.add_argument("--raw-events", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="one run of 40 consultants")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.deadline, parsed.raw_events = min(parsed.deadline, 10.0), 5_000
    asyncio.run(main(parsed))
