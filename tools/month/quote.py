"""Quote-to-cash for a month: the firm's accounts and opportunities in the sandbox CRM, and
project-sync making each won one a project in the ERP and the PSA.

Nothing here announces a project: project-sync publishes ``ProjectActivated`` once the
contract is approved and both systems hold the project, and time-expense takes it from there.
What the month needs back is where each generated project now lives — its canonical id
(derived by project-sync from the opportunity, so known before it exists) and the id the PSA
gave it (known once the shell is made), to log the month's time against.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from project_sync.domain import DEFAULT_STAGE_MAP
from project_sync.domain.keys import project_id as derived_project_id
from project_sync.service_layer.ingest import canonical_id
from tandem_contracts.entities import Contract, OpportunityStatus, Project, ProjectStatus
from tandem_sandbox import Sandbox, seed
from tandem_sandbox.scenario import Firm

__all__ = ["CRM", "Won", "approve_and_wait", "ids_of", "settings_for"]

CRM = "crm"
_FIRST_GENERATION = 1
# Projects whose contract the firm has not signed yet: their saga waits for it (a shell).
_UNSIGNED = frozenset({ProjectStatus.PLANNED})
_CLOSED = frozenset({ProjectStatus.COMPLETED, ProjectStatus.CLOSED})
# The scenario's CRM picklist: the default map and the re-engaged stage of a reopened deal.
_STAGES = {**DEFAULT_STAGE_MAP, "Re-engaged": OpportunityStatus.OPEN}


@dataclass(frozen=True)
class Won:
    """Where the firm's generated ids live once project-sync has made its projects."""

    projects: dict[str, str]
    """Generated project id → project-sync's canonical project id."""
    customers: dict[str, str]
    """Generated customer id → the canonical customer id (the CRM account's)."""
    psa: dict[str, str]
    """Generated project id → the PSA's project id."""
    states: Counter[str]
    """How many sagas ended the set-up in each state (``active``, ``awaiting_sow``…)."""


def ids_of(firm: Firm) -> tuple[dict[str, str], dict[str, str]]:
    """The canonical project and customer ids the firm's will have, derived as project-sync
    derives them (the CRM records are seeded under the generated ids)."""
    customers = {c.id: canonical_id(CRM, c.id) for c in firm.customers}
    projects = {
        p.id: derived_project_id(canonical_id(CRM, p.opportunity_id), _FIRST_GENERATION)
        for p in firm.projects
        if p.opportunity_id is not None
    }
    return projects, customers


def settings_for(firm: Firm) -> dict[str, str]:
    """project-sync's tenant settings for the generated firm: who sells where, in what."""
    entities = firm.legal_entities
    currencies: dict[str, set[str]] = {e.id: {e.functional_currency} for e in entities}
    for deal in firm.opportunities:
        currencies.setdefault(deal.selling_legal_entity_id, set()).add(deal.amount.currency)
    by_country: dict[str, Counter[str]] = {}
    for customer in firm.customers:
        by_country.setdefault(customer.country, Counter())[customer.legal_entity_id] += 1
    countries = {country: seen.most_common(1)[0][0] for country, seen in by_country.items()}
    countries |= {e.country: e.id for e in entities}
    return {
        "TANDEM_ENTITY_BY_COUNTRY": json.dumps(countries),
        "TANDEM_DEFAULT_LEGAL_ENTITY": entities[0].id,
        "TANDEM_ENTITY_REGIONS": json.dumps({e.id: e.data_residency_region for e in entities}),
        "TANDEM_ENTITY_CURRENCIES": json.dumps({e: sorted(c) for e, c in currencies.items()}),
        "TANDEM_STAGE_MAP": json.dumps(_STAGES),
    }


