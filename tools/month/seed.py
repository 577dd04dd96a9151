"""The firm in its systems of record, and nowhere else: a company per legal entity in the ERP,
hires in the HRIS (staffing-sync makes each a PSA resource and an ERP employee), rate cards
in the PSA, accounts and opportunities in the CRM (project-sync makes each won one a project in
the ERP and the PSA), the projects' tasks in the PSA; and the operators' configuration through
the services' APIs (published FX rates). Nothing is written into a service's tables.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from month.firm import _announce, _announcements
from month.quote import Won, approve_and_wait
from month.report import recorded
from month.suite import HRIS, Suite
from staffing_sync.service_layer.ingest import canonical_worker_id
from tandem_contracts.entities import Worker
from tandem_contracts.events import RateCardPublished
from tandem_sandbox import seed
from tandem_sandbox.scenario import Firm

__all__ = ["Hired", "hire", "set_up_firm", "win"]

# THE ONE REMAINING HAND ANNOUNCEMENT, to be removed: staffing-sync publishing
# RateCardPublished from the PSA's rate cards is being built. A run waits a little for it
# (observability records what is published); when it does not come, the run announces the
# firm's cards on the bus as staffing-sync would, and says so.
_CARDS_WITHIN_S = 30.0


@dataclass
class Hired:
    """The HRIS's hires and what staffing-sync made of them."""

    workers: dict[str, str]
    """Generated worker id -> staffing-sync's canonical worker id."""
    resources: dict[str, str]
    """Generated worker id -> the PSA resource staffing-sync made."""
    statuses: Counter[str]
    seconds: float


async def set_up_firm(firm: Firm, suite: Suite) -> tuple[int, int]:
    """The ERP's companies, FX rates, and the rate cards in the PSA; answer how many cards
    staffing-sync published, and how many were announced by hand (while it does not)."""
    for entity in firm.legal_entities:  # the ERP's own set-up: a company per legal entity
        await suite.erp.ensure_legal_entity(entity, key=entity.id)
    rates = {"rates": [rate.model_dump(mode="json") for rate in firm.fx_rates]}
    for name in ("time-expense", "billing-readiness"):
        async with suite.api(name) as api:
            (await api.put("/v1/fx-rates", json=rates)).raise_for_status()
    only_cards = dataclasses.replace(
        firm, projects=(), work_items=(), resources=(), assignments=(), time_entries=(),
        timesheets=(), expenses=(),
    )  # fmt: skip
    await seed(suite.sandbox.store, only_cards, systems=("psa",))
    deadline = time.monotonic() + _CARDS_WITHIN_S
    published, still = 0, 0
    while time.monotonic() < deadline and still < 3:  # until none more for three seconds
        now = (await recorded(suite))["RateCardPublished"]
        still = still + 1 if now == published and now > 0 else 0
        published = now
        await asyncio.sleep(1)
    if published:
        return published, 0
    cards = [e for e in _announcements(firm) if isinstance(e[0], RateCardPublished)]
    await _announce(suite.amqp_url, cards)
    return published, len(cards)


async def hire(firm: Firm, suite: Suite, *, within: float = 600.0) -> Hired:
    """Hire the firm's workers in the HRIS (their first cost rate with the hire, later ones as
    raises, leavers terminated); wait until staffing-sync has made each staffable one a PSA
    resource and an ERP employee."""
    started = time.monotonic()
    role_of = {r.id: r.name for r in firm.roles}
    job = {r.worker_id: role_of.get(r.primary_role_id or "") for r in firm.resources}
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=suite.sandbox.urls["hris"], timeout=60) as hris:

        async def one(worker: Worker) -> tuple[str, str]:
            async with gate:
                return worker.id, await _hire(hris, firm, worker, job.get(worker.id))

        workers = dict(await asyncio.gather(*(one(w) for w in firm.workers)))
    async with suite.api("staffing-sync") as api:
        statuses = await _onboarded(api, set(workers.values()), within)
    resources: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=suite.sandbox.urls["psa"], timeout=60) as psa:
        for generated, worker in workers.items():
            listed = (await psa.get("/v1/resources", params={"worker_ref": worker})).json()
            if listed.get("items"):
                resources[generated] = str(listed["items"][0]["id"])
    return Hired(workers, resources, statuses, time.monotonic() - started)


