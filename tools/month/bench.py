"""``make bench-month-end``: a month-end burst of approved time through PSA → time-expense →
ERP, beside the raw broker ceiling measured in the same run.

1. the raw ceiling: plain aio-pika publish-with-confirms and consume on a quorum queue
   (``tools/bench_runtime.py``), median of three;
2. ``--entries`` approved entries (default 20,000) written at once into the sandbox PSA;
   time-expense polls them and posts them into the sandbox HTTP ERP;
3. the same with ``--tryton-entries`` (default 1,000) into a real Tryton;
4. approvals arriving at a steady rate with a ``--outage``-second ERP outage in the middle:
   the time to drain the backlog after recovery, and the drain rate beside the arrival rate.

For each: entries/s (first approval to last posting), p50/p95/p99 from approval to posted,
peak RSS of the worker, the ratio to the raw ceiling, and the loss/duplicate check.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import bench_runtime
import httpx

from month.burst import approve, pairs_of, wait_known
from month.firm import set_up
from month.quote import settings_for
from month.systems import ROOT, Flavour, Systems, local_systems
from tandem_sandbox.scenario import generate

_LATENCY = """
SELECT count(*) AS n, min(r.updated_at) AS first_approved, max(p.posted_at) AS last_posted,
  percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP
    (ORDER BY extract(epoch FROM p.posted_at - r.updated_at)) AS pct
FROM time_expense.postings p
JOIN sandbox.records r ON r.system = 'psa' AND r.collection = 'time-entries' AND r.id = p.subject_id
WHERE p.kind = 'post'
"""
# Posted or held as a business exception (refused, with its reason): either way, settled.
_HELD = """
SELECT count(*) FROM time_expense.exceptions
WHERE subject_type = 'time_entry' AND resolved_at IS NULL
"""
_SETTLED = """
SELECT (SELECT count(*) FROM time_expense.postings WHERE kind = 'post')
     + (SELECT count(*) FROM time_expense.exceptions
        WHERE subject_type = 'time_entry' AND resolved_at IS NULL)
"""
_COUNTS = """
SELECT (SELECT count(*) FROM sandbox.records
          WHERE system = 'psa' AND collection = 'time-entries') AS approved,
       (SELECT count(*) FROM time_expense.postings WHERE kind = 'post') AS posted
"""
_COMPANIES = (
    "SELECT external_id FROM connectors.external_refs WHERE canonical_type = 'legal_entity'"
)
_DOUBLES = """
SELECT count(*) FROM (SELECT subject_id FROM time_expense.postings WHERE kind = 'post'
    GROUP BY subject_id HAVING count(*) > 1) AS doubled
"""


def _settings(lanes: int) -> dict[str, str]:
    """time-expense's settings for a run: polling often, ``lanes`` lanes of large batches."""
    return {"TANDEM_CONCURRENCY": str(lanes), "TANDEM_POLL_INTERVAL_S": "0.5",
            "TANDEM_PREFETCH": "1024", "TANDEM_BATCH_SIZE": "256",
            "TANDEM_POLL_LAG_S": "0.2", "TANDEM_LOG_LEVEL": "WARNING"}  # fmt: skip


@dataclass
class Measured:
    name: str
    entries: int
    seconds: float
    p50: float
    p95: float
    p99: float
    peak_rss_mb: float
    erp_lines: int
    doubled: int
    note: str = ""

    @property
    def rate(self) -> float:
        return self.entries / self.seconds if self.seconds else 0.0


async def burst(flavour: Flavour, entries: int, *, logs: Path, lanes: int) -> Measured:
    """All ``entries`` approved at once; measure until every one is posted."""
    firm = generate(11, consultants=120, customers=20)
    settings = _settings(lanes)
    async with local_systems(
        flavour, run=f"bench_{flavour}", logs=logs, settings=settings,
        quote_settings=settings_for(firm),
    ) as systems:  # fmt: skip
        _, won = await set_up(firm, systems)
        await wait_known(systems.database_url, firm)
        await approve(systems.sandbox, pairs_of(firm, won.psa), entries, firm.month)
        await _until_settled(systems.database_url, entries, within=3600)
        return await _measure(f"burst into {flavour}", systems, firm.month)


async def outage(
    entries_per_second: float, seconds: float, down: float, *, logs: Path, lanes: int
) -> tuple[Measured, str]:
    """Approvals at a steady rate; the ERP down for ``down`` s in the middle."""
    firm = generate(11, consultants=120, customers=20)
    settings = _settings(lanes)
    total = int(entries_per_second * seconds)
    async with local_systems(
        "sandbox", run="bench_outage", logs=logs, settings=settings,
        quote_settings=settings_for(firm),
    ) as systems:  # fmt: skip
        _, won = await set_up(firm, systems)
        await wait_known(systems.database_url, firm)
        pairs = pairs_of(firm, won.psa)
        feeding = asyncio.create_task(
            approve(systems.sandbox, pairs, total, firm.month, per_second=entries_per_second)
        )
        await asyncio.sleep((seconds - down) / 2)  # steady state first, then the outage
        async with httpx.AsyncClient(base_url=systems.sandbox.urls["control"]) as control:
            answer = await control.post(
                "/_sandbox/faults/erp/outages", json={"start_in_s": 0, "duration_s": down}
            )
            answer.raise_for_status()
        recovered = time.monotonic() + down
        caught_up = asyncio.create_task(
            _catch_up(systems.database_url, recovered, entries_per_second)
        )
        await feeding
        backlog, drained_in, drained = await caught_up
        await _until_settled(systems.database_url, total, within=3600)
        measured = await _measure(f"steady arrivals, {down:.0f} s ERP outage", systems, firm.month)
        note = (
            f"arrivals {entries_per_second:.0f}/s; backlog at recovery {backlog}; caught up "
            f"{drained_in:.1f} s after recovery, posting {drained / drained_in:.0f}/s meanwhile "
            f"({drained / drained_in / entries_per_second:.1f}x the arrival rate)"
        )
        return measured, note


