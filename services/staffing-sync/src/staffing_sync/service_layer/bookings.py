"""From the PSA's bookings to ``AssignmentConfirmed`` / ``AssignmentCancelled``, in arrival order
per booking.

Webhooks (``POST /v1/inbound/psa/{instance}``, subject ``assignment``) and the polled feed
``assignments`` of the PSA that holds staffing-sync's resources land each booking version once;
the PSA ingestion pass (``psa_inbound``) hands them, in arrival order per booking, to
``PsaBookings``:

* a **hard, active** booking is confirmed (``domain.bookings.confirm_booking``): the bill rate
  resolved from the published cards at the start date and frozen with its ``rate_source``, the
  worker's cost rate at the start date, and warnings (intercompany pair not allowed, no rate,
  the PSA showing another rate) kept on the booking here. A change of its terms re-announces
  it with a newer subject version; a version that changes nothing announces nothing;
* a booking announced confirmed that is then cancelled, or made soft, is ``AssignmentCancelled``;
  one never confirmed is not announced at all;
* a **placeholder** resource's booking (no worker) is demand, not an assignment: ignored;
* a booking whose worker staffing-sync has not onboarded, or whose project it has not seen
  activated (``ProjectActivated``), **waits** (``RecordWaits``) and is tried again on every pass:
  both are usually on their way; the landing table shows why it waits;
* a PSA version older than one handled changes nothing (the PSA's own version orders them).

Assignment events name the project's legal entity and region, the project as correlation, and
take the booking's next subject version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from staffing_sync.domain.bookings import (
    BookingStep,
    BookingVersion,
    confirm_booking,
    is_confirmed,
    next_step,
)
from staffing_sync.service_layer.ingest import canonical_worker_id, role_id
from staffing_sync.service_layer.mapping import WorkerRecord
from staffing_sync.service_layer.unit_of_work import AbstractUnitOfWork, KnownBooking, KnownProject
from tandem_connectors.errors import UnexpectedResponse
from tandem_connectors.inbound import Feed, RecordRejected, RecordWaits
from tandem_connectors.landing import Landed
from tandem_connectors.ports import AbstractPsa, PsaAssignment
from tandem_contracts import Envelope, Producer, SystemKind
from tandem_contracts import Event as ContractEvent
from tandem_contracts.events import AssignmentCancelled, AssignmentConfirmed

__all__ = ["BOOKINGS_FEED", "BOOKING_SUBJECT", "PsaBookings", "assignment_event", "booking_id"]

PSA = SystemKind.PSA.value
BOOKING_SUBJECT = "assignment"
BOOKINGS_FEED = Feed("assignments", BOOKING_SUBJECT)


def booking_id(instance: str, external_id: str) -> str:
    """The canonical id of a PSA booking (derived, so every pass and replica agrees)."""
    return canonical_worker_id(instance, external_id)


def assignment_event(
    event: ContractEvent, project: KnownProject, version: int, instance: str, tenant_id: str
) -> Envelope[Any]:
    """``event`` about a booking of ``project``, at subject ``version``."""
    entity = project.project.legal_entity_id
    key = f"psa:{instance}:{event.subject_id}:v{version}:{type(event).event_type}"
    return Envelope.new(
        event, producer=Producer(service="staffing-sync", system=SystemKind.PSA,
                                 instance=instance),
        tenant_id=tenant_id, legal_entity_id=entity, data_residency_region=project.region,
        correlation_id=project.project.id, subject_version=version, idempotency_key=key,
    )  # fmt: skip


@dataclass
class PsaBookings:
    """One ingestion pass over the PSA's landed bookings."""

    uow: AbstractUnitOfWork
    psa: AbstractPsa
    source: str
    tenant_id: str
    intercompany_pairs: frozenset[tuple[str, str]] = frozenset()

    def order_key(self, landed: Landed) -> str:
        """A booking orders its own versions."""
        return landed.record_id

    def acts_on(self, landed: Landed) -> bool:
        """Every booking version may confirm, change or cancel an assignment."""
        return landed.record_type == BOOKING_SUBJECT

    async def translate(self, landed: Landed) -> Sequence[Envelope[Any]]:
        """The events a landed booking version becomes (none: nothing new)."""
        try:
            booked = await self.psa.read_assignment(landed.record)
        except UnexpectedResponse as unreadable:
            raise RecordRejected(str(unreadable)) from None
        if booked.worker_id is None:
            return []  # a placeholder's booking is demand, not an assignment
        # The worker first, then the booking: the order a termination locks them in.
        worker = await self.uow.workers.get(booked.worker_id)
        assignment_id = booking_id(self.source, booked.external_id)
        known = await self.uow.bookings.get(assignment_id)
        if known is not None and booked.version <= known.psa_version:
            return []  # older than one handled
        project = await self._project(booked)
        if worker is None or project is None:
            announced = known is not None and known.announced is not None
            if not announced and not is_confirmed(booked.booking, booked.status):
                return []  # never confirmed, nothing to cancel
            missing = (
                f"worker {booked.worker_id} onboarded" if worker is None
                else f"PSA project {booked.project_id} activated"
            )  # fmt: skip
            raise RecordWaits(f"booking {booked.external_id} waits for {missing}")
        version = self._version(booked, assignment_id, project.project.id, worker)
        state = known or KnownBooking(
            assignment_id, self.source, booked.external_id, worker.worker.id, project.project.id,
            booked.version,
        )  # fmt: skip
        state = replace(state, psa_version=booked.version, project_id=project.project.id)
        return await self._decide(version, state, project, worker)

    async def _decide(
        self, booking: BookingVersion, state: KnownBooking, project: KnownProject,
        worker: WorkerRecord,
    ) -> list[Envelope[Any]]:  # fmt: skip
        event: ContractEvent
        step = next_step(state.announced, booking)
        if step is BookingStep.CONFIRM:
            cards = await self.uow.rate_cards.in_currency(project.project.currency)
            rates = await self.uow.cost_rates.series(booking.worker_id)
            confirmation = confirm_booking(
                booking, project.project, worker.worker.legal_entity_id, cards, rates,
                self.intercompany_pairs, state.announced,
            )  # fmt: skip
            warnings = tuple(w.value for w in confirmation.warnings)
            if confirmation.assignment == state.announced:
                await self.uow.bookings.save(replace(state, warnings=warnings))
                return []
            event = AssignmentConfirmed(
                assignment=confirmation.assignment, confirmed_at=booking.updated_at
            )
            state = replace(
                state, announced=confirmation.assignment, cancelled=False, warnings=warnings
            )
        elif step is BookingStep.CANCEL:
            why = "cancelled in the PSA" if booking.status == "cancelled" else "no longer hard"
            event = AssignmentCancelled(
                assignment_id=booking.assignment_id, project_id=project.project.id,
                reason=f"the booking is {why}", cancelled_at=booking.updated_at,
            )  # fmt: skip
            state = replace(state, announced=None, cancelled=True)
        else:
            await self.uow.bookings.save(state)
            return []
        state = replace(state, version=state.version + 1)
        await self.uow.bookings.save(state)
        return [assignment_event(event, project, state.version, self.source, self.tenant_id)]

    async def _project(self, booked: PsaAssignment) -> KnownProject | None:
        project_id = await self.uow.refs.canonical_id(
            "project", system=PSA, instance=self.source, object_type="project",
            external_id=booked.project_id,
        )  # fmt: skip
        return await self.uow.projects.get(project_id) if project_id else None

    def _version(
        self, booked: PsaAssignment, assignment_id: str, project_id: str, worker: WorkerRecord
    ) -> BookingVersion:
        role = role_id(booked.role) or worker.role_id
        if role is None:
            raise RecordRejected(f"booking {booked.external_id} has no role, nor its worker")
        return BookingVersion(
            assignment_id=assignment_id, version=booked.version, project_id=project_id,
            resource_id=booking_id(self.source, booked.resource_id), worker_id=worker.worker.id,
            work_item_id=booking_id(self.source, booked.task_id) if booked.task_id else None,
            role_id=role, start_date=booked.start_date, end_date=booked.end_date,
            minutes_per_day=booked.minutes_per_day, booking=booked.booking,
            status=booked.status, psa_bill_rate=booked.bill_rate, updated_at=booked.updated_at,
        )  # fmt: skip
