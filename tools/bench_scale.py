"""``make bench-scale``: time-expense's consumer scaled out, beside the raw broker ceiling
measured in the same run, and what one entry costs, for ``docs/capacity.md``.

1. the raw ceiling: plain aio-pika publish-with-confirms and consume on a quorum queue
   (``tools/bench_runtime.py``'s raw run), median of three;
2. a generated firm set up in the sandbox PSA and HTTP ERP (as ``make bench-month-end``), then
   the consumer stopped: only the ingest worker (ingestion, relay, schedule) runs;
3. per replica count k in ``--replicas`` (``--repeats`` times): a backlog of ``--entries``
   approved entries written into the PSA, landed by ingestion and published into the
   partition queues while no consumer runs; then k consume workers started and the drain timed
   until every entry is settled (posted, or held as a business exception). Entries/s count the
   postings from the first to the last (database clock), so process start-up is left out;
4. the rebalance: 3 replicas on a larger backlog (``--rebalance-entries``), the one holding
   the most partitions SIGKILLed as soon as every replica holds some: the time from the kill
   until each of its partitions handles messages again (``messaging.inbox`` rows under a later
   epoch), from the runtime's own records.

Order violations: a consultant's posting (``time_expense.postings.sequence``) whose PSA change
sequence (``sandbox.records.seq``, the order the PSA approved them and the order its feed hands
them out) is below that of the posting before it; must be 0. Costs per entry: CPU seconds
(``/proc/<pid>/stat`` utime + stime deltas) of the consume workers, the ingest worker, the
PostgreSQL server (postmaster and children: shared with anything else using that server), the
RabbitMQ node (the ``beam.smp`` listening on the AMQP port: shared likewise) and this process
(the in-process sandbox PSA and ERP, and the driver); outbox messages and their body bytes;
database bytes by schema and WAL bytes. Durability as deployed: quorum queues, persistent
messages, publisher confirms, synchronous commits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import aio_pika
import asyncpg

from month.bench import raw_ceiling
from month.burst import Pair, approve, pairs_of, wait_known
from month.firm import set_up
from month.quote import settings_for
from month.systems import ROOT, Systems, local_systems
from tandem_sandbox.scenario import generate
from time_expense.service_layer.handlers import QUEUE

CONSUME = frozenset({"consume"})
TICK = os.sysconf("SC_CLK_TCK")
PARTS = ("consume", "ingest", "postgres", "rabbitmq", "this process")

_SETTLED = """
SELECT (SELECT count(*) FROM time_expense.postings WHERE kind = 'post')
     + (SELECT count(*) FROM time_expense.exceptions
        WHERE subject_type = 'time_entry' AND resolved_at IS NULL)
"""
_MARKS = """
SELECT (SELECT coalesce(max(sequence), 0) FROM time_expense.postings) AS sequence,
       (SELECT coalesce(max(id), 0) FROM messaging.outbox) AS outbox,
       pg_current_wal_lsn() AS wal, clock_timestamp() AS now
"""
_SCHEMA_BYTES = """
SELECT n.nspname AS schema, sum(pg_total_relation_size(c.oid))::bigint AS bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname IN ('time_expense', 'messaging', 'connectors')
GROUP BY n.nspname
"""
_WAL_SINCE = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::bigint"
_DRAINED = """
SELECT count(*) AS posted, min(posted_at) AS first, max(posted_at) AS last,
  (SELECT count(*) FROM (SELECT subject_id FROM time_expense.postings WHERE kind = 'post'
     GROUP BY subject_id HAVING count(*) > 1) AS doubled) AS doubled
