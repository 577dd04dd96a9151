"""The month's end: time-expense settled (every approved entry posted or held), then
billing-readiness's charges and its readiness pass (``POST /v1/readiness``) drafting and posting
the ended month's invoices in the ERP; each service's reconciliation that runs on demand."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from month.outcome import Outcome, settle
from month.play import Played
from month.suite import SERVICES, Suite, drained
from tandem_sandbox.scenario import Firm

__all__ = ["Billed", "bill", "reconcile_invoices", "reconcile_time", "settle_time"]

_SETTLED_S = 20


async def settle_time(suite: Suite, played: Played) -> Outcome:
    """Wait until time-expense has posted or held every approved entry and expense."""
    return await settle(
        suite["time-expense"].database_url,
        entries=played.approved_entries,
        expenses=played.approved_expenses,
    )


@dataclass
class Billed:
    """What billing-readiness made of the month."""

    charges: Counter[str] = field(default_factory=Counter)
    """Charges by status (ready, hold, non_billable, invoiced...)."""
    held: Counter[str] = field(default_factory=Counter)
    invoices: Counter[str] = field(default_factory=Counter)
    """Invoices by status (proposed, posted...)."""
    invoiced: dict[str, Decimal] = field(default_factory=dict)
    """Posted invoice totals by currency."""
    not_ready: Counter[str] = field(default_factory=Counter)
    """Why a project's month was not invoiced (the readiness pass's reasons)."""
    seconds: float = 0.0


async def bill(suite: Suite, within: float = 600.0) -> Billed:
    """Run the readiness pass until it proposes nothing more, then wait until every proposed
    invoice is posted in the ERP (or the deadline); answer the charges and invoices."""
    started = time.monotonic()
    billed = Billed()
    async with suite.api("billing-readiness", timeout=600) as api:
        # Every posting charged before the month is invoiced: a readiness pass while postings
        # still wait in billing-readiness's queue invoices the month in parts.
        await drained(suite, SERVICES["billing-readiness"].queue, within)
        await _charged(api, within)
        reasons: dict[str, list[str]] = {}
        for _ in range(5):
            answer = (await api.post("/v1/readiness")).raise_for_status().json()
            reasons = answer["projects"]
            if not answer["proposed"]:
                break
        billed.not_ready = Counter(
            r.split(":")[0] for why in reasons.values() for r in why if not r.startswith("inv-")
        )
        # Until every invoice is posted, or none has moved for a while (one the ERP refused
        # stays proposed, parked for finance: the parking lots below say why).
        deadline = time.monotonic() + within
        invoices: list[dict[str, Any]] = []
        last: Counter[str] = Counter()
        still = 0
        while time.monotonic() < deadline and still < _SETTLED_S:
            invoices = await _pages(api, "/v1/invoices")
            now = Counter(i["status"] for i in invoices)
            if not now["proposed"]:
                break
            still = still + 1 if now == last else 0
            last = now
            await asyncio.sleep(1)
        billed.invoices = Counter(i["status"] for i in invoices)
        for invoice in invoices:
            if invoice["status"] == "posted":
                total = Decimal(str(invoice["total"]))
                currency = invoice["currency"]
                billed.invoiced[currency] = billed.invoiced.get(currency, Decimal(0)) + total
        for charge in await _pages(api, "/v1/charges"):
            billed.charges[charge["status"]] += 1
            billed.held.update(charge.get("holds") or [])
    billed.seconds = time.monotonic() - started
    return billed


async def _pages(api: Any, route: str) -> list[dict[str, Any]]:
    """Every item of a paged billing-readiness listing (``/v1/charges``, ``/v1/invoices``)."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 1000}
    while True:
        page = (await api.get(route, params=params)).raise_for_status().json()
        items += page["items"]
        if not page.get("next_after"):
            return items
        params["after"] = page["next_after"]


async def _charged(api: Any, within: float) -> None:
    """Wait until billing-readiness's charges stop growing (its queue drained)."""
    deadline = time.monotonic() + within
    last, still = -1, 0
    while time.monotonic() < deadline and still < 3:
        count = len(await _pages(api, "/v1/charges"))
        still = still + 1 if count == last else 0
        last = count
        await asyncio.sleep(1)


async def reconcile_time(firm: Firm, suite: Suite) -> list[str]:
    """time-expense's reconciliation of the month per legal entity (PSA approved time vs the
    ERP's lines, repairing what it can); answer a line per entity."""
    period = f"{firm.month:%Y-%m}"
    lines = []
    async with suite.api("time-expense", timeout=600) as api:
        for entity in firm.legal_entities:
            answer = await api.post(
                "/v1/reconciliations",
                json={"legal_entity_id": entity.id, "period": period, "repair": True},
            )
            if answer.status_code == 404:  # no project of the entity: nothing was posted
                lines.append(f"{entity.name:<34} nothing posted: nothing to reconcile")
                continue
            if answer.status_code != 201:
                lines.append(f"{entity.name:<34} {answer.status_code} {answer.text[:160]}")
                continue
            for report in answer.json():
                kinds = Counter(m["kind"] for m in report["mismatches"])
                found = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"
                lines.append(f"{entity.name:<34} {report['psa_entries']:>5} approved vs "
                             f"{report['erp_lines']:>5} ERP lines; mismatches: {found}; "
                             f"repaired {len(report['repaired'])}")  # fmt: skip
    return lines


async def reconcile_invoices(firm: Firm, suite: Suite) -> list[str]:
    """billing-readiness's reconciliation now: its invoices against each ERP company's."""
    names = {entity.id: entity.name for entity in firm.legal_entities}
    async with suite.api("billing-readiness", timeout=600) as api:
        report = (await api.get("/v1/reconciliation")).raise_for_status().json()
    kinds = Counter(m.get("kind", "mismatch") for m in report["mismatches"])
    lines = [f"{names.get(c['legal_entity_id'], c['legal_entity_id']):<34} ours {c['ours']:>4} "
             f"theirs {c['theirs']:>4}{'; skipped: ' + c['skipped'] if c['skipped'] else ''}"
             for c in report["companies"]]  # fmt: skip
    found = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"
    return [*lines, f"mismatches: {found}"]
