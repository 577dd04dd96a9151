"""``make bench-billing-code``: project-sync's synchronous checks under open-loop load, beside
the same process's ``/healthz`` at the same rate (the ceiling), for issue 14's target: p99
under 50 ms at 200 requests/s on 2 cores.

The deployment: a fresh database (project-sync's migrations) and vhost, and project-sync's api
as a real process (``python -m project_sync api``), its entities and currencies from
``TANDEM_ENTITY_CURRENCIES`` as deployed. Its read model is filled before anything is timed,
through its own repositories (``SqlCustomers``, ``SqlReference.keep_rate_card``, ``SqlSagas``
then ``SqlProjects.keep``, as the saga keeps them): ``--projects`` projects, each the record of
a saga that ran (active, flagged for finance with time closed, still a shell, cancelled), with
customers (some not in the ERP yet, some with an invalid VAT id) and rate cards. Two parts have
no writer in project-sync yet and are written in SQL here: ``time_requires_assignment`` (on
40 % of the active projects, as the sandbox firm) and ``project_assignments``.

The load: requests scheduled on the clock at ``--rate`` per second (open loop: a slow answer
does not delay the next send; latency runs from the scheduled send time, so queueing in the
client counts too), ``--warmup`` seconds discarded, then ``--seconds`` of the mix below, then
``--seconds`` of ``GET /healthz`` at the same rate. The mix (weights in ``MIX``): billing-code
checks that are open (no assignment needed, or the worker assigned), closed for time, of an
unknown code (404), of a worker not assigned; and set-up validations, valid or with several
problems. Every answer is checked against what the population says it must be: any other
status or body is an error, counted and printed. The generator is this process (uvloop, one
httpx pool of ``--connections``), otherwise idle while it drives; the api is a process of its
own. So that a run on a shared machine can be read, it prints the CPU per request of the api,
of its PostgreSQL backends and of this process, the cores kept busy by anything else, and the
generator's own send lag (due time -> sending), which the latencies include.

Printed: achieved rate, p50/p95/p99/max per request kind, errors, the api's peak RSS (VmHWM),
the ratio to the ceiling, and PASS/MISS against the target. Exit 0 unless an error occurred.
``--profile DIR`` runs the api under cProfile and prints its top functions.
127.0.0.1 only; every wait is bounded. One file on purpose, past the usual module size: every
script in tools/ runs standalone with ``uv run python tools/<name>.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pstats
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import uvloop

from month.systems import ROOT, _fresh_database, _fresh_vhost, _urls
from project_sync.adapters.repositories import SqlCustomers, SqlProjects, SqlReference, SqlSagas
from project_sync.bootstrap import DEFINITION
from project_sync.domain import ProjectSetup, check_tax, check_tax_profile
from project_sync.domain.keys import customer_key
from project_sync.domain.saga import Activity, Cause, Compensation, Saga, Step, Visit
from project_sync.service_layer.unit_of_work import CustomerRecord, Placement
from tandem_contracts.entities import Customer, TaxProfile
from tandem_service_kit import apply_migrations
from tandem_testing import LocalService

API_KEY = os.urandom(16).hex()
ERP = "erp"
TARGET_P99_MS, TARGET_RATE = 50.0, 200.0
TICK = os.sysconf("SC_CLK_TCK")
ENTITIES = {"le-us": ("US", "USD"), "le-de": ("DE", "EUR"), "le-gb": ("GB", "GBP")}
MIX = {"code open": 25, "code open, assigned": 10, "code closed": 10, "code unknown": 10,
       "code not assigned": 10, "validate valid": 20, "validate problems": 15}  # fmt: skip
# A saga's steps from commit to active (the fates below end some earlier or go on).
_TO_ACTIVE = (Step.VALIDATE, Step.ERP_SHELL, Step.PSA_SHELL, Step.CRM_WRITEBACK,
              Step.SHELL_CREATED, Step.AWAITING_SOW, Step.ACTIVATING, Step.ACTIVE)  # fmt: skip
_UNDOING = frozenset({Step.COMPENSATING, Step.FLAGGED_FOR_FINANCE, Step.CANCELLED})
_ASSIGNED = """
INSERT INTO project_sync.project_assignments
    (assignment_id, project_id, worker_id, start_date, end_date, status)
