"""Put a generated firm where a month needs it: the ERP's masters, the PSA's delivery data,
and what the other Tandem services would have announced to time-expense."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import aio_pika
import asyncpg
import httpx

from month.systems import API_KEY, Systems
from tandem_connectors.ports import Written
from tandem_contracts import Envelope, Event, Producer, encode
from tandem_contracts.entities import AssignmentStatus, ProjectStatus, WorkerStatus
from tandem_contracts.events import (
    AssignmentConfirmed,
    ConsultantOnboarded,
    CostRateChanged,
    ProjectActivated,
    RateCardPublished,
)
from tandem_messaging import declare_events_exchange
from tandem_sandbox import seed
from tandem_sandbox.scenario import Firm
from time_expense.service_layer.handlers import QUEUE

__all__ = ["set_up"]


@dataclass(frozen=True)
class ErpMasters:
    """What the ERP holds of the firm: a company per legal entity, a project per project."""

    companies: dict[str, Written]
    projects: dict[str, Written]


async def set_up(firm: Firm, systems: Systems) -> dict[str, int]:
    """Make the firm exist in the ERP and the PSA, and announce it; answer what was made."""
    masters = await _erp_masters(firm, systems)
    await seed(systems.sandbox.store, _without_time(firm), systems=("psa",))
    async with httpx.AsyncClient(
        base_url=systems.deployment.api_url, headers={"X-API-Key": API_KEY}, timeout=60
    ) as api:
        rates = [rate.model_dump(mode="json") for rate in firm.fx_rates]
        (await api.put("/v1/fx-rates", json={"rates": rates})).raise_for_status()
    events = list(_announcements(firm, masters))
    await _announce(systems.amqp_url, events)
    # As in a running firm, the reference data (rate cards above all) is known before time is
    # approved: wait until time-expense has taken in every announcement.
    await _taken_in(systems.database_url, len(events))
    return {"companies": len(masters.companies), "customers": len(firm.customers),
            "projects": len(masters.projects), "announcements": len(events)}  # fmt: skip


_TAKEN_IN = """
SELECT (SELECT count(*) FROM messaging.inbox WHERE consumer = $1)
     + (SELECT count(*) FROM messaging.parked WHERE consumer = $1)
"""


async def _taken_in(database_url: str, announced: int, within: float = 300.0) -> None:
    """Wait until time-expense's consumer has handled (or parked) ``announced`` events."""
    connection = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + within
        while (taken := await connection.fetchval(_TAKEN_IN, QUEUE)) < announced:
            if time.monotonic() > deadline:
                raise TimeoutError(f"time-expense took in {taken} of {announced} announcements")
            await asyncio.sleep(0.2)
    finally:
        await connection.close()


async def _erp_masters(firm: Firm, systems: Systems) -> ErpMasters:
    """Companies (each made under its legal entity's id as the key, by which time-expense
    finds it), customers and projects in the ERP."""
    erp = systems.erp
    companies: dict[str, Written] = {}
    for entity in firm.legal_entities:
        companies[entity.id] = await erp.ensure_legal_entity(entity, key=entity.id)
    customers = {}
    for customer in firm.customers:
        company = companies[customer.legal_entity_id].external_id
        customers[customer.id] = await erp.upsert_customer(
            customer, company=company, key=customer.id
        )
    projects: dict[str, Written] = {}
    for project in firm.projects:
        projects[project.id] = await erp.create_project(
            project,
            company=companies[project.legal_entity_id].external_id,
            customer=customers[project.customer_id].external_id,
            service=None,
            key=project.id,
        )
    return ErpMasters(companies, projects)


def _without_time(firm: Firm) -> Firm:
    return dataclasses.replace(firm, time_entries=(), timesheets=(), expenses=())


def _announcements(firm: Firm, masters: ErpMasters) -> Iterator[tuple[Event, str, str]]:
    """(event, legal entity, region) as project-sync, staffing-sync and billing would send."""
    region = {le.id: le.data_residency_region for le in firm.legal_entities}
    now = datetime.now(UTC)
    for project in firm.projects:
        if project.status is ProjectStatus.PLANNED:
            continue  # not activated yet: its time waits
        refs = (masters.projects[project.id].ref,)
        activated = ProjectActivated(
            project=project.model_copy(update={"refs": refs}), activated_at=now
        )
        yield activated, project.legal_entity_id, region[project.legal_entity_id]
    for worker in firm.workers:
        if worker.status is WorkerStatus.PRE_HIRE:
            continue
        rates = sorted((r for r in firm.cost_rates if r.worker_id == worker.id),
                       key=lambda r: r.effective_from)  # fmt: skip
        first = rates[0] if rates else None
        yield (ConsultantOnboarded(worker=worker, cost_rate=first, start_date=worker.hire_date),
               worker.legal_entity_id, region[worker.legal_entity_id])  # fmt: skip
        for later in rates[1:]:
            yield (
                CostRateChanged(cost_rate=later),
                worker.legal_entity_id,
                region[worker.legal_entity_id],
            )
    home = firm.legal_entities[0]
    for card in firm.rate_cards:
        latest = max(v.version for v in card.versions)
        published = RateCardPublished(rate_card=card, published_version=latest, published_at=now)
        yield published, home.id, home.data_residency_region
    projects = {p.id: p for p in firm.projects}
    for assignment in firm.assignments:
        if assignment.status is AssignmentStatus.PROPOSED or assignment.worker_id is None:
            continue
        confirmed = assignment.model_copy(update={"status": AssignmentStatus.CONFIRMED})
        owner = projects[assignment.project_id].legal_entity_id
        yield AssignmentConfirmed(assignment=confirmed, confirmed_at=now), owner, region[owner]


async def _announce(amqp_url: str, events: list[tuple[Event, str, str]]) -> None:
    versions: dict[tuple[str, str], int] = {}
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_events_exchange(channel)
        for event, entity, region in events:
            subject = (type(event).subject_type, event.subject_id)
            versions[subject] = versions.get(subject, 0) + 1
            envelope = Envelope.new(
                event, producer=Producer(service="staffing-sync"), tenant_id="acme",
                legal_entity_id=entity, data_residency_region=region,
                correlation_id=f"month-{entity}", subject_version=versions[subject],
            )  # fmt: skip
            await exchange.publish(
                aio_pika.Message(encode(envelope), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=envelope.routing_key,
            )
