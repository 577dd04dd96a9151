"""Start the systems of record on 127.0.0.1 for development and demos (``make systems``).

The sandbox CRM, PSA, HRIS and HTTP ERP (one process, fault injection on a control API) on a
fresh database seeded with the scenario firm, and a real Tryton ERP on a fresh copy of the
prepared template with a company per legal entity of the firm. Runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import asyncpg

from tandem_connectors.tryton import TrytonClient, TrytonErp
from tandem_sandbox import MIGRATIONS, SandboxSettings, run_sandbox
from tandem_sandbox._seed import seed_database
from tandem_sandbox.scenario import generate
from tandem_service_kit import apply_migrations
from tandem_testing import tryton_server

ROOT = Path(__file__).resolve().parents[1]
WHAT = {
    "control": "fault injection: PUT /_sandbox/faults/{system}, outages, counters",
    "crm": "Salesforce-like accounts and opportunities (stages, webhooks, project code write-back)",
    "psa": "Kantata-like projects, resources, assignments, rate cards, timesheets with approval",
    "hris": "Workday-like workers, hires, terminations, effective-dated cost rates",
    "erp": "NetSuite-like subsidiaries, customers, projects, time bills, invoices, periods",
}


async def _fresh_database(admin_url: str, name: str) -> str:
    """Drop and create ``name`` on the server of ``admin_url``; answer its URL."""
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def _tryton_companies(url: str, database: str, password: str, seed: int) -> list[str]:
    """Make a Tryton company (chart, fiscal years) per legal entity of the scenario firm."""
    firm = generate(seed)
    async with TrytonClient(url, database, "admin", password, instance="tryton") as client:
        erp = TrytonErp(client, instance="tryton")
        made = []
        for entity in firm.legal_entities:
            company = await erp.ensure_legal_entity(entity, key=entity.id)
            made.append(
                f"{entity.name} ({entity.functional_currency}) = company {company.external_id}"
            )
        return made


async def _run(args: argparse.Namespace) -> None:
    admin_url = os.environ.get(
        "TANDEM_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
    )
    started = time.monotonic()
    database_url = await _fresh_database(admin_url, args.database)
    await apply_migrations(database_url, [MIGRATIONS])
    counts = await seed_database(database_url, seed=args.seed) if args.seed is not None else {}
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    settings = SandboxSettings(database_url=database_url, base_port=args.base_port)
    with tryton_server(ROOT / ".tandem" / "tryton", "tandem") as tryton:
        companies = await _tryton_companies(
            tryton.url, tryton.database, tryton.password, args.seed or 7
        )
        async with run_sandbox(settings) as sandbox:
            print(f"systems of record up in {time.monotonic() - started:.1f} s")
            for name, url in sandbox.urls.items():
                print(f"  {name:8} {url:26} {WHAT.get(name, '')}")
            print(f"  {'tryton':8} {tryton.url:26} Tryton 8.2 ERP, JSON-RPC at {tryton.rpc_url}")
            print(f"  {'':8} {'':26} user admin, password {tryton.password}; companies:")
            for company in companies:
                print(f"  {'':8} {'':26}   {company}")
            if counts:
                seeded = ", ".join(f"{k} {v}" for k, v in counts.items())
                print(f"sandbox seeded from scenario seed {args.seed}: {seeded}")
            print("Ctrl-C stops everything.", flush=True)
            await stopping.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="make systems", description=__doc__)
    parser.add_argument("--seed", type=int, default=7, help="scenario seed (default 7)")
    parser.add_argument("--base-port", type=int, default=8700, help="control API port")
    parser.add_argument("--database", default="tandem_sandbox", help="the sandbox's database")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