VALUES ($1, $2, $3, $4, $5, $6)
"""
_REQUIRES = """
UPDATE project_sync.projects SET time_requires_assignment = true WHERE project_id = ANY($1)
"""


# --- the population ------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request and what its answer must be."""

    kind: str
    method: str
    url: str
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    expect: Callable[[int, Any], bool] = lambda status, _: status == 200


@dataclass
class Population:
    """The calls each kind draws from, all answerable from what was written."""

    calls: dict[str, list[Call]] = field(default_factory=lambda: {k: [] for k in MIX})


def _is_open(answer: bool, reason: str | None = None) -> Callable[[int, Any], bool]:
    return lambda s, b: s == 200 and b["open"] is answer and b["reason"] == reason


def _validates(valid: bool) -> Callable[[int, Any], bool]:
    if valid:
        return lambda s, b: s == 200 and b["valid"] is True and b["problems"] == []
    return lambda s, b: s == 200 and b["valid"] is False and len(b["problems"]) >= 2


async def populate(database_url: str, projects: int, rng: random.Random) -> Population:
    """Customers, rate cards, ``projects`` sagas and their read-model rows, assignments."""
    today = datetime.now(UTC).date()
    population = Population()
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            customers = await _customers(connection, max(30, projects // 10), rng, population)
            await _rate_cards(connection)
            requiring = await _projects(connection, projects, customers, today, rng, population)
            await _assignments(connection, requiring, today, rng, population)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    for n in range(200):
        population.calls["code unknown"].append(
            Call("code unknown", "GET", f"/v1/billing-codes/X-{n:05d}",
                 {"date": str(today)}, expect=lambda s, _: s == 404)
        )  # fmt: skip
    return population


async def _customers(
    db: asyncpg.Connection, count: int, rng: random.Random, population: Population
) -> list[tuple[str, str, str]]:
    """``count`` customers across the entities: 90 % in the ERP, DE ones with a VAT id (5 %
    invalid); answer the fit ones (id, entity, currency) and add the validation calls."""
    repository, fit = SqlCustomers(db), []
    entities = list(ENTITIES.items())
    for n in range(count):
        entity, (country, currency) = entities[n % len(entities)]
        vat = _german_vat(81190000 + n) if country == "DE" else None
        if vat and rng.random() < 0.05:
            vat = f"FR{n:09d}"  # registered elsewhere: a tax problem
        profile = TaxProfile(country=country, vat_id=vat)
        customer = Customer(id=f"cust-{n:05d}", name=f"Customer {n}", legal_entity_id=entity,
                            country=country, currency=currency, tax_profile=profile)  # fmt: skip
        linked = rng.random() < 0.9
        problems = tuple(check_tax_profile(profile, key=customer_key(customer.id)))
        await repository.save(CustomerRecord(
            customer, "crm", f"acc-{n}", 1, problems, ERP if linked else None,
            f"erp-c-{n}" if linked else None, "created" if linked else None, linked,
        ))  # fmt: skip
        if linked and not problems:
            fit.append((customer.id, entity, currency))
        elif rng.random() < 0.5:  # unlinked or taxed wrong, a refused currency, an unknown card
            call = _validate(customer.id, entity, "JPY", f"rc-{n}", False)
            population.calls["validate problems"].append(call)
    for customer_id, entity, currency in fit:
        card = rng.choice([None, f"rc-{currency.lower()}"])
        population.calls["validate valid"].append(
            _validate(customer_id, entity, currency, card, True)
        )
        population.calls["validate problems"].append(  # another entity's currency, a card
            _validate(customer_id, entity, "CHF", "rc-usd" if currency != "USD" else "rc-eur",
                      False)
        )  # fmt: skip
    return fit


def _german_vat(serial: int) -> str:
    """The VAT id of an 8-digit ``serial`` with the check digit project-sync accepts."""
    for digit in range(10):
        if not check_tax("DE", vat := f"DE{serial:08d}{digit}", business=True):
            return vat
    raise AssertionError(f"no check digit fits {serial}")


def _validate(customer: str, entity: str, currency: str, card: str | None, ok: bool) -> Call:
    body = {"selling_legal_entity_id": entity, "customer_id": customer, "currency": currency,
            "rate_card_id": card, "name": f"Proposed for {customer}"}  # fmt: skip
    kind = "validate valid" if ok else "validate problems"
    return Call(kind, "POST", "/v1/projects/validate", body=body, expect=_validates(ok))


async def _rate_cards(db: asyncpg.Connection) -> None:
    """A published card per currency, superseded and draft ones beside them."""
    reference = SqlReference(db, {})
    for _, currency in ENTITIES.values():
        c = currency.lower()
        await reference.keep_rate_card(f"rc-{c}", currency, "published", 3)
        for year in range(2019, 2025):
            await reference.keep_rate_card(f"rc-{c}-{year}", currency, "superseded", 1)
        await reference.keep_rate_card(f"rc-{c}-draft", currency, "draft", 1)


async def _projects(
    db: asyncpg.Connection,
    count: int,
    customers: list[tuple[str, str, str]],
    today: date,
    rng: random.Random,
    population: Population,
) -> list[tuple[str, str, date]]:
    """``count`` sagas kept as projects: 84 % active, 8 % flagged for finance (closed for
    time), 4 % still shells, 4 % cancelled; answer the active ones that will require an
    assignment (project id, code, open from)."""
    sagas, projects, requiring = SqlSagas(db), SqlProjects(db), []
    placement = Placement(ERP, "psa")
    for n in range(count):
        customer, entity, currency = customers[n % len(customers)]
        opened = today - timedelta(days=rng.randint(30, 400))
        began = datetime.combine(opened, datetime.min.time(), UTC) - timedelta(days=3)
        fate = rng.random()
        steps: tuple[Step, ...] = _TO_ACTIVE if fate < 0.92 else _TO_ACTIVE[:6]
        compensation = None
        if 0.84 <= fate < 0.92 or fate >= 0.96:
            ended = Step.FLAGGED_FOR_FINANCE if fate < 0.92 else Step.CANCELLED
            steps = (*steps, Step.COMPENSATING, ended)
            closed = opened + timedelta(days=rng.randint(1, max(1, (today - opened).days - 1)))
            at = datetime.combine(closed, datetime.min.time(), UTC)
            compensation = Compensation(Cause.LOST, at, Activity(time_entries=int(fate < 0.92)))
        active = began + timedelta(days=3)  # the day time opens (``open_from``)
        history = tuple(
            Visit(s, compensation.at if compensation and s in _UNDOING else
                  active if s is Step.ACTIVE else began)
            for s in steps
        )  # fmt: skip
        code, opportunity = f"P-{100000 + n}", f"opp-{n:05d}"
        setup = ProjectSetup(opportunity, f"Project {n}", entity, customer, currency)
        saga = Saga(
            opportunity, 1, steps[-1], 1, history, history[-1].at, setup=setup,
            erp_project_ref=f"erp-p-{n}", project_code=code, psa_project_ref=f"psa-p-{n}",
            erp_activated=Step.ACTIVE in steps, compensation=compensation,
        )  # fmt: skip
        await sagas.save(saga, placement)
        await projects.keep(saga, ERP, today)
        _code_calls(population, saga, opened, today, rng)
        if saga.step is Step.ACTIVE and rng.random() < 0.4:
            requiring.append((saga.project_id, code, opened))
    await db.execute(_REQUIRES, [project for project, _, _ in requiring])
    return requiring


def _code_calls(
    population: Population, saga: Saga, opened: date, today: date, rng: random.Random
) -> None:
    calls, url = population.calls, f"/v1/billing-codes/{saga.project_code}"
    if saga.step is Step.ACTIVE:
        on = opened + timedelta(days=rng.randint(0, (today - opened).days))
        calls["code open"].append(
            Call("code open", "GET", url, {"date": str(on)}, expect=_is_open(True))
        )
    elif saga.step is Step.FLAGGED_FOR_FINANCE and saga.compensation is not None:
        on = saga.compensation.at.date() + timedelta(days=rng.randint(0, 30))
        calls["code closed"].append(
            Call("code closed", "GET", url, {"date": str(on)},
                 expect=_is_open(False, "closed_for_time"))
        )  # fmt: skip


async def _assignments(
    db: asyncpg.Connection,
    requiring: list[tuple[str, str, date]],
    today: date,
    rng: random.Random,
    population: Population,
) -> None:
    """Six workers on each project that requires an assignment (five confirmed or active, one
    cancelled) and a seventh never assigned; the open calls without a worker drop these
    projects (they would answer ``worker_not_assigned``)."""
    codes = {code for _, code, _ in requiring}
    population.calls["code open"] = [
        c for c in population.calls["code open"] if c.url.rsplit("/", 1)[1] not in codes
    ]
    rows = []
    for project, code, opened in requiring:
        workers = rng.sample(range(600), 7)
        ends = today + timedelta(days=90)
        for n, worker in enumerate(workers[:-1]):
            status = "cancelled" if n == 0 else rng.choice(["confirmed", "active"])
            rows.append((f"a-{project}-{worker}", project, f"w-{worker:04d}", opened, ends, status))
            on = opened + timedelta(days=rng.randint(0, (today - opened).days))
            params = {"date": str(on), "worker": f"w-{worker:04d}"}
            kind, expect = ("code not assigned", _is_open(False, "worker_not_assigned"))
            if status != "cancelled":
                kind, expect = "code open, assigned", _is_open(True)
            population.calls[kind].append(
                Call(kind, "GET", f"/v1/billing-codes/{code}", params, expect=expect)
            )
        stranger = {"date": str(opened), "worker": f"w-{workers[-1]:04d}"}
        population.calls["code not assigned"].append(
            Call("code not assigned", "GET", f"/v1/billing-codes/{code}", stranger,
                 expect=_is_open(False, "worker_not_assigned"))
        )  # fmt: skip
    await db.executemany(_ASSIGNED, rows)


def plan(population: Population, count: int, rng: random.Random) -> list[Call]:
    """``count`` calls, each kind drawn by its weight in ``MIX``."""
    kinds = [k for k in MIX if population.calls[k]]
    chosen = rng.choices(kinds, weights=[MIX[k] for k in kinds], k=count)
    return [rng.choice(population.calls[kind]) for kind in chosen]


# --- the load ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    kind: str
    latency_ms: float
    lag_ms: float  # due -> this process got to sending it: the generator's own delay
    error: str | None


async def drive(client: httpx.AsyncClient, calls: list[Call], rate: float) -> list[Sample]:
    """Send ``calls`` at ``rate`` per second on the clock; each latency from its due time."""
    # perf_counter, not loop.time(): uvloop's clock is libuv's millisecond, cached per turn.
    began = time.perf_counter() + 0.05
    tasks = []
    for n, call in enumerate(calls):
        due = began + n / rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_one(client, call, due)))
    return list(await asyncio.gather(*tasks))


