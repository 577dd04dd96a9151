"""Benchmark the messaging runtime against plain aio-pika, side by side, in one run.

RAW      one publisher with confirms (``--raw-window`` publishes in flight) of persistent ~1 KB
         envelope bodies to a topic exchange bound to a durable quorum queue, and one consumer
         (prefetch ``--raw-prefetch``, manual ack) on the same connection; no decoding, no
         database. Latency: publish start → consumer callback.
RUNTIME  ``--producers`` tasks write the events with ``Outbox.add``, ``--tx-size`` per transaction
         (each task owns a share of the subjects, so per-subject versions commit in order) →
         ``OutboxRelay`` (confirms) → ``Consumer`` (quorum queue, inbox, a handler inserting one
         row) → commit → ack. Latency: outbox commit returned → handler commit returned (stamped
         as the consumer hands its connection back to the pool, right after COMMIT, before ack).
HALF     the runtime again, paced at 50 % of its median throughput: one transaction per
         ``--tick-ms`` carrying the events due by then.
RSS      VmRSS of a subprocess that opens a pool, a robust AMQP connection, one Consumer and
         one OutboxRelay, and idles.

Every run gets a fresh vhost and a fresh database (runtime migrations applied), dropped after;
the servers come from BENCH_AMQP_URL, BENCH_DATABASE_URL and BENCH_MGMT_URL (management API),
which default to the local ones.
Throughput runs repeat ``--repeats`` times, raw and runtime alternating; medians are reported.
Targets: runtime ≥ 50 % of raw throughput; p99 < 100 ms at half load; idle RSS < 120 MB. It
reports PASS/MISS and exits 0 either way: it is a measurement. Everything talks to loopback only
and stops at ``--max-seconds``, reporting what it has. One file on purpose, past the usual module
size: every script in tools/ runs standalone with ``uv run python tools/<name>.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import math
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import asyncpg
import httpx
import uvloop
from aio_pika.abc import AbstractIncomingMessage

from tandem_contracts import CONTENT_TYPE, EVENTS_EXCHANGE, Envelope, Producer, SystemKind, encode
from tandem_contracts.events import OpportunityLost
from tandem_messaging import (
    MIGRATIONS,
    Consumer,
    ConsumerSettings,
    HandlerContext,
    Outbox,
    OutboxRelay,
    Router,
    binding_for,
)

AMQP_ENV, DATABASE_ENV, MANAGEMENT_ENV = "BENCH_AMQP_URL", "BENCH_DATABASE_URL", "BENCH_MGMT_URL"
DEFAULTS = {
    AMQP_ENV: "amqp://guest:guest@127.0.0.1:5672/",
    DATABASE_ENV: "postgresql://postgres:postgres@127.0.0.1:5432/postgres",
    MANAGEMENT_ENV: "http://guest:guest@127.0.0.1:15672",
}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
QUEUE = "bench.runtime"
EFFECTS = "CREATE TABLE bench_effects (event_id uuid PRIMARY KEY, subject text NOT NULL)"
EFFECT = "INSERT INTO bench_effects (event_id, subject) VALUES ($1, $2)"
# DB clock: outbox insert → marked published, and outbox insert → inbox row written.
BREAKDOWN = """
SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP
           (ORDER BY extract(epoch FROM o.published_at - o.created_at)),
       percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP
           (ORDER BY extract(epoch FROM i.handled_at - o.created_at))
