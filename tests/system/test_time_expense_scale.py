"""time-expense scaled out: three consumer replicas share the postings queue's partitions; one
is SIGKILLed mid-stream, a fourth joins, another leaves gracefully. Every approved entry is
posted exactly once, each consultant's in approval order, and the runtime's own records show
no partition was ever held by two replicas at once."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import date, datetime
from itertools import pairwise

import asyncpg
import httpx

from tandem_sandbox import Sandbox
from time_expense.service_layer.handlers import QUEUE

from .harness import Deployment, clients, eventually, weekdays
from .story import Firm, build, decide, log_week, posted_count, the_firm

OCTOBER = weekdays(date(2026, 10, 1), date(2026, 10, 30))
WAVES = [OCTOBER[i : i + 5] for i in range(0, len(OCTOBER), 5)]  # 5 approval waves
PARTITIONS = 8  # TANDEM_PARTITIONS, the default
CONSUMER = frozenset({"consume"})
LAYOUT = {"ingest": frozenset({"ingest", "relay", "schedule"}),
          "c1": CONSUMER, "c2": CONSUMER, "c3": CONSUMER}  # fmt: skip

# Approval order is the PSA's change sequence (sandbox.records.seq): approving a timesheet
# updates its entries one by one in one transaction, each update taking the next value, and the
# waves are approved one after another; it is also the order of the PSA feed time-expense polls.
# Posting order is time_expense.postings.sequence: a bigserial taken inside the batch's
# transaction, in the batch's order. A consultant's batches never overlap (one partition, one
# owner at a time, one lane), so for one consultant it is the order the postings committed.
APPROVED = """
SELECT id, data->>'resource_id' AS resource FROM sandbox.records
WHERE system = 'psa' AND collection = 'time-entries' AND data->>'status' = 'approved'
ORDER BY seq
"""
POSTED = """
SELECT worker_id, subject_id FROM time_expense.postings WHERE kind = 'post'
ORDER BY worker_id, sequence
"""
LOG = """
SELECT partition, epoch, owner, acquired_at, released_at, how FROM messaging.partition_log
WHERE grp = $1 ORDER BY partition, epoch
"""
# Commit order within a partition: handled_at is clock_timestamp() at the inbox insert, inside
# the transaction, which the fence serialises against any takeover of the partition.
INBOX = """
SELECT partition, epoch, handled_at FROM messaging.inbox
WHERE consumer = $1 AND partition IS NOT NULL ORDER BY partition, handled_at
"""
# A consultant's events (keyed by worker in time-expense's outbox) all on one partition.
KEYS_ON_SEVERAL_PARTITIONS = """
SELECT count(*) FROM (
    SELECT o.partition_key FROM messaging.inbox i JOIN messaging.outbox o USING (event_id)
    WHERE i.consumer = $1 GROUP BY o.partition_key HAVING count(DISTINCT i.partition) > 1
) AS spread
"""
OWNERS = """
SELECT owner, count(*) AS held FROM messaging.partition_leases
WHERE grp = $1 AND owner IS NOT NULL AND expires_at > clock_timestamp() GROUP BY owner
"""
HELD_BY = """
SELECT partition, epoch FROM messaging.partition_leases
WHERE grp = $1 AND owner LIKE '%:' || $2 || ':%'
"""
RESUMED = """
SELECT min(handled_at) FROM messaging.inbox WHERE consumer = $1 AND partition = $2 AND epoch > $3
"""


async def test_three_replicas_post_each_consultants_time_once_and_in_order_through_churn(
    sandbox: Sandbox, deployment: Deployment
) -> None:
    firm = the_firm(us_consultants=16, de_consultants=8)
    worker_of = {}
    async with asyncio.timeout(175), clients(sandbox, deployment) as http:
        # An ingest worker (with the relay and the schedule) and three consumer replicas,
        # posting in small batches so that a wave takes a while to post.
        deployment.settings |= {"TANDEM_BATCH_SIZE": "2"}
        deployment.start("api")
        deployment.start_workers(LAYOUT)
        await deployment.wait_api()
        await deployment.wait_workers()
        db = await asyncpg.connect(deployment.database_url)
        try:
            replicas = {str(deployment.pid(name)) for name in ("c1", "c2", "c3")}
            await eventually(lambda: _held_by(db, replicas), what="three replicas sharing P")
            await build(firm, deployment, http.erp, http.psa, crm_url=sandbox.urls["crm"])
            worker_of = {firm.resources[c.worker_id]: c.worker_id for c in firm.consultants}
            # A slow ERP keeps the stream flowing while replicas come and go.
            answer = await http.control.put("/_sandbox/faults/erp", json={"latency_ms": 100})
            assert answer.status_code == 200, answer.text

            # Two waves approved; once some of it is posted, c2 is SIGKILLed mid-stream.
            approved = 0
            for wave in WAVES[:2]:
                approved += await _approve_wave(firm, http.psa, wave)

            async def some_posted() -> bool:
                return await posted_count(deployment.database_url) >= approved // 5

            await eventually(some_posted, within=60, what="some of the time posted", every=0.05)
            dead_pid = str(deployment.pid("c2"))
            dead_leases = [tuple(r) for r in await db.fetch(HELD_BY, QUEUE, dead_pid)]
            killed_at = await db.fetchval("SELECT clock_timestamp()")
            deployment.kill("c2")
            assert await posted_count(deployment.database_url) < approved, "not mid-stream"
            assert dead_leases, "the killed replica held no partition"

            # A third wave; c4 joins and takes partitions.
            approved += await _approve_wave(firm, http.psa, WAVES[2])
            deployment.start_workers({"c4": CONSUMER})
            await deployment.wait_worker("c4")
            replicas = {str(deployment.pid(name)) for name in ("c1", "c3", "c4")}
            await eventually(lambda: _held_by(db, replicas), within=30, what="c4 joining")

            # A fourth wave; c3 leaves gracefully while it flows; the last wave.
            before = approved
            approved += await _approve_wave(firm, http.psa, WAVES[3])

            async def wave_flowing() -> bool:
                return await posted_count(deployment.database_url) > before

            await eventually(wave_flowing, within=60, what="the fourth wave flowing", every=0.05)
            leaving_pid = str(deployment.pid("c3"))
            assert await posted_count(deployment.database_url) < approved, "not mid-stream"
            assert await deployment.leave("c3") == 0
            approved += await _approve_wave(firm, http.psa, WAVES[4])

            async def all_posted() -> bool:
                return await posted_count(deployment.database_url) >= approved

            await eventually(all_posted, within=90, what="every approved entry posted", every=0.2)
            replicas = {str(deployment.pid(name)) for name in ("c1", "c4")}
            await eventually(lambda: _held_by(db, replicas), what="c1 and c4 holding all")

            # Every approved entry posted exactly once, each consultant's in approval order.
            expected: dict[str, list[str]] = defaultdict(list)
            for row in await db.fetch(APPROVED):
                expected[worker_of[row["resource"]]].append(row["id"])
            posted: dict[str, list[str]] = defaultdict(list)
            for row in await db.fetch(POSTED):
                posted[row["worker_id"]].append(row["subject_id"])
            assert approved == len(firm.consultants) * len(OCTOBER)
            assert sum(map(len, expected.values())) == approved
            assert posted == expected
            assert await db.fetchval(KEYS_ON_SEVERAL_PARTITIONS, QUEUE) == 0

            # The lease history: one owner at a time per partition; the killed replica's last
            # tenures expired, the leaving one's were all released.
            log = await db.fetch(LOG, QUEUE)
            _assert_tenures_never_overlap(log)
            dead = {(r["partition"], r["epoch"]): r["how"] for r in log if _of(r, dead_pid)}
            assert {lease: dead[lease] for lease in dead_leases} == dict.fromkeys(
                dead_leases, "expired"
            )
            assert {r["how"] for r in log if _of(r, leaving_pid)} == {"released"}

            # Each partition's effects committed under one tenure at a time, in epoch order.
            _assert_effects_in_epoch_order(log, await db.fetch(INBOX, QUEUE))
            resumed = [await db.fetchval(RESUMED, QUEUE, p, e) for p, e in dead_leases]
            pauses = [(at - killed_at).total_seconds() for at in resumed if at is not None]
            assert pauses, "none of the killed replica's partitions flowed again"
            print(f"rebalance pause after the SIGKILL: {max(pauses):.2f} s")  # noqa: T201
        finally:
            await db.close()


async def _approve_wave(firm: Firm, psa: httpx.AsyncClient, days: list[date]) -> int:
    """Every consultant logs ``days`` on one timesheet, submitted and approved; answer how
    many entries were approved."""
    for sheet in (await log_week(firm, psa, days)).values():
        await decide(psa, sheet, "submit", "approve")
    return len(firm.consultants) * len(days)


async def _held_by(db: asyncpg.Connection, pids: set[str]) -> bool:
    """Whether the replicas of process ids ``pids``, and only they, hold every partition."""
    rows = await db.fetch(OWNERS, QUEUE)
    owners = {row["owner"].split(":")[1] for row in rows}
    return owners == pids and sum(row["held"] for row in rows) == PARTITIONS


def _of(row: asyncpg.Record, pid: str) -> bool:
    return f":{pid}:" in row["owner"]


def _assert_tenures_never_overlap(log: list[asyncpg.Record]) -> None:
    for partition in {r["partition"] for r in log}:
        tenures = [r for r in log if r["partition"] == partition]
        for before, after in pairwise(tenures):
            assert before["released_at"] is not None, (partition, before)
            assert before["released_at"] <= after["acquired_at"], (partition, before, after)


def _assert_effects_in_epoch_order(
    log: list[asyncpg.Record], handled: list[asyncpg.Record]
) -> None:
    tenure = {(r["partition"], r["epoch"]): r for r in log}
    by_partition: dict[int, list[int]] = defaultdict(list)
    for row in handled:
        by_partition[row["partition"]].append(row["epoch"])
        held = tenure[(row["partition"], row["epoch"])]
        at: datetime = row["handled_at"]
        assert held["acquired_at"] <= at, (row, held)
        assert held["released_at"] is None or at <= held["released_at"], (row, held)
    for partition, epochs in by_partition.items():
        assert epochs == sorted(epochs), partition