FROM time_expense.postings WHERE kind = 'post' AND sequence > $1
"""
# The same order check as tests/system/test_time_expense_scale.py, as one count.
_ORDER_VIOLATIONS = """
WITH posted AS (
  SELECT p.worker_id, p.sequence, r.seq AS approved
  FROM time_expense.postings p
  JOIN sandbox.records r ON r.system = 'psa' AND r.collection = 'time-entries'
    AND r.id = p.subject_id
  WHERE p.kind = 'post' AND p.sequence > $1
)
SELECT count(*) FROM (
  SELECT approved < lag(approved) OVER (PARTITION BY worker_id ORDER BY sequence) AS behind
  FROM posted
) AS pairs WHERE behind
"""
_MESSAGES = """
SELECT event_type, count(*) AS n, avg(octet_length(body))::float8 AS body
FROM messaging.outbox WHERE id > $1 GROUP BY event_type ORDER BY event_type
"""
# Leases that expired under a live holder: the one case where per-key order is not promised.
_LOST = """
SELECT count(*) FROM messaging.partition_log WHERE grp = $1 AND how = 'lost' AND acquired_at > $2
"""
_PARTITIONS = "SELECT count(*) FROM messaging.partition_leases WHERE grp = $1"
_LEASES = """
SELECT owner, partition, epoch FROM messaging.partition_leases
WHERE grp = $1 AND owner IS NOT NULL AND expires_at > clock_timestamp() ORDER BY partition
"""
_RESUMED = """
SELECT min(handled_at) FROM messaging.inbox WHERE consumer = $1 AND partition = $2 AND epoch > $3
"""


# --- CPU from /proc ------------------------------------------------------------------------


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICK


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if ppid == parent:
                found.append(int(entry.name))
    return found


def _listener(port: int) -> int:
    """The process listening on 127.0.0.1:``port`` (``ss`` names it)."""
    out = subprocess.run(  # noqa: S603 - a fixed command line
        ["/usr/bin/ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"pid=(\d+)", out)
    if match is None:
        raise RuntimeError(f"no process found listening on port {port}")
    return int(match.group(1))


Snapshot = dict[str, dict[int, float]]


@dataclass
class Probe:
    """Which processes make up each part; a snapshot is their CPU seconds so far."""

    postmaster: int
    broker: int
    ingest: int
    consumers: list[int] = field(default_factory=list)

    def snapshot(self) -> Snapshot:
        postgres = [self.postmaster, *_children(self.postmaster)]
        pids = {"consume": self.consumers, "ingest": [self.ingest], "postgres": postgres,
                "rabbitmq": [self.broker], "this process": [os.getpid()]}  # fmt: skip
        return {part: {pid: _cpu_s(pid) for pid in group} for part, group in pids.items()}


def _used(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds each part used in between (processes started meanwhile count in full)."""
    return {
        part: sum(max(0.0, cpu - before[part].get(pid, 0.0)) for pid, cpu in after[part].items())
        for part in after
    }


# --- runs ----------------------------------------------------------------------------------


@dataclass
class Phase:
    """What one phase of a run cost: CPU seconds per part, over ``entries`` entries."""

    entries: int
    cpu: dict[str, float]

    def per_entry_ms(self, part: str) -> float:
        return 1000 * self.cpu[part] / self.entries if self.entries else float("nan")


@dataclass
class Drained:
    replicas: int
    posted: int
    seconds: float
    start_s: float
    violations: int
    doubled: int
    held: int
    lost: int
    ingest: Phase
    drain: Phase
    messages: list[tuple[str, float, float]]  # event type, per entry, body bytes
    db_bytes: dict[str, float]  # schema -> bytes per entry
    wal_bytes: float
    pause_s: list[float] = field(default_factory=list)
    victim_partitions: int = 0
    killed_into: float = 0.0  # the share of the backlog settled when the replica was killed

    @property
    def rate(self) -> float:
        return self.posted / self.seconds if self.seconds else 0.0