FROM messaging.outbox o JOIN messaging.inbox i USING (event_id)
"""
REASON = "Budget moved to the next fiscal year after the steering committee review. " * 6
IDLE_SETTLE, IDLE_LIMIT = 2.0, 120.0  # seconds the idle worker settles, and lives at most
_sandboxes = itertools.count(1)


@dataclass(frozen=True)
class Urls:
    amqp: str
    database: str
    management: str


@dataclass(frozen=True)
class Run:
    """One measured run: completed events, wall seconds, per-event latencies (sorted)."""

    events: int
    seconds: float
    latencies: list[float]
    note: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def pct(self, q: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        if not self.latencies:
            return math.nan
        rank = max(1, math.ceil(q * len(self.latencies)))
        return 1000 * self.latencies[rank - 1]


@dataclass
class Results:
    raw: list[Run] = field(default_factory=list)
    runtime: list[Run] = field(default_factory=list)
    half: Run | None = None
    half_rate: float = 0.0
    rss_mb: tuple[float, float] | None = None
    stopped: str = ""


# --- fresh vhost + database per run ------------------------------------------------------------


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(path, safe="")))


@asynccontextmanager
async def _sandbox(urls: Urls, kind: str, *, database: bool) -> AsyncIterator[Urls]:
    """Yield URLs of a new vhost (and database, migrated); delete both afterwards."""
    name = f"bench_{kind}_{os.getpid()}_{next(_sandboxes)}"
    api = urlsplit(urls.management)
    user = urlsplit(urls.amqp).username or "guest"
    async with httpx.AsyncClient(
        base_url=f"{api.scheme}://{api.hostname}:{api.port or 15672}",
        auth=(api.username or "guest", api.password or "guest"),
        timeout=30,
    ) as http:
        vhost = f"/api/vhosts/{quote(name, safe='')}"
        (await http.put(vhost)).raise_for_status()
        grant = {"configure": ".*", "write": ".*", "read": ".*"}
        permissions = f"/api/permissions/{quote(name, safe='')}/{quote(user, safe='')}"
        (await http.put(permissions, json=grant)).raise_for_status()
        try:
            if database:
                await _admin(urls.database, f'CREATE DATABASE "{name}"')
                await _migrate(_with_path(urls.database, name))
            yield replace(
                urls,
                amqp=_with_path(urls.amqp, name),
                database=_with_path(urls.database, name) if database else urls.database,
            )
        finally:
            if database:
                await _admin(urls.database, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await http.delete(vhost)


async def _admin(database_url: str, statement: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _migrate(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        for path in sorted(MIGRATIONS.glob("*.sql")):
            await connection.execute(path.read_text())
        await connection.execute(EFFECTS)
    finally:
        await connection.close()


# --- raw aio-pika --------------------------------------------------------------------------------


async def _raw_run(urls: Urls, envelopes: Sequence[Envelope[Any]], args: argparse.Namespace) -> Run:
    """Publish with confirms and consume on a quorum queue with plain aio-pika."""
    sent: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    last = 0.0

    async def consume(message: AbstractIncomingMessage) -> None:
        nonlocal last
        last = time.perf_counter()
        latencies.append(last - sent[message.message_id or ""])
        await message.ack()
        if len(latencies) >= len(envelopes):
            done.set()

    async with await aio_pika.connect(urls.amqp) as connection:
        publisher = await connection.channel(publisher_confirms=True)
        subscriber = await connection.channel()
        await subscriber.set_qos(prefetch_count=args.raw_prefetch)
        exchange = await publisher.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await subscriber.declare_queue(
            "bench.raw", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(EVENTS_EXCHANGE, routing_key=binding_for(OpportunityLost))
        await queue.consume(consume)
        window = asyncio.Semaphore(args.raw_window)

        async def publish(envelope: Envelope[Any], body: bytes) -> None:
            message_id = str(envelope.event_id)
            async with window:
                sent[message_id] = time.perf_counter()
                await exchange.publish(
                    aio_pika.Message(
                        body,
                        content_type=CONTENT_TYPE,
                        message_id=message_id,
                        type=envelope.event_type,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=envelope.routing_key,
                )

        bodies = [encode(e) for e in envelopes]
        started = time.perf_counter()
        await asyncio.gather(*(publish(e, b) for e, b in zip(envelopes, bodies, strict=True)))
        await done.wait()
    return Run(len(latencies), last - started, sorted(latencies))


# --- the runtime ---------------------------------------------------------------------------------


class _Stamps:
    """t0 when an outbox transaction has committed, t1 when a handler transaction has.

    The handler notes its event under its backend pid; the pool's ``reset`` hook, which asyncpg
    runs when the consumer releases the connection right after COMMIT, stamps every event noted
    since (a lane commits up to ``batch_size`` events in one transaction), then runs the default
    reset query so the pool behaves as usual.
    """

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.sent: dict[uuid.UUID, float] = {}
        self.handled: dict[uuid.UUID, float] = {}
        self.pending: dict[int, list[uuid.UUID]] = {}
        self.done = asyncio.Event()

    async def on_release(self, connection: asyncpg.Connection[asyncpg.Record]) -> None:
        now = time.perf_counter()
        for event_id in self.pending.pop(connection.get_server_pid(), []):
            self.handled.setdefault(event_id, now)
        if len(self.handled) >= self.expected:
            self.done.set()
        await connection.execute(connection.get_reset_query())

    async def record_effect(self, envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
        await ctx.connection.execute(EFFECT, envelope.event_id, envelope.subject.id)
        self.pending.setdefault(ctx.connection.get_server_pid(), []).append(envelope.event_id)

    def run(self, started: float, note: str) -> Run:
        latencies = sorted(t1 - self.sent[e] for e, t1 in self.handled.items())
        last = max(self.handled.values(), default=started)
        return Run(len(self.handled), last - started, latencies, note)


async def _write(pool: asyncpg.Pool, batch: Sequence[Envelope[Any]], stamps: _Stamps) -> None:
    async with pool.acquire() as db, db.transaction():
        await Outbox().add(db, *batch)
    committed = time.perf_counter()
    for envelope in batch:
        stamps.sent[envelope.event_id] = committed


async def _produce_flat(
    pool: asyncpg.Pool,
    envelopes: Sequence[Envelope[Any]],
    stamps: _Stamps,
    args: argparse.Namespace,
) -> None:
    """Write everything as fast as ``args.producers`` tasks can, ``args.tx_size`` per commit."""
    subjects: dict[str, int] = {}
    shares: list[list[Envelope[Any]]] = [[] for _ in range(args.producers)]
    for envelope in envelopes:
        share = subjects.setdefault(envelope.subject.id, len(subjects) % args.producers)
        shares[share].append(envelope)

    async def produce(share: list[Envelope[Any]]) -> None:
        for start in range(0, len(share), args.tx_size):
            await _write(pool, share[start : start + args.tx_size], stamps)

    await asyncio.gather(*(produce(share) for share in shares))


async def _produce_paced(
    pool: asyncpg.Pool,
    envelopes: Sequence[Envelope[Any]],
    stamps: _Stamps,
    rate: float,
    args: argparse.Namespace,
) -> None:
    """Write ``rate`` events/s: one transaction per tick with the events due by then."""
    started = next_tick = time.perf_counter()
    written = 0
    while written < len(envelopes):
        due = int(rate * (time.perf_counter() - started)) + 1
        due = min(len(envelopes), due, written + args.tx_size)
        if due > written:
            await _write(pool, envelopes[written:due], stamps)
            written = due
        next_tick += args.tick_ms / 1000
        await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))


def _consumer_settings(args: argparse.Namespace) -> ConsumerSettings:
    return ConsumerSettings(
        prefetch=args.prefetch, concurrency=args.concurrency, batch_size=args.batch
    )


async def _runtime_run(
    urls: Urls, envelopes: Sequence[Envelope[Any]], args: argparse.Namespace, rate: float = 0
) -> Run:
    """Outbox → relay → consumer → handler commit, for every event; ``rate`` > 0 paces it."""
    stamps = _Stamps(len(envelopes))
    router = Router(service="bench")
    router.handles(OpportunityLost)(stamps.record_effect)
    size = args.concurrency + 4  # one per lane, plus relay, its listener and housekeeping
    async with (
        asyncpg.create_pool(
            urls.database, min_size=2, max_size=size, reset=stamps.on_release
        ) as pool,
        asyncpg.create_pool(urls.database, min_size=1, max_size=args.producers) as producers,
        await aio_pika.connect_robust(urls.amqp) as amqp,
        Consumer(
            router, queue=QUEUE, pool=pool, connection=amqp, settings=_consumer_settings(args)
        ),
    ):
        stopping = asyncio.Event()
        relay = OutboxRelay(pool, amqp, batch_size=args.relay_batch)
        relaying = asyncio.create_task(relay.run(stopping))
        try:
            started = time.perf_counter()
            if rate > 0:
                await _produce_paced(producers, envelopes, stamps, rate, args)
            else:
                await _produce_flat(producers, envelopes, stamps, args)
            written = time.perf_counter() - started
            await stamps.done.wait()
        finally:
            stopping.set()
            await relaying
        relay_ms, handled_ms = await pool.fetchrow(BREAKDOWN) or (None, None)
    note = (
        f"outbox written in {written:.2f} s; DB clock p50/p99: insert→published "
        f"{_ms(relay_ms)}, insert→inbox {_ms(handled_ms)}"
    )
    return stamps.run(started, note)


def _ms(pair: Sequence[float] | None) -> str:
    return "n/a" if not pair else f"{pair[0] * 1000:.0f}/{pair[1] * 1000:.0f} ms"


# --- idle worker RSS -----------------------------------------------------------------------------


async def _idle_worker(urls: Urls, args: argparse.Namespace) -> None:
    """Run a pool, a robust connection, one Consumer and one relay, idle, until killed."""
    router = Router(service="bench")
    router.handles(OpportunityLost)(_noop)
    stopping = asyncio.Event()
    async with (
        asyncpg.create_pool(urls.database, min_size=2, max_size=args.concurrency + 4) as pool,
        await aio_pika.connect_robust(urls.amqp) as amqp,
        Consumer(
            router, queue=QUEUE, pool=pool, connection=amqp, settings=_consumer_settings(args)
        ),
    ):
        relaying = asyncio.create_task(
            OutboxRelay(pool, amqp, batch_size=args.relay_batch).run(stopping)
        )
        print("ready", flush=True)
        with suppress(TimeoutError):  # the parent kills it long before; bounded regardless
            await asyncio.wait_for(stopping.wait(), IDLE_LIMIT)
        stopping.set()
        await relaying


async def _noop(envelope: Envelope[Any], ctx: HandlerContext[Any]) -> None:
    return None


async def _idle_rss(urls: Urls, args: argparse.Namespace) -> tuple[float, float]:
    """Start the idle worker in a subprocess; return its (VmRSS, VmHWM) in MB once settled."""
    flags = [f"--concurrency={args.concurrency}", f"--prefetch={args.prefetch}"]
    flags.append(f"--relay-batch={args.relay_batch}")
    async with _sandbox(urls, "idle", database=True) as box:
        env = {**os.environ, AMQP_ENV: box.amqp, DATABASE_ENV: box.database}
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--idle-worker",
            *flags,
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert child.stdout is not None  # noqa: S101 - piped above
            line = await asyncio.wait_for(child.stdout.readline(), 60)
            if line.strip() != b"ready":
                raise RuntimeError(f"the idle worker did not start (said {line!r})")
            await asyncio.sleep(IDLE_SETTLE)
            return _status_mb(child.pid, "VmRSS"), _status_mb(child.pid, "VmHWM")
        finally:
            if child.returncode is None:
                child.terminate()
            try:
                await asyncio.wait_for(child.wait(), 10)
            except TimeoutError:
                child.kill()
                await child.wait()


def _status_mb(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


# --- orchestration -------------------------------------------------------------------------------


def _envelopes(count: int, subjects: int) -> list[Envelope[OpportunityLost]]:
    """``count`` ~1 KB events over ``subjects`` opportunities, each subject's versions ascending."""
    producer = Producer(service="bench", system=SystemKind.CRM)
    lost_at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    envelopes = []
    for i in range(count):
        key = f"opp-{i % subjects:05d}"
        payload = OpportunityLost(
            opportunity_id=key, stage="Closed Lost", reason=REASON.strip(), lost_at=lost_at
        )
        envelopes.append(
            Envelope.new(
                payload,
                producer=producer,
                tenant_id="acme",
                legal_entity_id="le-de",
                data_residency_region="eu",
                correlation_id=f"bench-{key}",
                subject_version=i // subjects + 1,
            )
        )
    return envelopes


