"""The story's firm: two legal entities, five projects, twenty consultants, a month of time."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg
import httpx

from tandem_connectors.ports import AbstractErp
from tandem_contracts import Money
from tandem_contracts.entities import (
    CostRate,
    EmploymentType,
    LegalEntity,
    RateCard,
    RateCardScope,
    RateCardStatus,
    RateCardVersion,
    Worker,
    WorkerStatus,
)
from tandem_contracts.events import ConsultantOnboarded, RateCardPublished

from .harness import Deployment, announce, eventually
from .quote_harness import project_sync_beside

_REFERENCE_KEPT = """
SELECT (SELECT count(*) FROM time_expense.rate_cards), (SELECT count(*) FROM time_expense.workers)
"""
_PROJECTS_KEPT = "SELECT project_id FROM time_expense.projects"
ERP_INSTANCE = "erp-sandbox"
ROLE = "r-consultant"
ENTITIES = {
    "le-us": LegalEntity(id="le-us", name="Acme Consulting Inc.", country="US",
                         functional_currency="USD", data_residency_region="us"),
    "le-de": LegalEntity(id="le-de", name="Acme Consulting GmbH", country="DE",
                         functional_currency="EUR", data_residency_region="eu"),
}  # fmt: skip
RATES = {"USD": Decimal("150"), "EUR": Decimal("140")}
COSTS = {"USD": Decimal("70"), "EUR": Decimal("65")}


@dataclass(frozen=True)
class Consultant:
    worker_id: str
    legal_entity_id: str
    project_id: str

    @property
    def currency(self) -> str:
        return ENTITIES[self.legal_entity_id].functional_currency


@dataclass
class Firm:
    """Ids of the story's firm in each system. Projects go by the story's names ("p-us-1"),
    for the tests' readability; time-expense knows them by ``canonical``'s ids."""

    consultants: list[Consultant]
    projects: dict[str, str]  # the story's project name -> legal entity
    canonical: dict[str, str] = field(default_factory=dict)  # name -> project-sync's id
    erp_projects: dict[str, str] = field(default_factory=dict)  # name -> ERP id
    psa_projects: dict[str, str] = field(default_factory=dict)  # name -> PSA id
    resources: dict[str, str] = field(default_factory=dict)  # worker -> PSA resource
    companies: dict[str, str] = field(default_factory=dict)  # legal entity -> ERP subsidiary


def the_firm(us_consultants: int = 12, de_consultants: int = 8) -> Firm:
    projects = {f"p-us-{n}": "le-us" for n in range(1, 5)} | {"p-de-1": "le-de"}
    us_projects = [p for p, le in projects.items() if le == "le-us"]
    consultants = [
        Consultant(f"w-us-{n:02d}", "le-us", us_projects[n % len(us_projects)])
        for n in range(us_consultants)
    ] + [Consultant(f"w-de-{n:02d}", "le-de", "p-de-1") for n in range(de_consultants)]
    return Firm(consultants=consultants, projects=projects)


def minutes_on(worker: str, day: date) -> int:
    """A working day of 6 to 9 hours, in quarter hours, fixed per worker and day."""
    return 360 + (sum(map(ord, worker)) * 7 + day.toordinal() * 13) % 13 * 15


async def build(
    firm: Firm,
    deployment: Deployment,
    erp: AbstractErp,
    psa: httpx.AsyncClient,
    *,
    crm_url: str,
    not_onboarded: frozenset[str] = frozenset(),
) -> None:
    """Set the firm up: its companies in the ERP, its projects made by project-sync from
    opportunities won in the CRM at ``crm_url`` (it announces them), and the reference data
    of services not built yet announced as they would (leaving out the onboarding of the
    workers in ``not_onboarded``). Each legal entity's company is made under its id as the
    key; time-expense and project-sync find it by that key."""
    for entity in ENTITIES.values():
        company = await erp.ensure_legal_entity(entity, key=entity.id)
        firm.companies[entity.id] = company.external_id
    events: list[tuple[Any, str, str, int]] = []
    for consultant in firm.consultants:
        if consultant.worker_id not in not_onboarded:
            events.append(onboarding(consultant))
        answer = await psa.post("/v1/resources", json={
            "name": consultant.worker_id.upper(), "worker_ref": consultant.worker_id, "role": ROLE,
        })  # fmt: skip
        assert answer.status_code == 201, answer.text
        firm.resources[consultant.worker_id] = answer.json()["id"]
    for currency, rate in RATES.items():
        card = RateCard(
            id=f"rc-{currency.lower()}", name=f"Standard {currency}", currency=currency,
            scope=RateCardScope(), status=RateCardStatus.PUBLISHED,
            versions=(RateCardVersion(version=1, effective_from=date(2024, 1, 1),
                                      default_rate=Money(amount=rate, currency=currency)),),
        )  # fmt: skip
        published = RateCardPublished(rate_card=card, published_version=1, published_at=_now())
        events.append((published, "le-us", "us", 1))
    onboarded = sum(1 for c in firm.consultants if c.worker_id not in not_onboarded)

    async def reference_data_kept() -> bool:
        connection = await asyncpg.connect(deployment.database_url)
        try:
            cards, workers = tuple(await connection.fetchrow(_REFERENCE_KEPT) or (0, 0))
            projects = {r[0] for r in await connection.fetch(_PROJECTS_KEPT)}
        finally:
            await connection.close()
        wanted = set(firm.canonical.values())
        return cards >= len(RATES) and workers >= onboarded and wanted <= projects

    async with project_sync_beside(deployment, crm_url, ENTITIES) as quote:
        # The rate cards reach project-sync too: its sagas validate a project's against them.
        await announce(deployment.amqp_url, *events)
        for name, made in (await quote.won(firm.projects)).items():
            firm.canonical[name] = made.canonical
            firm.erp_projects[name] = made.erp
            firm.psa_projects[name] = made.psa
        # As in a firm, the reference data is in place before anyone logs time: time approved
        # before its rate card is handled would be refused (rate_unresolved), as it should be.
        # Waited for before project-sync stops: its relay publishes the activations.
        await eventually(reference_data_kept, within=60, what="time-expense to keep the firm")


async def log_week(
    firm: Firm, psa: httpx.AsyncClient, days: list[date], team: list[Consultant] | None = None
) -> dict[str, str]:
    """Each consultant (of ``team``) logs the days on their project; answer worker -> sheet."""
    sheets = {}
    for consultant in firm.consultants if team is None else team:
        resource = firm.resources[consultant.worker_id]
        sheet = await psa.post("/v1/timesheets", json={
            "resource_id": resource, "period_start": days[0].isoformat(),
            "period_end": days[-1].isoformat(),
        })  # fmt: skip
        assert sheet.status_code == 201, sheet.text
        for day in days:
            entry = await psa.post("/v1/time-entries", json={
                "resource_id": resource, "project_id": firm.psa_projects[consultant.project_id],
                "date": day.isoformat(), "minutes": minutes_on(consultant.worker_id, day),
            })  # fmt: skip
            assert entry.status_code == 201, entry.text
        sheets[consultant.worker_id] = sheet.json()["id"]
    return sheets


async def decide(psa: httpx.AsyncClient, sheet: str, *actions: str) -> None:
    for action in actions:
        answer = await psa.post(f"/v1/timesheets/{sheet}/{action}", json={"approver": "pm-1"})
        assert answer.status_code == 200, answer.text


async def psa_approved(psa: httpx.AsyncClient) -> list[dict[str, Any]]:
    return await _all(psa, "/v1/time-entries", {"status": "approved"})


async def erp_time_bills(erp: httpx.AsyncClient) -> list[dict[str, Any]]:
    return await _all(erp, "/v1/time-bills", {})


async def _all(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {**params, "limit": 200}
    while True:
        body = (await client.get(path, params=query)).json()
        items += body["items"]
        if not body.get("next_page_token"):
            return items
        query["page_token"] = body["next_page_token"]


def totals_by_project(
    firm: Firm, approved: list[dict[str, Any]]
) -> dict[str, tuple[int, int, Decimal]]:
    """PSA side: per project (the story's name), (entries, minutes, amount at the card's
    rate)."""
    by_psa = {psa_id: name for name, psa_id in firm.psa_projects.items()}
    sums: dict[str, list[Any]] = defaultdict(lambda: [0, 0, Decimal(0)])
    for entry in approved:
        project = by_psa[entry["project_id"]]
        currency = ENTITIES[firm.projects[project]].functional_currency
        row = sums[project]
        row[0] += 1
        row[1] += entry["minutes"]
        row[2] += _amount(entry["minutes"], RATES[currency])
    return {p: (c, m, a) for p, (c, m, a) in sums.items()}


def erp_totals_by_project(
    firm: Firm, bills: list[dict[str, Any]]
) -> dict[str, tuple[int, int, Decimal]]:
    """ERP side: per project (the story's name), (live lines, net minutes, net amount)."""
    by_erp = {erp_id: name for name, erp_id in firm.erp_projects.items()}
    sums: dict[str, list[Any]] = defaultdict(lambda: [0, 0, Decimal(0)])
    for bill in bills:
        row = sums[by_erp[bill["project_id"]]]
        row[0] += 1 if bill["minutes"] > 0 else -1
        row[1] += bill["minutes"]
        row[2] += Decimal(bill["amount"])
    return {p: (c, m, a) for p, (c, m, a) in sums.items()}


def _amount(minutes: int, rate: Decimal) -> Decimal:
    return (Decimal(minutes) / 60 * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _now() -> datetime:
    return datetime.now(UTC)


def onboarding(consultant: Consultant) -> tuple[ConsultantOnboarded, str, str, int]:
    """The onboarding event of one consultant, ready to announce."""
    entity = ENTITIES[consultant.legal_entity_id]
    worker = Worker(
        id=consultant.worker_id, worker_number=consultant.worker_id.upper(),
        legal_entity_id=entity.id, employment_type=EmploymentType.EMPLOYEE,
        status=WorkerStatus.ACTIVE, hire_date=date(2024, 1, 1), work_country=entity.country,
        home_currency=entity.functional_currency,
    )  # fmt: skip
    cost = CostRate(worker_id=worker.id, hourly_cost=Money(amount=COSTS[consultant.currency],
                    currency=consultant.currency), effective_from=date(2024, 1, 1))  # fmt: skip
    onboarded = ConsultantOnboarded(worker=worker, primary_role_id=ROLE, cost_rate=cost,
                                    start_date=date(2024, 1, 1))  # fmt: skip
    return onboarded, entity.id, entity.data_residency_region, 1


async def posted_count(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(await connection.fetchval(
            "SELECT count(*) FROM time_expense.postings WHERE kind = 'post'"
        ))  # fmt: skip
    finally:
        await connection.close()