async def _one(client: httpx.AsyncClient, call: Call, due: float) -> Sample:
    error, lag = None, time.perf_counter() - due
    try:
        reply = await client.request(call.method, call.url, params=call.params, json=call.body)
        body = reply.json() if reply.content else None
        if not call.expect(reply.status_code, body):
            error = f"{reply.status_code} {reply.text[:160]}"
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:160]
    return Sample(call.kind, 1000 * (time.perf_counter() - due), 1000 * lag, error)


@dataclass
class Phase:
    samples: list[Sample]
    seconds: float
    cpu_ms: dict[str, float]  # per request: the api, its PostgreSQL backends, this generator
    busy: float  # the machine's cores busy on average (anything running shares them)

    def rate(self) -> float:
        return len(self.samples) / self.seconds if self.seconds else 0.0

    def others(self) -> float:
        """Cores busy with anything but the api, its backends and the generator."""
        ours = sum(self.cpu_ms.values()) * len(self.samples) / 1000 / self.seconds
        return max(0.0, self.busy - ours)


@dataclass(frozen=True)
class Server:
    api_pid: int
    database_url: str


async def phase(server: Server, client: httpx.AsyncClient, calls: list[Call], rate: float) -> Phase:
    """Drive ``calls``; CPU of the api, the bench database's backends and this process."""
    backends = await _backends(server.database_url, {})
    before = (_cpu_s(server.api_pid), _cpu_s(os.getpid()), _machine_busy_s())
    started = time.monotonic()
    samples = await drive(client, calls, rate)
    seconds = time.monotonic() - started
    after = (_cpu_s(server.api_pid), _cpu_s(os.getpid()), _machine_busy_s())
    # A backend the pool opened during the phase counts from zero; one that ended is lost.
    grown = await _backends(server.database_url, backends)
    postgres = sum(grown[pid] - backends.get(pid, 0.0) for pid in grown)
    n = max(len(samples), 1)
    cpu = {"api": after[0] - before[0], "postgres": postgres, "generator": after[1] - before[1]}
    busy = (after[2] - before[2]) / seconds
    return Phase(samples, seconds, {part: 1000 * s / n for part, s in cpu.items()}, busy)