def _line(label: str, run: Run) -> str:
    figures = (
        f"  {label:<13} {run.rate:>9,.0f} ev/s  p50 {run.pct(0.5):8.1f} ms  "
        f"p99 {run.pct(0.99):8.1f} ms  ({run.events:,} events in {run.seconds:.2f} s)"
    )
    return f"{figures}\n{'':17}{run.note}" if run.note else figures


async def _measure(urls: Urls, args: argparse.Namespace, results: Results) -> None:
    envelopes = _envelopes(args.events, args.subjects)
    size = statistics.mean(len(encode(e)) for e in envelopes[:100])
    print(f"{args.events:,} events, {args.subjects:,} subjects, {size:.0f}-byte bodies\n")
    for repeat in range(1, args.repeats + 1):
        async with _sandbox(urls, "raw", database=False) as box:
            results.raw.append(await _raw_run(box, envelopes, args))
        print(_line(f"raw #{repeat}", results.raw[-1]), flush=True)
        async with _sandbox(urls, "runtime", database=True) as box:
            results.runtime.append(await _runtime_run(box, envelopes, args))
        print(_line(f"runtime #{repeat}", results.runtime[-1]), flush=True)
    results.half_rate = statistics.median(r.rate for r in results.runtime) / 2
    count = min(len(envelopes), max(1, round(results.half_rate * args.half_load_seconds)))
    async with _sandbox(urls, "half", database=True) as box:
        results.half = await _runtime_run(box, envelopes[:count], args, results.half_rate)
    print(_line("half load", results.half), flush=True)
    results.rss_mb = await _idle_rss(urls, args)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _report(results: Results) -> None:
    print(f"\n{'':22}{'raw aio-pika':>14}{'runtime':>14}   (median of each)")
    raw, runtime = results.raw, results.runtime
    rows: tuple[tuple[str, Callable[[Run], float], str], ...] = (
        ("events/s", lambda r: r.rate, ",.0f"),
        ("p50 latency (ms)", lambda r: r.pct(0.5), ".1f"),
        ("p99 latency (ms)", lambda r: r.pct(0.99), ".1f"),
    )
    print(f"{'runs':<22}{len(raw):>14}{len(runtime):>14}")
    for name, metric, spec in rows:
        cells = [
            format(statistics.median(map(metric, runs)), spec) if runs else "-"
            for runs in (raw, runtime)
        ]
        print(f"{name:<22}{cells[0]:>14}{cells[1]:>14}")
    print("(full-speed latencies are mostly queueing: raw window in flight, outbox backlog)")
    if raw and runtime:
        ratio = statistics.median(r.rate for r in runtime) / statistics.median(r.rate for r in raw)
        print(f"{'ratio runtime/raw':<22}{ratio:>14.2f}   target >= 0.50  {_verdict(ratio >= 0.5)}")
    if results.half is not None:
        p99 = results.half.pct(0.99)
        print(
            f"{'half load':<22}{results.half_rate:>9,.0f} ev/s  p50 {results.half.pct(0.5):.1f} ms"
            f"  p99 {p99:.1f} ms   target p99 < 100 ms  {_verdict(p99 < 100)}"
        )
    if results.rss_mb is not None:
        rss, peak = results.rss_mb
        print(
            f"{'idle worker RSS':<22}{rss:>11.1f} MB (peak {peak:.1f} MB)   target < 120 MB  "
            f"{_verdict(rss < 120)}"
        )
    if results.stopped:
        print(f"\nstopped early: {results.stopped}")