@dataclass
class Bench:
    """The systems of a run, the firm's bookable pairs, and a database connection."""

    systems: Systems
    pairs: list[Pair]
    month: date
    db: asyncpg.Connection
    probe: Probe
    partitions: int
    args: argparse.Namespace
    runs: int = 0

    async def settled(self) -> int:
        return int(await self.db.fetchval(_SETTLED))

    async def queued(self) -> int:
        connection = await aio_pika.connect_robust(self.systems.amqp_url)
        async with connection:
            channel = await connection.channel()
            total = 0
            for partition in range(self.partitions):
                declared = await channel.declare_queue(f"{QUEUE}.p{partition}", passive=True)
                total += int(declared.declaration_result.message_count or 0)
            return total

    async def schema_bytes(self) -> dict[str, int]:
        return {row["schema"]: row["bytes"] for row in await self.db.fetch(_SCHEMA_BYTES)}

    async def run(self, replicas: int, entries: int, *, kill: bool = False) -> Drained:
        """A backlog made with no consumer, then drained by ``replicas`` consume workers (one
        SIGKILLed, with ``kill``, as soon as every replica holds partitions)."""
        self.runs += 1
        marks, sizes = await self.db.fetchrow(_MARKS), await self.schema_bytes()
        assert marks is not None  # noqa: S101 - a SELECT without FROM answers a row
        settled_before = await self.settled()
        ingest = await self._backlog(entries)
        drain, start_s, pause = await self._drain(replicas, settled_before + entries, kill)
        row = await self.db.fetchrow(_DRAINED, marks["sequence"])
        assert row is not None  # noqa: S101 - an aggregate answers a row
        after = await self.schema_bytes()
        messages = [
            (r["event_type"], r["n"] / entries, r["body"])
            for r in await self.db.fetch(_MESSAGES, marks["outbox"])
        ]
        return Drained(
            replicas=replicas, posted=int(row["posted"]),
            seconds=(row["last"] - row["first"]).total_seconds(), start_s=start_s,
            violations=int(await self.db.fetchval(_ORDER_VIOLATIONS, marks["sequence"])),
            doubled=int(row["doubled"]),
            lost=int(await self.db.fetchval(_LOST, QUEUE, marks["now"])),
            held=await self.settled() - settled_before - row["posted"],
            ingest=ingest, drain=drain, messages=messages,
            db_bytes={s: (after[s] - sizes.get(s, 0)) / entries for s in after},
            wal_bytes=int(await self.db.fetchval(_WAL_SINCE, marks["wal"])) / entries,
            pause_s=pause[1], victim_partitions=pause[0], killed_into=pause[2],
        )  # fmt: skip

    async def _backlog(self, entries: int) -> Phase:
        """``entries`` approved in the PSA, landed and published while no consumer runs."""
        before = self.probe.snapshot()
        await approve(self.systems.sandbox, self.pairs, entries, self.month)
        deadline = time.monotonic() + self.args.max_wait
        while (queued := await self.queued()) < entries:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{queued} of {entries} entries published")
            await asyncio.sleep(0.2)
        return Phase(entries, _used(before, self.probe.snapshot()))

    async def _drain(
        self, replicas: int, target: int, kill: bool
    ) -> tuple[Phase, float, tuple[int, list[float], float]]:
        """Start the replicas, sample until ``target`` entries are settled; answer the cost
        from the first settled entry on, the time from start to it, and the rebalance pause."""
        deployment = self.systems.deployment
        names = [f"r{self.runs}-{n}" for n in range(replicas)]
        started = time.monotonic()
        deployment.start_workers(dict.fromkeys(names, CONSUME))
        self.probe.consumers = [deployment.pid(name) for name in names]
        origin, first, start_s, killed, into = await self.settled(), None, 0.0, None, 0.0
        deadline = started + self.args.max_wait
        while (settled := await self.settled()) < target:
            if first is None and settled > origin:
                first, start_s = (settled, self.probe.snapshot()), time.monotonic() - started
            if kill and killed is None and settled > origin:
                killed = await self._kill(names)
                into = (settled - origin) / (target - origin)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{target - settled} entries not settled")
            await asyncio.sleep(0.1)
        used = _used(first[1], self.probe.snapshot()) if first else {}
        phase = Phase(target - first[0] if first else 0, used)
        pause = (*await self._pause(killed), into) if killed else (0, [], 0.0)
        for name in names:
            if name in deployment.processes:
                await _leave(self.systems, name)
        return phase, start_s, pause

    async def _kill(self, names: list[str]) -> tuple[datetime, list[tuple[int, int]]] | None:
        """SIGKILL the replica holding the most partitions once every replica holds some;
        answer when, and its leases (None: not yet)."""
        deployment = self.systems.deployment
        by_pid = {str(deployment.pid(name)): name for name in names}
        held: dict[str, list[tuple[int, int]]] = {}
        for row in await self.db.fetch(_LEASES, QUEUE):
            held.setdefault(row["owner"].split(":")[1], []).append((row["partition"], row["epoch"]))
        if set(held) != set(by_pid):
            return None
        victim = max(held, key=lambda pid: len(held[pid]))
        killed_at = await self.db.fetchval("SELECT clock_timestamp()")
        deployment.kill(by_pid[victim])
        return killed_at, held[victim]

    async def _pause(
        self, killed: tuple[datetime, list[tuple[int, int]]]
    ) -> tuple[int, list[float]]:
        killed_at, held = killed
        resumed = [await self.db.fetchval(_RESUMED, QUEUE, p, e) for p, e in held]
        return len(held), [(at - killed_at).total_seconds() for at in resumed if at is not None]


