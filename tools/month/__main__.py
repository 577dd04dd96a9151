"""``make run``: a generated firm's month across all five Tandem services, from CRM opportunity
to posted invoice, on local systems.

Starts (on 127.0.0.1) a trace store (Phoenix: every process exports its spans there), the
sandbox CRM, PSA and HRIS, a real Tryton ERP (``--erp sandbox``: the sandbox's HTTP ERP, faster),
and the api and worker of project-sync, staffing-sync, time-expense, billing-readiness and
observability on fresh databases and a vhost. Then it seeds only the systems of record and
plays the month: companies in the ERP, hires in the HRIS, rate cards in the PSA, accounts and
opportunities won in the CRM, resource requests in the PSA booked from staffing-sync's best
option, time and expenses logged and approved in the PSA, the ended month invoiced. It prints
each stage, the exceptions, the reconciliations, the KPIs, and the console's address. The
firm's own intercompany agreements are allowed (``--no-intercompany``: none, DOMAIN.md 7.5's
default).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from month import report
from month.close import bill, reconcile_invoices, reconcile_time, settle_time
from month.outcome import Outcome
from month.play import Played, play
from month.seed import hire, set_up_firm, win
from month.staffing import staff
from month.suite import Suite, intercompany_pairs, running_suite
from month.systems import API_KEY, ROOT, Flavour
from tandem_sandbox.scenario import Firm, generate
from tandem_testing import Phoenix, running_phoenix

# Installed by `tools/setup.sh tracing` (run by `make setup`), in a virtualenv of its own.
PHOENIX = ROOT / ".tandem" / "tools" / "phoenix" / "bin" / "phoenix"


async def run(
    flavour: Flavour,
    seed: int,
    consultants: int,
    customers: int,
    *,
    serve: bool,
    intercompany: bool,
) -> None:
    started = time.monotonic()
    firm = generate(seed, consultants=consultants, customers=customers)
    logs = ROOT / ".tandem" / "run"
    logs.mkdir(parents=True, exist_ok=True)
    erp_name = "Tryton 8.2 (real ERP)" if flavour == "tryton" else "the sandbox HTTP ERP"
    print(f"Tandem, the whole suite: {firm.month:%B %Y} of a generated firm (seed {seed}, "
          f"{consultants} consultants, {customers} customers) into {erp_name}")  # fmt: skip
    if intercompany:
        print(f"  intercompany: the firm's {len(intercompany_pairs(firm))} entity pairs allowed "
              "(--no-intercompany: none)")  # fmt: skip
    else:
        print("  intercompany: none allowed (DOMAIN.md 7.5's default): time across entities "
              "is held as an exception")  # fmt: skip
    async with (
        _trace_store(logs / "phoenix") as phoenix,
        running_suite(
            flavour, firm, run="run", logs=logs, phoenix=phoenix, intercompany=intercompany
        ) as suite,
    ):
        print(f"  systems up in {time.monotonic() - started:.1f} s: sandbox CRM, PSA, HRIS; "
              f"{erp_name}; five services' api and worker (logs in {logs})")  # fmt: skip
        print(f"  traces: {phoenix.url}/projects (Phoenix; every process exports its spans)")
        await _month(firm, suite)
        print(f"  wall time so far {time.monotonic() - started:.1f} s")
        print("  console:")
        _lines(report.console(suite, API_KEY))
        if serve:
            print("  --serve: everything keeps running; Ctrl-C stops it.", flush=True)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
    print(f"done in {time.monotonic() - started:.1f} s; the traces stay in {logs / 'phoenix'} "
          f"(PHOENIX_WORKING_DIR={logs / 'phoenix'} {PHOENIX} serve)")  # fmt: skip


async def _month(firm: Firm, suite: Suite) -> None:
    mark = begun = time.monotonic()
    published, by_hand = await set_up_firm(firm, suite)
    print(
        f"  ERP: {len(firm.legal_entities)} companies; FX rates loaded; PSA: "
        f"{len(firm.rate_cards)} rate cards, {published} published by staffing-sync"
    )
    if by_hand:
        print(
            f"    HAND-ANNOUNCED (the one remaining, to be removed): {by_hand} "
            "RateCardPublished (staffing-sync did not publish the PSA's rate cards)"
        )
    hired = await hire(firm, suite)
    print(f"  HRIS: {len(hired.workers)} hires; staffing-sync onboarded them in "
          f"{hired.seconds:.1f} s: {_counts(hired.statuses)}; {len(hired.resources)} PSA "
          "resources")  # fmt: skip
    mark = time.monotonic()
    won = await win(firm, suite)
    opportunities = sum(1 for o in firm.opportunities if o.id in {p.opportunity_id for p in
                                                                  firm.projects})  # fmt: skip
    print(f"  CRM: {len(firm.customers)} accounts, {len(firm.opportunities)} opportunities, "
          f"{opportunities} won; project-sync made {won.states['active']} projects active "
          f"(+{won.states['awaiting_sow']} awaiting a contract) in the ERP and the PSA in "
          f"{time.monotonic() - mark:.1f} s")  # fmt: skip
    staffed = await staff(firm, suite, won, hired.workers)
    print(
        f"  staffing: {staffed.requests} resource requests in the PSA; {staffed.booked} booked "
        f"from staffing-sync's best option ({staffed.firm_choice} the firm's own choice), "
        f"{staffed.confirmed} confirmed as assignments in {staffed.seconds:.1f} s"
        + (f"; unstaffed: {_counts(staffed.unstaffed)}" if staffed.unstaffed else "")
    )
    played = await play(firm, suite.sandbox.urls["psa"], won.psa, resources=hired.resources)
    _played(played)
    outcome = await settle_time(suite, played)
    _posted(outcome, played)
    billed = await bill(suite)
    invoiced = ", ".join(f"{c} {a:,.2f}" for c, a in sorted(billed.invoiced.items())) or "-"
    print(
        f"  billing-readiness: charges {_counts(billed.charges)}; invoices "
        f"{_counts(billed.invoices)} (posted totals {invoiced}) in {billed.seconds:.1f} s"
    )
    if billed.held:
        print(f"    charges held: {_counts(billed.held)}")
    if billed.not_ready:
        print(f"    months not invoiced, why: {_counts(billed.not_ready)}")
    waited = await report.caught_up(suite)
    print(
        "  observability caught up with the bus "
        + (f"{waited:.1f} s after billing" if waited is not None else "NOT within 180 s")
    )
    print("  business exceptions:")
    print("    parked messages (observability GET /v1/parking-lots):")
    _lines(await report.parked(suite), "      ")
    print("    time-expense's open exceptions (reason, subject, count):")
    _lines(report.exceptions(outcome), "      ")
    print(f"  reconciliation of {firm.month:%Y-%m}:")
    print("    time-expense (PSA approved time vs the ERP's lines, on demand):")
    _lines(await reconcile_time(firm, suite), "      ")
    print("    billing-readiness (its invoices vs the ERP's, on demand):")
    _lines(await reconcile_invoices(firm, suite), "      ")
    print("    per domain (observability GET /v1/reconciliation):")
    _lines(await report.reconciliation(suite), "      ")
    print("  KPIs (observability GET /v1/kpis):")
    _lines(await report.kpis(suite, datetime.now(UTC)), "    ")
    steps = await report.recorded(suite)
    seconds = time.monotonic() - begun
    total = sum(steps.values())
    print(f"  throughput: observability recorded {total} events as steps over {seconds:.1f} s "
          f"of the month = {total / seconds:,.1f} events/s on the bus")  # fmt: skip
    print(f"    by type: {_counts(steps)}")


def _played(played: Played) -> None:
    seconds = played.finished - played.started
    print(f"  PSA: {played.timesheets} timesheets, {played.entries} time entries and "
          f"{played.expenses} expenses logged in {seconds:.1f} s; approved "
          f"{played.approved_entries} entries ({played.approved_minutes / 60:,.0f} h) and "
          f"{played.approved_expenses} expenses; rejected {played.rejected_entries}; refused "
          f"by the PSA {played.refused_by_psa}; no PSA resource {played.no_resource}")  # fmt: skip


def _posted(outcome: Outcome, played: Played) -> None:
    lines = sum(int(r["lines"]) for r in outcome.by_entity)
    print(f"  time-expense: {outcome.posted_entries} entries posted ({lines} ERP lines), "
          f"{outcome.expenses_posted} expenses posted, {outcome.held_entries} entries held; "
          f"{outcome.entries_per_second:,.1f} entries/s first to last posting")  # fmt: skip
    if outcome.outstanding:
        print(f"    STILL OUTSTANDING after the deadline: {outcome.outstanding} approved entries")


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counter.items(), key=lambda kv: -kv[1]))


def _lines(lines: list[str], indent: str = "    ") -> None:
    for line in lines:
        print(f"{indent}{line}")


@contextlib.asynccontextmanager
async def _trace_store(directory: Path) -> AsyncIterator[Phoenix]:
    """Phoenix for this run alone: the previous run's traces are cleared first. Not waited
    for: it finishes starting while the databases are made."""
    shutil.rmtree(directory, ignore_errors=True)
    async with running_phoenix(PHOENIX.parents[1], directory, wait=False) as phoenix:
        yield phoenix


def main() -> None:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__)
    parser.add_argument("--erp", choices=["tryton", "sandbox"], default="tryton")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--consultants", type=int, default=20, help="the scenario's 220 for all")
    parser.add_argument("--customers", type=int, default=8)
    parser.add_argument("--serve", action="store_true", help="keep everything up until Ctrl-C")
    # The firm staffs across its entities and has those intercompany agreements configured;
    # --no-intercompany shows DOMAIN.md 7.5's default (none allowed: each is an exception).
    parser.add_argument(
        "--intercompany",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="allow the firm's own intercompany pairs (default); --no-intercompany allows "
        "none (DOMAIN.md 7.5's default), so time across entities is held as an exception",
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run(
                args.erp,
                args.seed,
                args.consultants,
                args.customers,
                serve=args.serve,
                intercompany=args.intercompany,
            )
        )


if __name__ == "__main__":
    main()