async def run(urls: Urls, args: argparse.Namespace) -> int:
    """Measure every phase within ``args.max_seconds``; print the figures."""
    print(
        f"uvloop; consumer concurrency {args.concurrency}, prefetch {args.prefetch}, "
        f"lane batch {args.batch}; relay batch "
        f"{args.relay_batch}; outbox {args.producers} producers x {args.tx_size} events/tx; raw "
        f"window {args.raw_window}, prefetch {args.raw_prefetch}; half load tick {args.tick_ms} ms"
    )
    results = Results()
    try:
        async with asyncio.timeout(args.max_seconds):
            await _measure(urls, args, results)
    except TimeoutError:
        results.stopped = f"the {args.max_seconds:.0f} s deadline passed"
    _report(results)
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--events", type=int, default=20_000, help="events per throughput run")
    add("--repeats", type=int, default=3, help="throughput runs of each kind (median reported)")
    add("--max-seconds", type=float, default=600, help="global deadline")
    add("--subjects", type=int, default=1_000, help="distinct subjects (partition keys)")
    shipped = ConsumerSettings()  # measure the defaults a service gets
    add("--concurrency", type=int, default=shipped.concurrency, help="consumer lanes")
    add("--prefetch", type=int, default=shipped.prefetch, help="consumer prefetch")
    add("--batch", type=int, default=shipped.batch_size, help="deliveries per lane transaction")
    add("--relay-batch", type=int, default=500, help="outbox relay batch size")
    add("--producers", type=int, default=4, help="concurrent outbox writers")
    add("--tx-size", type=int, default=100, help="events per outbox transaction")
    add("--raw-window", type=int, default=500, help="raw publishes in flight")
    add("--raw-prefetch", type=int, default=256, help="raw consumer prefetch")
    add("--half-load-seconds", type=float, default=10, help="length of the half-load run")
    add("--tick-ms", type=float, default=20, help="half-load producer: one transaction per tick")
    add("--idle-worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = _arguments()
    urls = Urls(*(os.environ.get(name, DEFAULTS[name]) for name in DEFAULTS))
    for url in (urls.amqp, urls.database, urls.management):
        if urlsplit(url).hostname not in LOOPBACK:
            sys.exit(f"bench_runtime talks to loopback only, not {urlsplit(url).hostname}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.idle_worker:
        uvloop.run(_idle_worker(urls, args))
        return 0
    return uvloop.run(run(urls, args))


if __name__ == "__main__":
    sys.exit(main())