async def _leave(systems: Systems, name: str, within: float = 60.0) -> None:
    """SIGTERM worker ``name`` and wait, without blocking the loop (the in-process sandbox ERP
    it may still be writing to runs on it)."""
    process = systems.deployment.processes.pop(name)
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + within
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"{name} did not stop within {within} s")
        await asyncio.sleep(0.1)


# --- report --------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _print(
    raw: float, runs: Mapping[int, list[Drained]], kill: Drained | None, load: float
) -> None:
    # Costs from the runs without a kill: a SIGKILLed process's CPU can no longer be read.
    every = [run for group in runs.values() for run in group]
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, 1-min load average "
          f"{load:.2f} before the run and {os.getloadavg()[0]:.2f} after (anything else running "
          "shares the cores, PostgreSQL and RabbitMQ)")  # fmt: skip
    print(f"raw broker ceiling (plain aio-pika, median of 3): {raw:,.0f} events/s")
    ingest = _median([r.ingest.entries / max(r.ingest.cpu["ingest"], 1e-9) for r in every])
    print(f"backlog per run: {every[0].ingest.entries} approved entries, landed and published "
          f"with no consumer running")  # fmt: skip
    head = ("replicas", "runs", "posted", "drain s", "entries/s", "x raw", "order viol.",
            "doubled", "held", "lost leases", "start->1st s")  # fmt: skip
    print("{:>8} {:>4} {:>7} {:>8} {:>10} {:>6} {:>11} {:>7} {:>5} {:>11} {:>12}".format(*head))
    for replicas, group in runs.items():
        rate = _median([r.rate for r in group])
        print(
            f"{replicas:>8} {len(group):>4} {group[0].posted:>7} "
            f"{_median([r.seconds for r in group]):>8.1f} {rate:>10,.1f} {rate / raw:>6.3f} "
            f"{sum(r.violations for r in group):>11} {sum(r.doubled for r in group):>7} "
            f"{sum(r.held for r in group):>5} {sum(r.lost for r in group):>11} "
            f"{_median([r.start_s for r in group]):>12.1f}"
        )
    if kill is not None:
        pauses = ", ".join(f"{p:.2f}" for p in sorted(kill.pause_s))
        print(
            f"rebalance: {kill.posted} entries, 3 replicas, the one holding most partitions "
            f"SIGKILLed {kill.killed_into:.0%} into the drain: "
            f"{len(kill.pause_s)}/{kill.victim_partitions} of its partitions flowing again after "
            f"{max(kill.pause_s, default=float('nan')):.2f} s (each: {pauses}); that drain "
            f"{kill.rate:,.1f} entries/s, order violations {kill.violations}, "
            f"doubled {kill.doubled}, leases lost by live replicas {kill.lost}"
        )
    print(f"per-entry cost (median over {len(every)} runs; CPU ms per entry):")
    print(f"  {'part':<14} {'ingest phase':>12} {'drain phase':>12}")
    for part in PARTS:
        landed = _median([r.ingest.per_entry_ms(part) for r in every])
        drained = _median([r.drain.per_entry_ms(part) for r in every])
        print(f"  {part:<14} {landed:>12.3f} {drained:>12.3f}")
    for replicas, group in runs.items():
        consume = _median([r.drain.per_entry_ms("consume") for r in group])
        print(f"  consume workers at {replicas} replica(s): {consume:.3f} ms CPU per entry")
    print(f"  ingest worker alone lands and publishes {ingest:,.0f} entries per CPU second")
    last = every[-1]
    for event_type, per_entry, body in last.messages:
        print(f"  outbox {event_type}: {per_entry:.2f} per entry, {body:,.0f} body bytes")
    sizes = ", ".join(
        f"{schema} {_median([r.db_bytes.get(schema, 0.0) for r in every]):,.0f}"
        for schema in sorted(last.db_bytes)
    )
    print(f"  database bytes per entry by schema: {sizes}")
    print(f"  WAL bytes per entry (whole server): {_median([r.wal_bytes for r in every]):,.0f}")