async def _catch_up(database_url: str, recovered: float, rate: float) -> tuple[int, float, int]:
    """From the ERP's recovery: the backlog then, how long until posting caught up with the
    arrivals (less than a second of them outstanding), and how many were posted meanwhile."""
    await asyncio.sleep(max(0.0, recovered - time.monotonic()))  # sampling from a point in time
    connection = await asyncpg.connect(database_url)
    try:
        approved, posted = await _counts(connection)
        backlog, start = approved - posted, posted
        while approved - posted > rate:
            await asyncio.sleep(0.25)
            approved, posted = await _counts(connection)
        return backlog, time.monotonic() - recovered, posted - start
    finally:
        await connection.close()


async def _counts(connection: asyncpg.Connection) -> tuple[int, int]:
    row = await connection.fetchrow(_COUNTS)
    assert row is not None  # noqa: S101 - an aggregate answers a row
    return int(row["approved"]), int(row["posted"])


async def _until_settled(database_url: str, entries: int, *, within: float) -> float:
    connection = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await connection.fetchval(_SETTLED) >= entries:
                return time.monotonic()
            await asyncio.sleep(0.2)
        raise TimeoutError(f"not every entry was posted or held within {within} s")
    finally:
        await connection.close()


async def _measure(name: str, systems: Systems, month: date) -> Measured:
    connection = await asyncpg.connect(systems.database_url)
    try:
        row = await connection.fetchrow(_LATENCY)
        doubled = int(await connection.fetchval(_DOUBLES))
        held = int(await connection.fetchval(_HELD))
        companies = [r[0] for r in await connection.fetch(_COMPANIES)]
    finally:
        await connection.close()
    assert row is not None  # noqa: S101 - an aggregate answers a row
    p50, p95, p99 = row["pct"]
    end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    lines = 0
    for company in companies:
        lines += len(await systems.erp.time_lines(company=company, start=month, end=end))
    counters = systems.sandbox.faults["erp"].counters
    refused = counters.get("concurrency_limited", 0) + counters.get("rate_limited", 0)
    return Measured(
        name=name,
        entries=int(row["n"]),
        seconds=(row["last_posted"] - row["first_approved"]).total_seconds(),
        p50=p50, p95=p95, p99=p99,
        peak_rss_mb=max(_peak_rss_mb(systems.deployment.pid(n)) for n in ("worker", "ingest")),
        erp_lines=lines,
        doubled=doubled,
        note=f"{held} held as business exceptions; the ERP refused {refused} requests over "
        "its limits (429)",
    )  # fmt: skip


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def raw_ceiling(events: int) -> float:
    """Median events/s of plain aio-pika over three runs (bench_runtime's raw run)."""
    urls = bench_runtime.Urls(*(os.environ.get(n, d) for n, d in bench_runtime.DEFAULTS.items()))
    args = argparse.Namespace(raw_window=500, raw_prefetch=256)
    rates = []
    for _ in range(3):
        async with bench_runtime._sandbox(urls, "raw", database=False) as fresh:
            run = await bench_runtime._raw_run(fresh, bench_runtime._envelopes(events, 1000), args)
        rates.append(run.rate)
    return statistics.median(rates)


def _print(raw: float, runs: list[Measured], notes: list[str]) -> None:
    print(f"raw broker ceiling (plain aio-pika, median of 3): {raw:,.0f} events/s")
    header = ("run", "entries", "entries/s", "x raw", "p50 s", "p95 s", "p99 s", "peak RSS",
              "ERP lines", "doubled")  # fmt: skip
    print("{:<40} {:>8} {:>10} {:>6} {:>7} {:>7} {:>7} {:>9} {:>9} {:>7}".format(*header))
    for m in runs:
        latency = f"{m.p50:>7.1f} {m.p95:>7.1f} {m.p99:>7.1f}"
        print(
            f"{m.name:<40} {m.entries:>8} {m.rate:>10,.1f} {m.rate / raw:>6.3f} {latency} "
            f"{m.peak_rss_mb:>7.0f}MB {m.erp_lines:>9} {m.doubled:>7}"
        )
    for m in runs:
        print(f"  {m.name}: {m.note}")
    for note in notes:
        print(f"  {note}")


async def main(args: argparse.Namespace) -> None:
    logs = ROOT / ".tandem" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    raw = await raw_ceiling(args.raw_events)
    runs = [await burst("sandbox", args.entries, logs=logs, lanes=args.lanes)]
    if args.tryton_entries:
        runs.append(await burst("tryton", args.tryton_entries, logs=logs, lanes=3))
    notes = []
    if args.outage:
        rate = args.arrival_rate or max(1.0, runs[0].rate / 3)
        measured, note = await outage(
            rate, args.outage * 2.5, args.outage, logs=logs, lanes=args.lanes
        )
        runs.append(measured)
        notes.append(note)
    _print(raw, runs, notes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="make bench-month-end",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--tryton-entries", type=int, default=1_000)
    parser.add_argument(
        "--outage", type=float, default=60.0, help="seconds of ERP outage (0: skip)"
    )
    parser.add_argument(
        "--arrival-rate",
        type=float,
        default=0.0,
        help="entries/s during the outage run (default: a third of the burst rate)",
    )
    parser.add_argument("--lanes", type=int, default=2, help="time-expense consumer lanes")
    parser.add_argument("--raw-events", type=int, default=20_000)
    asyncio.run(main(parser.parse_args()))
