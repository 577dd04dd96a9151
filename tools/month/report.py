"""What the month came to, as observability saw it: parked messages per service, the
reconciliation per domain, time-to-invoice and leakage, and the events it recorded."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from datetime import datetime

import httpx

from month.outcome import Outcome
from month.suite import SERVICES, Suite, drained

__all__ = ["caught_up", "exceptions", "kpis", "parked", "reconciliation", "recorded"]

_OBSERVED = SERVICES["observability"].queue
_HANDLED = re.compile(r"^tandem_messages_handled_total\{([^}]*)\} ([0-9.e+]+)$", re.MULTILINE)


async def caught_up(suite: Suite, within: float = 180.0) -> float | None:
    """Wait until observability has recorded every event sent so far (what it parked is
    recorded too); the seconds it took, or None past ``within``."""
    return await drained(suite, _OBSERVED, within)


async def parked(suite: Suite) -> list[str]:
    """Every service's parked messages by reason, through observability's console API."""
    async with suite.api("observability") as api:
        body = (await api.get("/v1/parking-lots")).raise_for_status().json()
    lines = []
    for lot in body["services"]:
        if not lot["reachable"]:
            lines.append(f"{lot['service']:<18} unreachable: {lot['error']}")
            continue
        reasons = Counter(f"{i['reason']} ({i['event_type']})" for i in lot["items"])
        found = ", ".join(f"{r} {n}" for r, n in reasons.most_common()) or "none"
        lines.append(f"{lot['service']:<18} {len(lot['items']):>4} parked: {found}")
    return lines


def exceptions(outcome: Outcome) -> list[str]:
    """time-expense's open business exceptions by reason."""
    return [f"{reason:<28} {subject:<22} {count:>6}" for reason, subject, count in
            outcome.exceptions] or ["none"]  # fmt: skip


async def reconciliation(suite: Suite) -> list[str]:
    """observability's view of every domain's reconciliation runs."""
    async with suite.api("observability") as api:
        body = (await api.get("/v1/reconciliation")).raise_for_status().json()
    lines = []
    for domain in body["domains"]:
        found = ", ".join(f"{k} {n}" for k, n in sorted(domain["mismatches"].items())) or "none"
        lines.append(f"{domain['domain']:<18} last run {domain['last_run_at'] or 'never'}; "
                     f"mismatches: {found}")  # fmt: skip
    return lines or ["no ReconciliationMismatch announced by any domain"]


async def kpis(suite: Suite, since: datetime, within: float = 60.0) -> list[str]:
    """Completeness, time-to-invoice and leakage per region (observability's KPIs), as
    computed after ``since``."""
    deadline = time.monotonic() + within
    async with suite.api("observability") as api:
        while True:
            body = (await api.get("/v1/kpis")).raise_for_status().json()
            computed = datetime.fromisoformat(body["computed_at"].replace("Z", "+00:00"))
            if computed > since or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
    lines = [f"computed at {body['computed_at']}"]
    for region, kpi in sorted(body["regions"].items()):
        tti = kpi["time_to_invoice_days"]
        mean = tti.get("mean_hour_weighted")
        done = ", ".join(
            f"{d} {c['completed']}/{c['started']}" for d, c in sorted(kpi["completeness"].items())
        )
        lines.append(f"{region:<5} time to invoice: "
                     f"{'-' if mean is None else f'{float(mean):.1f} days'} (hour-weighted, "
                     f"{tti.get('count', 0)} entries); flows complete: {done or '-'}")  # fmt: skip
        leaks = "; ".join(f"{x['kind']} {x['currency']} {x['amount']} ({x['projects']} projects)"
                          for x in kpi["leakage"]) or "none"  # fmt: skip
        lines.append(f"{'':<5} leakage: {leaks}")
    return lines


async def recorded(suite: Suite) -> Counter[str]:
    """The events observability's worker recorded as timeline steps, by event type."""
    async with httpx.AsyncClient(timeout=30) as client:
        text = (await client.get(f"{suite['observability'].worker_url('worker')}/metrics")).text
    steps: Counter[str] = Counter()
    for labels, value in _HANDLED.findall(text):
        fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        steps[fields.get("event_type", "?")] += int(float(value))
    return steps


def console(suite: Suite, key: str) -> list[str]:
    """Where to open the console, and the key that signs in."""
    return [f"{suite.console_url}  (sign in with API key {key})"]
