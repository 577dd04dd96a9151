"""A worker's last day reaches its bookings: none stays in the PSA after it.

Called by the ``WorkerTerminated`` handler, in its transaction (the worker locked, then each
booking, as ingestion locks them). Every booking of the worker's resource that runs past the
last day changes in the PSA, keyed by the day so a redelivery changes nothing:

* one **entirely after** it is cancelled (``AbstractPsa.cancel_assignment``) and, when it was
  announced confirmed, ``AssignmentCancelled`` is published here; the PSA version the
  cancellation made is kept, so the booking's older versions still landing change nothing;
* one **straddling** it is ended at the last day (``AbstractPsa.end_assignment``); the PSA
  reports the shorter booking like any change, and ingestion re-announces it
  (``AssignmentConfirmed``, a newer version, its rate still frozen).
"""

from __future__ import annotations

from dataclasses import replace

from staffing_sync.service_layer.bookings import PSA, assignment_event, booking_id
from staffing_sync.service_layer.unit_of_work import AbstractUnitOfWork, KnownBooking
from tandem_connectors.ports import AbstractPsa, PsaAssignment
from tandem_contracts.events import AssignmentCancelled, WorkerTerminated

__all__ = ["end_bookings_after"]


async def end_bookings_after(
    terminated: WorkerTerminated, uow: AbstractUnitOfWork, psa: AbstractPsa, tenant_id: str
) -> None:
    """Cancel the worker's bookings after the last day; end those running past it there."""
    last_day = terminated.last_day
    resource = await uow.refs.external_id(
        "worker", terminated.worker_id, system=PSA, instance=psa.instance,
        object_type="resource",
    )  # fmt: skip
    if resource is None:
        return  # never a resource: nothing was booked
    for booked in await psa.resource_assignments(resource):
        if booked.status == "cancelled" or booked.end_date <= last_day:
            continue
        key = f"booking:{booked.external_id}:ends:{last_day.isoformat()}"
        if booked.start_date <= last_day:
            await psa.end_assignment(booked.external_id, last_day=last_day, key=key)
        else:
            await _cancel(booked, terminated, key, uow, psa, tenant_id)


async def _cancel(
    booked: PsaAssignment,
    terminated: WorkerTerminated,
    key: str,
    uow: AbstractUnitOfWork,
    psa: AbstractPsa,
    tenant_id: str,
) -> None:
    written = await psa.cancel_assignment(booked.external_id, key=key)
    assignment_id = booking_id(psa.instance, booked.external_id)
    known = await uow.bookings.get(assignment_id) or KnownBooking(
        assignment_id, psa.instance, booked.external_id, terminated.worker_id, None,
        booked.version,
    )  # fmt: skip
    version = max(int(written.ref.external_version or booked.version), known.psa_version)
    state = replace(known, psa_version=version, announced=None, cancelled=True)
    announced = known.announced
    project = await uow.projects.get(announced.project_id) if announced else None
    if announced is not None and project is not None:
        state = replace(state, version=known.version + 1)
        event = AssignmentCancelled(
            assignment_id=assignment_id, project_id=announced.project_id,
            reason=f"the worker's last day is {terminated.last_day.isoformat()}",
            cancelled_at=terminated.terminated_at,
        )  # fmt: skip
        await uow.publish(assignment_event(event, project, state.version, psa.instance, tenant_id))
    await uow.bookings.save(state)
