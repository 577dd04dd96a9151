"""A ``ResourceRequested`` gets ranked staffing options (``StaffingOptionsProposed``).

The candidates come from staffing-sync's own read model (``candidates``), narrowed in SQL
before ranking; the bill rate is resolved from the kept rate cards for the request's role on
its start date; the domain ranks and explains (``rank_options``). The proposal is kept with
every option's breakdown and every exclusion, and published through the outbox about the
request, in one transaction: a redelivered request, or an older version, proposes nothing new.

A request for a project not activated here **waits** (``project-active:<project>``), released
by its ``ProjectActivated``; a request with no project (an opportunity's) is set aside, since
staffing-sync keeps no opportunities. A cancelled or assigned request is kept, not ranked.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from staffing_sync.domain import Demand, Ranking, options_proposed, rank_options
from staffing_sync.service_layer.candidates import (
    candidate_of,
    candidate_query,
    demand_of,
    excluded_record,
    explain_unknown_skills,
    option_record,
    policy_of,
    project_known_key,
)
from staffing_sync.service_layer.unit_of_work import AbstractUnitOfWork, CandidateRow, KnownRequest
from staffing_sync.settings import Settings
from tandem_contracts import Envelope, Producer
from tandem_contracts.entities import ResourceRequest, ResourceRequestStatus
from tandem_contracts.events import ResourceRequested
from tandem_messaging import DependencyMissing, HandlerContext, PermanentError, Router

__all__ = ["handlers", "keep_waiting"]

handlers = Router()
_NOT_STAFFED = frozenset({ResourceRequestStatus.CANCELLED, ResourceRequestStatus.ASSIGNED})
_SETTLED = frozenset({"proposed", "closed"})


@handlers.handles(ResourceRequested)
async def propose_options(
    envelope: Envelope[ResourceRequested],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    settings: Settings,
) -> None:
    """Rank the request's candidates; keep and publish the options."""
    request, version = envelope.payload.request, envelope.subject_version
    known = await uow.proposals.get(request.id)
    if known is not None and known.status in _SETTLED and known.request_version >= version:
        return  # this version, or a newer one, was handled already
    if request.status in _NOT_STAFFED:
        await uow.proposals.save(_kept(known, request, version, "closed"))
        return
    if request.project_id is None:
        raise PermanentError("request_without_project", "staffing-sync keeps no opportunities")
    project = await uow.projects.get(request.project_id)
    if project is None:
        raise DependencyMissing(
            project_known_key(request.project_id),
            f"project {request.project_id} is not activated here yet",
        )
    cards = await uow.rate_cards.in_currency(project.project.currency)
    demand = demand_of(request, project, cards, settings.entity_countries)
    query = candidate_query(
        request, project, same_role_only=settings.request_same_role_only,
        allowed_entities_only=settings.request_allowed_entities_only,
        intercompany_pairs=settings.intercompany_pairs,
    )  # fmt: skip
    rows = await uow.candidates.for_request(query)
    # Ranking a bench of thousands is a few hundred milliseconds of CPU: off the event loop,
    # so the worker's other lanes (PSA and ERP calls, the broker's heartbeats) carry on.
    ranking = await asyncio.to_thread(_ranked, demand, rows, settings)
    proposed_at = datetime.now(UTC)
    subject_version = max(known.version if known else 0, version) + 1
    event = options_proposed(ranking, proposed_at)
    await uow.proposals.save(
        KnownRequest(
            request, version, "proposed", subject_version,
            options=tuple(option_record(o) for o in ranking.options),
            excluded=tuple(excluded_record(ranking)), proposed_at=proposed_at,
        )
    )  # fmt: skip
    await uow.publish(
        Envelope.new(
            event, producer=Producer(service="staffing-sync"), tenant_id=envelope.tenant_id,
            legal_entity_id=project.project.legal_entity_id,
            data_residency_region=project.region, correlation_id=envelope.correlation_id,
            subject_version=subject_version,
            idempotency_key=f"staffing-options:{request.id}:v{version}",
        )
    )  # fmt: skip


def _ranked(demand: Demand, rows: list[CandidateRow], settings: Settings) -> Ranking:
    candidates = [candidate_of(r, settings.capacity_minutes_per_day, settings.region_of)
                  for r in rows]  # fmt: skip
    policy = policy_of(settings.intercompany_pairs)
    return explain_unknown_skills(rank_options(demand, candidates, policy))


async def keep_waiting(
    uow: AbstractUnitOfWork, envelope: Envelope[ResourceRequested], problem: str, waiting: bool
) -> None:
    """Show a request that waits for its project, or was set aside, with why (the parking
    hook calls it); a request already proposed for at a newer version stays as it is."""
    request, version = envelope.payload.request, envelope.subject_version
    known = await uow.proposals.get(request.id)
    if known is not None and known.request_version > version:
        return
    kept = _kept(known, request, version, "waiting" if waiting else "failed")
    await uow.proposals.save(replace(kept, problem=problem[:1000]))


def _kept(
    known: KnownRequest | None, request: ResourceRequest, version: int, status: str
) -> KnownRequest:
    """The request at ``version`` with no options (a proposal is made only when ranked)."""
    return KnownRequest(request, version, status, known.version if known else 0)