async def _backends(database_url: str, known: dict[int, float]) -> dict[int, float]:
    """The CPU seconds of the PostgreSQL backends serving the api (its pool) and of the
    ``known`` ones still there."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    used = {}
    for pid in {int(row["pid"]) for row in rows} | set(known):
        with contextlib.suppress(OSError):  # ended since
            used[pid] = _cpu_s(pid)
    return used


def _machine_busy_s() -> float:
    """Seconds every core of the machine spent not idle since boot (``/proc/stat``)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK  # less idle and iowait


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- report --------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def _row(name: str, samples: list[Sample], seconds: float) -> str:
    ms = [s.latency_ms for s in samples]
    errors = sum(1 for s in samples if s.error)
    return (f"{name:<22} {len(samples):>6} {len(samples) / seconds:>7.1f} {pct(ms, 0.5):>7.1f} "
            f"{pct(ms, 0.95):>7.1f} {pct(ms, 0.99):>7.1f} {max(ms, default=0):>7.1f} "
            f"{errors:>6}")  # fmt: skip


def report(checks: Phase, ceiling: Phase, rss_mb: float, args: argparse.Namespace) -> int:
    """Print the table; answer how many requests were errors."""
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, 1-min load average "
          f"{os.getloadavg()[0]:.2f}; {args.projects:,} projects; target {args.rate:g}/s for "
          f"{args.seconds:g} s after {args.warmup:g} s warm-up; {args.connections} "
          "connections")  # fmt: skip
    print(f"{'kind':<22} {'n':>6} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'errors':>6}")  # fmt: skip
    for kind in MIX:
        mine = [s for s in checks.samples if s.kind == kind]
        if mine:
            print(_row(kind, mine, checks.seconds))
    print(_row("all checks", checks.samples, checks.seconds))
    print(_row("ceiling: /healthz", ceiling.samples, ceiling.seconds))
    c = [s.latency_ms for s in checks.samples]
    h = [s.latency_ms for s in ceiling.samples]
    print(f"ratio checks / ceiling: p50 x{pct(c, 0.5) / pct(h, 0.5):.1f}, p99 "
          f"x{pct(c, 0.99) / pct(h, 0.99):.1f}; achieved {checks.rate():.1f} req/s (ceiling "
          f"run {ceiling.rate():.1f})")  # fmt: skip
    cpu = ", ".join(
        f"{p} {ms:.2f} (healthz {ceiling.cpu_ms[p]:.2f})" for p, ms in checks.cpu_ms.items()
    )
    print(f"api peak RSS {rss_mb:.0f} MB; CPU ms per request: {cpu}; cores busy on the machine "
          f"{checks.busy:.2f} of {os.cpu_count()}, {checks.others():.2f} of them by anything else "
          f"(healthz {ceiling.busy:.2f}, {ceiling.others():.2f})")  # fmt: skip
    lag = [pct([s.lag_ms for s in p.samples], 0.99) for p in (checks, ceiling)]
    print(
        f"generator's own send lag p99 {lag[0]:.1f} ms (healthz {lag[1]:.1f}): counted in the "
        "latencies; a large one means this process, not the api, fell behind the clock"
    )
    errors = Counter(f"{s.kind}: {s.error}" for s in checks.samples + ceiling.samples if s.error)
    for error, n in errors.most_common(10):
        print(f"  error x{n}: {error}")
    p99, rate = pct(c, 0.99), checks.rate()
    verdict = "PASS" if p99 < TARGET_P99_MS and rate >= 0.98 * TARGET_RATE else "MISS"
    print(f"{verdict}: p99 {p99:.1f} ms at {rate:.1f} req/s (target p99 < {TARGET_P99_MS:g} ms "
          f"at {TARGET_RATE:g} req/s on 2 cores)")  # fmt: skip
    return sum(errors.values())