async def _hire(hris: httpx.AsyncClient, firm: Firm, worker: Worker, title: str | None) -> str:
    rates = sorted((r for r in firm.cost_rates if r.worker_id == worker.id),
                   key=lambda r: r.effective_from)  # fmt: skip
    first = rates[0] if rates else None
    body: dict[str, Any] = {
        "first_name": "Worker", "last_name": worker.worker_number,
        "email": f"{worker.worker_number.lower()}@example.com",
        "company": worker.legal_entity_id, "employment_type": worker.employment_type.value,
        "hire_date": worker.hire_date.isoformat(), "job_title": title,
        "org_unit": worker.org_unit_id, "location_country": worker.work_country,
        "home_currency": worker.home_currency, "external_id": worker.id,
        "cost_rate": None if first is None else {
            "amount": str(first.hourly_cost.amount), "currency": first.hourly_cost.currency,
            "effective_from": first.effective_from.isoformat()},
    }  # fmt: skip
    made = (await hris.post("/v1/hires", json=body)).raise_for_status().json()
    external = str(made["id"])
    for later in rates[1:]:
        raise_ = {"amount": str(later.hourly_cost.amount), "currency": later.hourly_cost.currency,
                  "effective_from": later.effective_from.isoformat()}  # fmt: skip
        (await hris.post(f"/v1/workers/{external}/cost-rates", json=raise_)).raise_for_status()
    if worker.termination_date is not None:
        leave = {"termination_date": worker.termination_date.isoformat(), "reason": "resignation"}
        (await hris.post(f"/v1/workers/{external}/terminations", json=leave)).raise_for_status()
    return canonical_worker_id(HRIS, external)


async def _onboarded(api: httpx.AsyncClient, workers: set[str], within: float) -> Counter[str]:
    """Wait until every worker is settled in staffing-sync's pipeline: in the PSA and the ERP
    (or not staffable yet, terminated, failed); answer the workers by status."""
    deadline = time.monotonic() + within
    seen: dict[str, dict[str, Any]] = {}
    while True:
        seen.clear()
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500, **({"after": after} if after else {})}
            body = (await api.get("/v1/workers", params=params)).raise_for_status().json()
            seen.update({item["worker_id"]: item for item in body["items"]})
            after = body.get("next_after")
            if not after or not body["items"]:
                break
        settled = {w for w, s in seen.items() if _settled(s)}
        if workers <= settled or time.monotonic() > deadline:
            return Counter(str(seen[w]["pipeline"]) if w in seen else "unknown" for w in workers)
        await asyncio.sleep(1)


def _settled(status: dict[str, Any]) -> bool:
    return status.get("pipeline") in {"staffable", "not_staffable_yet", "terminated", "failed"}


async def win(firm: Firm, suite: Suite) -> Won:
    """The CRM's accounts and opportunities (project-sync polls and hears them), the firm's
    signed contracts approved through project-sync; then the projects' tasks in the PSA."""
    async with suite.api("project-sync") as q2c:
        won = await approve_and_wait(firm, suite.sandbox, q2c)
    tasks = dataclasses.replace(
        firm, projects=(), resources=(), assignments=(), rate_cards=(), time_entries=(),
        timesheets=(), expenses=(),
        work_items=tuple(i.model_copy(update={"project_id": won.psa[i.project_id]})
                         for i in firm.work_items if i.project_id in won.psa),
    )  # fmt: skip
    await seed(suite.sandbox.store, tasks, systems=("psa",))
    return won