async def _partitions(db: asyncpg.Connection) -> int:
    return int(await db.fetchval(_PARTITIONS, QUEUE))


async def main(args: argparse.Namespace) -> None:
    logs = ROOT / ".tandem" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    raw = await raw_ceiling(args.raw_events)
    firm = generate(11, consultants=args.consultants, customers=20)
    settings = {"TANDEM_CONCURRENCY": str(args.lanes), "TANDEM_PREFETCH": str(args.prefetch),
                "TANDEM_BATCH_SIZE": str(args.batch_size), "TANDEM_POLL_INTERVAL_S": "0.5",
                "TANDEM_POLL_LAG_S": "0.2"}  # fmt: skip
    async with local_systems(
        "sandbox", run="bench_scale", logs=logs, settings=settings,
        quote_settings=settings_for(firm),
    ) as systems:  # fmt: skip
        _, won = await set_up(firm, systems)
        await wait_known(systems.database_url, firm)
        await _leave(systems, "worker")  # from here on, only the ingest worker runs
        db = await asyncpg.connect(systems.database_url)
        try:
            probe = Probe(
                postmaster=_listener(urlsplit(systems.database_url).port or 5432),
                broker=_listener(urlsplit(systems.amqp_url).port or 5672),
                ingest=systems.deployment.pid("ingest"),
            )
            pairs = pairs_of(firm, won.psa)
            bench = Bench(systems, pairs, firm.month, db, probe, await _partitions(db), args)
            runs: dict[int, list[Drained]] = {k: [] for k in args.replicas}
            for _ in range(args.repeats):
                for replicas in args.replicas:
                    runs[replicas].append(await bench.run(replicas, args.entries))
            kill = await bench.run(3, args.rebalance_entries, kill=True) if args.rebalance else None
        finally:
            await db.close()
    _print(raw, runs, kill, load)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="make bench-scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--entries", type=int, default=3_000, help="backlog per run")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--repeats", type=int, default=3, help="runs per replica count")
    parser.add_argument("--consultants", type=int, default=120, help="of the generated firm")
    parser.add_argument("--lanes", type=int, default=4, help="TANDEM_CONCURRENCY per replica")
    parser.add_argument("--prefetch", type=int, default=512, help="TANDEM_PREFETCH")
    parser.add_argument("--batch-size", type=int, default=128, help="TANDEM_BATCH_SIZE")
    parser.add_argument("--raw-events", type=int, default=20_000)
    parser.add_argument(
        "--rebalance-entries", type=int, default=9_000, help="backlog of the SIGKILL run"
    )
    parser.add_argument(
        "--no-rebalance", dest="rebalance", action="store_false", help="skip the SIGKILL run"
    )
    parser.add_argument("--max-wait", type=float, default=600.0, help="seconds per phase")
    asyncio.run(main(parser.parse_args()))
