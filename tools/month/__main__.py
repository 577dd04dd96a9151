"""``make run``: a month of a generated firm through Tandem's time-expense, on local systems.

Starts (on 127.0.0.1) a trace store (Phoenix: every process exports its spans there; its UI
shows each flow's trace), the sandbox CRM and PSA, a real Tryton ERP, and the api and workers of
project-sync and time-expense on fresh databases and a vhost; puts the scenario firm's accounts
and opportunities in the CRM, approves the contracts it signed, and lets project-sync make each
won opportunity a project in the ERP and the PSA and announce it; plays the month's timesheets
and expenses in the PSA (approvals, rejections, webhooks); waits until time-expense has
settled; reconciles each legal entity; prints what happened.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from month.firm import set_up
from month.outcome import Outcome, settle
from month.play import Played, play
from month.quote import settings_for
from month.systems import API_KEY, ROOT, WEBHOOK_SECRET, Flavour, Systems, local_systems
from tandem_sandbox.scenario import Firm, generate
from tandem_testing import Phoenix, running_phoenix

# Installed by `tools/setup.sh tracing` (run by `make setup`), in a virtualenv of its own.
PHOENIX = ROOT / ".tandem" / "tools" / "phoenix" / "bin" / "phoenix"


async def run(flavour: Flavour, seed: int, consultants: int, customers: int) -> None:
    started = time.monotonic()
    firm = generate(seed, consultants=consultants, customers=customers)
    logs = ROOT / ".tandem" / "run"
    logs.mkdir(parents=True, exist_ok=True)
    erp_name = "Tryton 8.2 (real ERP)" if flavour == "tryton" else "the sandbox HTTP ERP"
    print(
        f"Tandem quote-to-cash and time-expense: {firm.month:%B %Y} of a generated firm "
        f"(seed {seed}) into {erp_name}"
    )
    # No intercompany pairs are configured (DOMAIN.md §7.5's default): time booked across
    # entities is a business exception for finance. Tryton on SQLite serialises writes: a few
    # lanes keep it busy without timeouts.
    lanes = "3" if flavour == "tryton" else "8"
    settings = {"TANDEM_CONCURRENCY": lanes}
    async with (
        _trace_store(logs / "phoenix") as phoenix,
        local_systems(
            flavour, run="run", logs=logs, settings=settings, quote_settings=settings_for(firm),
            telemetry=phoenix.telemetry(),
        ) as systems,
    ):  # fmt: skip
        print(f"  systems up in {time.monotonic() - started:.1f} s (logs in {logs})")
        print(f"  traces: {phoenix.url}/projects (Phoenix; every process exports its spans)")
        mark = time.monotonic()
        made, won = await set_up(firm, systems)
        print(f"  firm set up in {time.monotonic() - mark:.1f} s: {made['companies']} companies; "
              f"{made['customers']} CRM accounts; project-sync made {made['active']} active "
              f"projects and {made['shells']} shells awaiting a contract in the ERP and the "
              f"PSA; {made['announcements']} staffing and HR events announced")  # fmt: skip
        await _subscribe_webhooks(systems)
        played = await play(firm, systems.sandbox.urls["psa"], won.psa)
        _played(played)
        outcome = await settle(
            systems.database_url, entries=played.approved_entries, expenses=played.approved_expenses
        )
        settled = time.monotonic()
        names = {entity.id: entity.name for entity in firm.legal_entities}
        _report(outcome, played, settled - played.started, names)
        await _reconcile(firm, systems)
    print(f"done in {time.monotonic() - started:.1f} s")
    print(f"  the traces stay in {logs / 'phoenix'}; to browse them again: "
          f"PHOENIX_WORKING_DIR={logs / 'phoenix'} {PHOENIX} serve")  # fmt: skip


@contextlib.asynccontextmanager
async def _trace_store(directory: Path) -> AsyncIterator[Phoenix]:
    """Phoenix for this run alone: the previous run's traces are cleared first."""
    shutil.rmtree(directory, ignore_errors=True)
    async with running_phoenix(PHOENIX.parents[1], directory) as phoenix:
        yield phoenix