async def approve_and_wait(
    firm: Firm, sandbox: Sandbox, api: httpx.AsyncClient, *, within: float = 900.0
) -> Won:
    """Put the firm's accounts and opportunities in the CRM (project-sync polls them), approve
    the contracts the firm signed, and wait until every won opportunity's project is active —
    or a shell awaiting its contract. Projects the firm closed are then closed in the PSA."""
    projects, customers = ids_of(firm)
    await seed(sandbox.store, firm, systems=("crm",))
    signed = {c.opportunity_id: c for c in firm.contracts if c.opportunity_id is not None}
    wanted = [p for p in firm.projects if p.id in projects]
    gate = asyncio.Semaphore(8)

    async def one(project: Project) -> dict[str, Any]:
        async with gate:
            won = project.opportunity_id or ""  # every project in ``projects`` has one
            opportunity = canonical_id(CRM, won)
            contract = signed.get(won)
            if project.status not in _UNSIGNED and contract is not None:
                await _approve(api, opportunity, contract)
                return await _reached(api, opportunity, {"active"}, within)
            return await _reached(api, opportunity, {"awaiting_sow", "active"}, within)

    sagas = await asyncio.gather(*(one(p) for p in wanted))
    psa: dict[str, str] = {}
    for project, saga in zip(wanted, sagas, strict=True):
        if saga["project_id"] != projects[project.id]:
            raise RuntimeError(f"project-sync named {project.id} {saga['project_id']}, "
                               f"not {projects[project.id]}")  # fmt: skip
        psa[project.id] = saga["psa"]["ref"]
    await _close_in_psa(sandbox, [psa[p.id] for p in wanted if p.status in _CLOSED])
    return Won(projects, customers, psa, Counter(s["state"] for s in sagas))


async def _approve(api: httpx.AsyncClient, opportunity: str, contract: Contract) -> None:
    """Approve the firm's signed contract through project-sync's API (finance's act)."""
    body = {
        "contract_id": canonical_id(CRM, contract.id)[:64],
        "billing_model": contract.billing_model.value,
        "total_value": contract.total_value.model_dump(mode="json"),
        "cap": contract.cap.model_dump(mode="json") if contract.cap else None,
        "po_number": contract.po_number,
        "payment_terms_days": contract.payment_terms_days,
        "start_date": contract.start_date.isoformat(),
        "end_date": contract.end_date.isoformat() if contract.end_date else None,
        "why": "the firm's statement of work, signed (make run)",
    }
    deadline = time.monotonic() + 300
    while True:  # the opportunity is known once project-sync has polled the CRM
        answer = await api.put(f"/v1/opportunities/{opportunity}/contract", json=body)
        if answer.status_code == 202:
            return
        if answer.status_code != 404 or time.monotonic() > deadline:
            raise RuntimeError(f"project-sync refused the contract of {opportunity}: "
                               f"{answer.status_code} {answer.text[:300]}")  # fmt: skip
        await asyncio.sleep(0.5)


async def _reached(
    api: httpx.AsyncClient, opportunity: str, states: set[str], within: float
) -> dict[str, Any]:
    """The opportunity's saga once it is in one of ``states``; its last state on timing out."""
    deadline = time.monotonic() + within
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        answer = await api.get("/v1/quote-to-cash", params={"opportunity": opportunity})
        if answer.status_code == 200:
            last = max(answer.json()["items"], key=lambda item: int(item["generation"]))
            if last["state"] in states:
                return last
        await asyncio.sleep(0.5)
    held = (f"{last['state']} at {last['step']}: {last['failure_reason'] or last['waiting_for']}"
            if last else "no saga")  # fmt: skip
    raise TimeoutError(f"the quote-to-cash of {opportunity} did not reach {states}: {held}")


async def _close_in_psa(sandbox: Sandbox, psa_projects: list[str]) -> None:
    """The PSA closes the projects the firm finished: no new time or expenses on them."""
    async with httpx.AsyncClient(base_url=sandbox.urls["psa"], timeout=30) as psa:
        for project in psa_projects:
            answer = await psa.patch(f"/v1/projects/{project}", json={
                "status": "completed", "open_for_time": False, "open_for_expenses": False,
            })  # fmt: skip
            answer.raise_for_status()
