"""From the PSA's resource requests to ``ResourceRequested``, in arrival order per request.

Webhooks (``POST /v1/inbound/psa/{instance}``, subject ``resource_request``) and the polled
feed ``resource-requests`` of the PSA that holds staffing-sync's resources land each request
version once; the PSA ingestion pass (``psa_inbound``) hands them, in arrival order per
request, to ``PsaRequests``:

* each version newer than the last handled becomes ``ResourceRequested`` when it tells
  something new (``domain.resource_requests.next_request_step``): the request in canonical
  ids — its project the canonical project the PSA project was activated as, its role the PSA
  role as bookings take it (``ingest.role_id``), its skills as ids — with the PSA's status
  mapped (``open`` ready to staff, ``cancelled`` cancelled, ``filled`` assigned). The consumer
  (``requests``) ranks an open one and closes the others;
* a request closed before it was ever announced is not announced (nothing to staff or close),
  but its version is kept, so an older version arriving late cannot announce it open;
* a request whose PSA project staffing-sync has not seen activated (``ProjectActivated``)
  **waits** (``RecordWaits``) and is tried again on every pass, as a booking does; its later
  versions wait behind it, in order;
* a PSA version older than one handled changes nothing (the PSA's own version orders them); a
  status Tandem does not know, or a request without a role, is set aside with why.

``ResourceRequested`` names the project's legal entity and region, the project as correlation,
and takes the request's next subject version (one counter per request, kept here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from staffing_sync.domain.resource_requests import (
    RequestStep,
    RequestVersion,
    UnknownRequestStatusError,
    next_request_step,
    request_status,
    resource_request,
)
from staffing_sync.service_layer.ingest import canonical_worker_id, role_id
from staffing_sync.service_layer.unit_of_work import (
    AbstractUnitOfWork,
    KnownProject,
    KnownPsaRequest,
)
from tandem_connectors.errors import UnexpectedResponse
from tandem_connectors.inbound import Feed, RecordRejected, RecordWaits
from tandem_connectors.landing import Landed
from tandem_connectors.ports import AbstractPsa, PsaResourceRequest
from tandem_contracts import Envelope, ExternalRef, Producer, SystemKind
from tandem_contracts.entities import ResourceRequest, ResourceRequestStatus
from tandem_contracts.events import ResourceRequested

__all__ = [
    "REQUESTS_FEED",
    "REQUEST_SUBJECT",
    "PsaRequests",
    "psa_request_id",
    "request_event",
]

PSA = SystemKind.PSA.value
REQUEST_SUBJECT = "resource_request"
REQUESTS_FEED = Feed("resource-requests", REQUEST_SUBJECT)


def psa_request_id(instance: str, external_id: str) -> str:
    """The canonical id of a PSA resource request (derived, so every pass and replica
    agrees): ``<instance>-<PSA id>``, as a booking's."""
    return canonical_worker_id(instance, external_id)


def request_event(
    request: ResourceRequest, project: KnownProject, version: int, instance: str, tenant_id: str
) -> Envelope[ResourceRequested]:
    """``ResourceRequested`` about ``request`` of ``project``, at subject ``version``."""
    key = f"psa:{instance}:{request.id}:v{version}:{ResourceRequested.event_type}"
    return Envelope.new(
        ResourceRequested(request=request),
        producer=Producer(service="staffing-sync", system=SystemKind.PSA, instance=instance),
        tenant_id=tenant_id, legal_entity_id=project.project.legal_entity_id,
        data_residency_region=project.region, correlation_id=project.project.id,
        subject_version=version, idempotency_key=key,
    )  # fmt: skip


@dataclass
class PsaRequests:
    """One ingestion pass over the PSA's landed resource requests."""

    uow: AbstractUnitOfWork
    psa: AbstractPsa
    source: str
    tenant_id: str

    def order_key(self, landed: Landed) -> str:
        """A request orders its own versions (named apart from the PSA's other records)."""
        return f"{REQUEST_SUBJECT}:{landed.record_id}"

    def acts_on(self, landed: Landed) -> bool:
        """Every request version may announce, change or close the request."""
        return landed.record_type == REQUEST_SUBJECT

    async def translate(self, landed: Landed) -> Sequence[Envelope[Any]]:
        """The events a landed request version becomes (none: nothing new)."""
        try:
            asked = await self.psa.read_resource_request(landed.record)
            status = request_status(asked.status)
        except (UnexpectedResponse, UnknownRequestStatusError) as unreadable:
            raise RecordRejected(str(unreadable)) from None
        request_id = psa_request_id(self.source, asked.external_id)
        known = await self.uow.psa_requests.get(request_id)
        if known is not None and asked.version <= known.psa_version:
            return []  # older than one handled
        state = replace(
            known or KnownPsaRequest(request_id, self.source, asked.external_id, 0),
            psa_version=asked.version,
        )
        if state.announced is None and status is not ResourceRequestStatus.READY_TO_STAFF:
            await self.uow.psa_requests.save(state)
            return []  # closed before it was announced: nothing to staff or close
        project = await self._project(asked.project_id)
        if project is None:
            raise RecordWaits(
                f"request {asked.external_id} waits for PSA project {asked.project_id} activated"
            )
        request = resource_request(self._version(asked, request_id, project.project.id))
        if next_request_step(state.announced, request) is RequestStep.NOTHING:
            await self.uow.psa_requests.save(state)
            return []
        state = replace(state, version=state.version + 1, announced=request)
        await self.uow.psa_requests.save(state)
        return [request_event(request, project, state.version, self.source, self.tenant_id)]

    async def _project(self, psa_project: str) -> KnownProject | None:
        project_id = await self.uow.refs.canonical_id(
            "project", system=PSA, instance=self.source, object_type="project",
            external_id=psa_project,
        )  # fmt: skip
        return await self.uow.projects.get(project_id) if project_id else None

    def _version(
        self, asked: PsaResourceRequest, request_id: str, project_id: str
    ) -> RequestVersion:
        role = role_id(asked.role)
        if role is None:
            raise RecordRejected(f"request {asked.external_id} has no role")
        # Skills are ids as the PSA names them; a name that is not an id becomes its slug, as
        # a role does.
        skills = tuple(s for s in (role_id(skill) for skill in asked.required_skills) if s)
        ref = ExternalRef(
            system=SystemKind.PSA, instance=self.source, object_type=REQUEST_SUBJECT,
            external_id=asked.external_id,
        )  # fmt: skip
        return RequestVersion(
            request_id=request_id, project_id=project_id, role_id=role,
            required_skill_ids=skills, minutes=asked.minutes, start_date=asked.start_date,
            end_date=asked.end_date, psa_status=asked.status, priority=asked.priority, ref=ref,
        )  # fmt: skip