async def _subscribe_webhooks(systems: Systems) -> None:
    """Time-expense hears the PSA both ways, as deployed: signed webhooks and polling."""
    async with httpx.AsyncClient(base_url=systems.sandbox.urls["psa"], timeout=30) as psa:
        answer = await psa.post("/v1/webhooks", json={
            "url": f"{systems.deployment.api_url}/v1/inbound/psa/psa",
            "secret": WEBHOOK_SECRET,
            "event_types": [],  # all: the endpoint lands timesheets, time entries, expenses
        })  # fmt: skip
        answer.raise_for_status()


def _played(played: Played) -> None:
    seconds = played.finished - played.started
    print(f"  PSA: {played.timesheets} timesheets, {played.entries} time entries and "
          f"{played.expenses} expenses logged in {seconds:.1f} s")  # fmt: skip
    hours = f"{played.approved_minutes / 60:,.0f} h"
    print(f"       approved {played.approved_entries} entries ({hours}) and "
          f"{played.approved_expenses} expenses; rejected {played.rejected_entries} entries; "
          f"refused by the PSA {played.refused_by_psa}")  # fmt: skip


def _report(outcome: Outcome, played: Played, end_to_end: float, names: dict[str, str]) -> None:
    print("  posted to the ERP (time):")
    header = ("entity", "cur", "lines", "reversed", "hours", "billed", "late")
    print("    {:<40} {:<4} {:>6} {:>8} {:>10} {:>16} {:>5}".format(*header))
    for row in outcome.by_entity:
        billed = f"{row['billed']:,.2f}" if row["billed"] is not None else "-"
        hours = f"{row['minutes'] / 60:,.1f}"
        entity = names.get(row["legal_entity_id"], row["legal_entity_id"])
        print(f"    {entity:<40} {row['currency']:<4} {row['lines']:>6} "
              f"{row['reversals']:>8} {hours:>10} {billed:>16} {row['late']:>5}")  # fmt: skip
    print(f"  expenses posted: {outcome.expenses_posted}")
    announced = ", ".join(f"{kind} {n}" for kind, n in outcome.announced)
    print(f"  events announced: {announced}")
    print("  business exceptions (open, by reason):")
    for reason, subject, count in outcome.exceptions or [("none", "", 0)]:
        print(f"    {reason:<28} {subject:<22} {count:>6}")
    if outcome.outstanding:
        print(f"  STILL OUTSTANDING after the deadline: {outcome.outstanding} approved entries")
    print(f"  throughput: {outcome.posted_entries} entries posted in {outcome.seconds:.1f} s "
          f"(first to last posting) = {outcome.entries_per_second:,.1f} entries/s; "
          f"{end_to_end:.1f} s from the first approval to settled")  # fmt: skip


async def _reconcile(firm: Firm, systems: Systems) -> None:
    period = f"{firm.month:%Y-%m}"
    print(f"  reconciliation of {period} (PSA approved time vs the ERP's lines):")
    async with httpx.AsyncClient(
        base_url=systems.deployment.api_url, headers={"X-API-Key": API_KEY}, timeout=600
    ) as api:
        for entity in firm.legal_entities:
            answer = await api.post(
                "/v1/reconciliations",
                json={"legal_entity_id": entity.id, "period": period, "repair": True},
            )
            if answer.status_code == 404:  # no project of the entity: nothing was posted
                print(f"    {entity.name:<34} no project in time-expense: nothing to reconcile")
                continue
            if answer.status_code != 201:
                print(f"    {entity.name}: {answer.status_code} {answer.text[:200]}")
                continue
            for report in answer.json():
                kinds: dict[str, int] = {}
                for mismatch in report["mismatches"]:
                    kinds[mismatch["kind"]] = kinds.get(mismatch["kind"], 0) + 1
                found = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"
                print(f"    {entity.name:<34} {report['psa_entries']:>5} approved vs "
                      f"{report['erp_lines']:>5} ERP lines; mismatches: {found}; "
                      f"repaired {len(report['repaired'])}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__)
    parser.add_argument("--erp", choices=["tryton", "sandbox"], default="tryton")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--consultants", type=int, default=80, help="the scenario's 220 for all")
    parser.add_argument("--customers", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(run(args.erp, args.seed, args.consultants, args.customers))


if __name__ == "__main__":
    main()