def _profile_top(directory: Path, lines: int) -> None:
    for path in sorted(directory.glob("project-sync-api-*.prof")):
        print(f"--- cProfile of the api ({path.name}), by own time ---")
        stats = pstats.Stats(str(path))
        stats.sort_stats("tottime").print_stats(lines)


# --- main ----------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    for url in _urls():
        if urlsplit(url).hostname not in {"127.0.0.1", "localhost", "::1"}:
            sys.exit(f"bench_billing_code talks to loopback only, not {urlsplit(url).hostname}")
    rng = random.Random(args.seed)  # noqa: S311 - a reproducible mix, not a secret
    admin, amqp, management = _urls()
    database_url = await _fresh_database(admin, "bench_billing_code")
    amqp_url = await _fresh_vhost(amqp, management, "bench-billing-code")
    await apply_migrations(database_url, list(DEFINITION.migrations))
    population = await populate(database_url, args.projects, rng)
    logs = ROOT / ".tandem" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        os.environ["TANDEM_PROFILE_DIR"] = str(args.profile.resolve())
    service = LocalService(
        module="project_sync", name="project-sync", database_url=database_url,
        amqp_url=amqp_url, logs=logs,
        settings={
            "TANDEM_API_KEYS": json.dumps({API_KEY: ["q2c:read"]}),
            "TANDEM_ENTITY_CURRENCIES": json.dumps({e: [c] for e, (_, c) in ENTITIES.items()}),
            "TANDEM_LOG_LEVEL": "WARNING", "TANDEM_RATE_LIMIT": "1000000/minute",
        },
    )  # fmt: skip
    try:
        service.start("api")
        await service.wait_api(within=args.max_wait)
        server = Server(service.pid("api"), database_url)
        limits = httpx.Limits(
            max_connections=args.connections, max_keepalive_connections=args.connections
        )
        async with httpx.AsyncClient(
            base_url=service.api_url, headers={"X-API-Key": API_KEY}, limits=limits,
            timeout=args.timeout,
        ) as client:  # fmt: skip
            count = round(args.rate * args.seconds)
            warmup = plan(population, round(args.rate * args.warmup), rng)
            await phase(server, client, warmup, args.rate)
            checks = await phase(server, client, plan(population, count, rng), args.rate)
            health = [Call("healthz", "GET", "/healthz")] * count
            ceiling = await phase(server, client, health, args.rate)
        rss = _peak_rss_mb(server.api_pid)
    finally:
        service.stop()
    errors = report(checks, ceiling, rss, args)
    if args.profile:
        _profile_top(args.profile, args.profile_lines)
    return 1 if errors else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="make bench-billing-code",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--projects", type=int, default=2_000, help="projects in the read model")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per phase")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds sent, not counted")
    parser.add_argument("--connections", type=int, default=32, help="httpx pool size")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--seed", type=int, default=14, help="the mix's random seed")
    parser.add_argument("--max-wait", type=float, default=60.0, help="seconds for the api")
    parser.add_argument("--profile", type=Path, default=None,
                        help="run the api under cProfile, its .prof files here")  # fmt: skip
    parser.add_argument("--profile-lines", type=int, default=30, help="functions printed")
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(uvloop.run(main(parser.parse_args())))
