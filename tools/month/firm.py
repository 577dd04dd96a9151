"""Put a generated firm where the month-end benches need it (``make bench-month-end``,
``bench_scale``: project-sync and time-expense only): the ERP's companies, the CRM's accounts and
opportunities (project-sync makes each won one a project in the ERP and the PSA and announces
it), the PSA's delivery data on those projects, and what staffing-sync (not started by those
benches) would have announced to time-expense: workers, rate cards, bookings. ``make run``
starts the whole suite instead (``month.suite``, ``month.seed``)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import aio_pika
import asyncpg
import httpx

from month.quote import Won, approve_and_wait, ids_of
from month.systems import API_KEY, Systems
from tandem_contracts import Envelope, Event, Producer, encode
from tandem_contracts.entities import AssignmentStatus, WorkerStatus
from tandem_contracts.events import (
    AssignmentConfirmed,
    ConsultantOnboarded,
    CostRateChanged,
    RateCardPublished,
)
from tandem_messaging import declare_events_exchange
from tandem_sandbox import seed
from tandem_sandbox.scenario import Firm
from time_expense.service_layer.handlers import QUEUE

__all__ = ["set_up"]


async def set_up(firm: Firm, systems: Systems) -> tuple[dict[str, int], Won]:
    """Make the firm exist in the ERP, the CRM and the PSA, through project-sync for its
    projects; answer what was made, and where its projects live."""
    for entity in firm.legal_entities:  # the ERP's own set-up: a company per legal entity
        await systems.erp.ensure_legal_entity(entity, key=entity.id)
    async with httpx.AsyncClient(
        base_url=systems.deployment.api_url, headers={"X-API-Key": API_KEY}, timeout=60
    ) as api:
        rates = [rate.model_dump(mode="json") for rate in firm.fx_rates]
        (await api.put("/v1/fx-rates", json={"rates": rates})).raise_for_status()
    # Rate cards before the opportunities are won: project-sync validates a project's rate card.
    events = list(_announcements(firm))
    await _announce(systems.amqp_url, events)
    async with httpx.AsyncClient(
        base_url=systems.quote.api_url, headers={"X-API-Key": API_KEY}, timeout=60
    ) as q2c:
        won = await approve_and_wait(firm, systems.sandbox, q2c)
    await seed(systems.sandbox.store, _delivery(firm, won), systems=("psa",))
    # As in a running firm, the projects and the reference data (rate cards above all) are
    # known before time is approved: wait until time-expense has taken in every announcement
    # and every project project-sync activated.
    await _taken_in(systems.database_url, len(events) + won.states["active"])
    made = {"companies": len(firm.legal_entities), "customers": len(firm.customers),
            "active": won.states["active"], "shells": won.states["awaiting_sow"],
            "announcements": len(events)}  # fmt: skip
    return made, won


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


def _delivery(firm: Firm, won: Won) -> Firm:
    """The firm's PSA delivery data (tasks, resources, bookings, rate cards) on the projects
    project-sync made there; no projects of its own and no time (the month logs it)."""
    on = won.psa
    return dataclasses.replace(
        firm,
        projects=(),
        work_items=tuple(i.model_copy(update={"project_id": on[i.project_id]})
                         for i in firm.work_items if i.project_id in on),
        assignments=tuple(a.model_copy(update={"project_id": on[a.project_id]})
                          for a in firm.assignments if a.project_id in on),
        time_entries=(), timesheets=(), expenses=(),
    )  # fmt: skip


def _announcements(firm: Firm) -> Iterator[tuple[Event, str, str]]:
    """(event, legal entity, region) as staffing-sync and the HR side would send; the
    generated project and customer ids as project-sync names them."""
    projects, customers = ids_of(firm)
    region = {le.id: le.data_residency_region for le in firm.legal_entities}
    now = datetime.now(UTC)
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
        scope = card.scope.model_copy(update={
            "project_id": projects.get(card.scope.project_id or "", card.scope.project_id),
            "account_id": customers.get(card.scope.account_id or "", card.scope.account_id),
        })  # fmt: skip
        latest = max(v.version for v in card.versions)
        published = RateCardPublished(
            rate_card=card.model_copy(update={"scope": scope}),
            published_version=latest, published_at=now,
        )  # fmt: skip
        yield published, home.id, home.data_residency_region
    owner_of = {p.id: p.legal_entity_id for p in firm.projects}
    for assignment in firm.assignments:
        if assignment.status is AssignmentStatus.PROPOSED or assignment.worker_id is None:
            continue
        if assignment.project_id not in projects:
            continue
        confirmed = assignment.model_copy(update={
            "status": AssignmentStatus.CONFIRMED, "project_id": projects[assignment.project_id],
        })  # fmt: skip
        owner = owner_of[assignment.project_id]
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
