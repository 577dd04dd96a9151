"""Sandbox systems of record (dev and test only): CRM, PSA, HRIS and an HTTP ERP.

    async with run_sandbox(SandboxSettings(database_url=url, base_port=0)) as sandbox:
        sandbox.urls["erp"]            # http://127.0.0.1:<port>
        sandbox.faults["psa"].configure(FaultConfig(error_rate=0.1, seed=3))
        sandbox.schedule_outage("crm", start_in=0, duration=2)

Apply ``MIGRATIONS`` (schema ``sandbox``) first. Each system serves on its own 127.0.0.1 port
behind a relay that really refuses and resets connections during an outage; the control API
(``/_sandbox/...``) changes faults at run time and reports every fault injected.
"""

from pathlib import Path

from tandem_sandbox._faults import FaultConfig, RateLimit, SystemFaults
from tandem_sandbox._sandbox import OutageWindow, Sandbox, run_sandbox
from tandem_sandbox._seed import seed, seed_database
from tandem_sandbox._settings import SYSTEMS, SandboxSettings
from tandem_sandbox._store import Event, Record, Store

MIGRATIONS = Path(__file__).parent / "migrations"

__all__ = [
    "MIGRATIONS",
    "SYSTEMS",
    "Event",
    "FaultConfig",
    "OutageWindow",
    "RateLimit",
    "Record",
    "Sandbox",
    "SandboxSettings",
    "Store",
    "SystemFaults",
    "run_sandbox",
    "seed",
    "seed_database",
]
