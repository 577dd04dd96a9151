"""Workers into the PSA and the ERP: a resource and an employee per worker, linked both ways.

Each worker event is weighed against the newest version applied (``mapping.is_newer``): an
older one changes nothing, whatever order the broker delivers them in. A worker becomes a PSA
resource (``resource:<worker>``) and an ERP employee of its legal entity's company with its
dated cost rates (``tandem_connectors.directory.employee_key``, the key time-expense writes
too, so both find one employee). While the entity has no company in its ERP the message waits
for it (``company_key``), released when the company is linked. A transfer makes an employee
of the new entity's company, linked in place of the old one, and ends the old one the day
before the transfer's effective date; a last day ends the resource and the employee.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any, cast

from staffing_sync.service_layer import mapping, requests, terminations
from staffing_sync.service_layer.mapping import WorkerRecord
from staffing_sync.service_layer.unit_of_work import AbstractUnitOfWork
from staffing_sync.settings import Settings
from tandem_connectors.directory import ErpDirectory, company_key
from tandem_connectors.ports import AbstractPsa, ErpObject
from tandem_contracts import Envelope, SystemKind
from tandem_contracts.entities import Worker
from tandem_contracts.events import (
    ConsultantOnboarded,
    CostRateChanged,
    ResourceRequested,
    WorkerTerminated,
    WorkerUpdated,
)
from tandem_messaging import DependencyMissing, HandlerContext, PermanentError, Router

__all__ = ["handlers"]

handlers = Router()
ERP = SystemKind.ERP.value


@handlers.handles(ConsultantOnboarded)
async def onboard_worker(
    envelope: Envelope[ConsultantOnboarded],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    psa: AbstractPsa,
    settings: Settings,
) -> None:
    """Make the worker a PSA resource and an ERP employee with its cost rate."""
    onboarded = envelope.payload
    problem = mapping.onboarding_problem(onboarded)
    if problem is not None:
        raise PermanentError("invalid_onboarding", problem)
    worker, version = onboarded.worker, envelope.subject_version
    known = await uow.workers.get(worker.id)
    if not mapping.is_newer(known, version):
        return
    if onboarded.cost_rate is not None:
        await uow.cost_rates.keep(onboarded.cost_rate, version)
    record = WorkerRecord(
        worker, known.hired_in if known else worker.legal_entity_id,
        onboarded.primary_role_id or (known.role_id if known else None),
        onboarded.start_date, version,
    )  # fmt: skip
    await _sync(record, uow, erps, psa, settings, known)
    ctx.satisfy(mapping.worker_known_key(worker.id))


@handlers.handles(WorkerUpdated)
async def update_worker(
    envelope: Envelope[WorkerUpdated],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    psa: AbstractPsa,
    settings: Settings,
) -> None:
    """Bring the resource and the employee up to the worker's newer version (a last day ends
    the resource and the employee; a new legal entity makes an employee of its company and
    ends the old one the day before the transfer)."""
    updated = envelope.payload
    worker, version = updated.worker, envelope.subject_version
    known = await uow.workers.get(worker.id)
    if not mapping.is_newer(known, version):
        return
    if known is None:  # its onboarding was never seen: this version is the hire
        record = WorkerRecord(worker, worker.legal_entity_id, None, worker.hire_date, version)
        await _sync(record, uow, erps, psa, settings)
        ctx.satisfy(mapping.worker_known_key(worker.id))
        return
    record = replace(known, worker=worker, version=version)
    if mapping.termination_only(updated.changed_fields, worker) and _same_entity(known, worker):
        await _end_resource(record, uow, psa)
        await _end_employee(record, uow, erps, settings)
        await uow.workers.save(record)
        return
    last_day = updated.effective_date - timedelta(days=1)
    # Transferred: the old employment ends the day before; one the transfer dates back
    # before its hire never started, and an ERP refuses an end before the start.
    if not _same_entity(known, worker) and last_day >= known.worker.hire_date:
        await _end_employment(known, last_day, uow, erps, settings)
    await _sync(record, uow, erps, psa, settings, known)


@handlers.handles(WorkerTerminated)
async def terminate_worker(
    envelope: Envelope[WorkerTerminated],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    psa: AbstractPsa,
    settings: Settings,
) -> None:
    """End the worker's resource and employee at the last day (a termination before the hire
    waits)."""
    terminated = envelope.payload
    known = await uow.workers.get(terminated.worker_id)
    if known is None:
        raise DependencyMissing(
            mapping.worker_known_key(terminated.worker_id),
            f"worker {terminated.worker_id} is terminated before it was onboarded here",
        )
    if not mapping.is_newer(known, envelope.subject_version):
        return
    worker = known.worker.model_copy(update={"termination_date": terminated.last_day})
    record = replace(known, worker=worker, version=envelope.subject_version)
    await _end_resource(record, uow, psa)
    await terminations.end_bookings_after(terminated, uow, psa, settings.tenant_id)
    await _end_employee(record, uow, erps, settings)
    await uow.workers.save(record)


@handlers.handles(CostRateChanged)
async def change_cost_rate(
    envelope: Envelope[CostRateChanged],
    ctx: HandlerContext[Any],
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    settings: Settings,
) -> None:
    """Keep the dated rate; give the worker's ERP employee its rates as they now are."""
    rate = envelope.payload.cost_rate
    if rate.worker_id is None:
        return  # a role's rate: no employee has it
    problem = mapping.cost_rate_problem(rate, rate.worker_id)
    if problem is not None:
        raise PermanentError("invalid_cost_rate", problem)
    if not await uow.cost_rates.keep(rate, envelope.subject_version):
        return  # a version of that date as new was kept already
    known = await uow.workers.get(rate.worker_id)
    if known is not None:  # else the onboarding gives the employee every rate kept by then
        await _employee(known, uow, erps, settings)


@handlers.when_parked
async def record_problem(
    envelope: Envelope[Any], error: BaseException, ctx: HandlerContext[Any]
) -> None:
    """Show the worker's parked or waiting message in its sync status (a resource request's
    on the request)."""
    uow = cast(AbstractUnitOfWork, ctx.uow)
    waiting_for = error.key if isinstance(error, DependencyMissing) else None
    reason = "waiting" if waiting_for else getattr(error, "reason", None) or type(error).__name__
    if isinstance(envelope.payload, ResourceRequested):
        await requests.keep_waiting(uow, envelope, f"{reason}: {error}", waiting_for is not None)
        return
    await uow.sync.failed(
        envelope.subject.id, envelope.event_type, str(reason), str(error)[:1000], waiting_for
    )


async def _sync(
    record: WorkerRecord,
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    psa: AbstractPsa,
    settings: Settings,
    known: WorkerRecord | None = None,
) -> None:
    await _resource(record, uow, psa, settings)
    await _employee(record, uow, erps, settings)
    # The employee's end follows the worker's last day: set when one is known, cleared when
    # the worker was ended or elsewhere before (a rehire; a return to an earlier entity).
    was_ended = known is not None and (
        known.worker.termination_date is not None or not _same_entity(known, record.worker)
    )
    if record.worker.termination_date is not None or was_ended:
        await _end_employee(record, uow, erps, settings)
    await uow.workers.save(record)


async def _resource(
    record: WorkerRecord, uow: AbstractUnitOfWork, psa: AbstractPsa, settings: Settings
) -> None:
    worker = record.worker
    resource = mapping.resource_of(record, settings.capacity_minutes_per_day)
    written = await psa.upsert_resource(resource, key=mapping.resource_key(worker.id))
    await uow.refs.link("worker", worker.id, written.ref)
    await uow.sync.synced(worker.id, "psa", psa.instance, written.external_id, record.version)


async def _end_resource(record: WorkerRecord, uow: AbstractUnitOfWork, psa: AbstractPsa) -> None:
    worker = record.worker
    last_day = cast(date, worker.termination_date)
    resource = await uow.refs.external_id(
        "worker", worker.id, system=SystemKind.PSA.value, instance=psa.instance,
        object_type="resource",
    )  # fmt: skip
    if resource is None:
        return
    key = f"{mapping.resource_key(worker.id)}:ends:{last_day.isoformat()}"
    written = await psa.end_resource(resource, last_day=last_day, key=key)
    await uow.sync.synced(worker.id, "psa", psa.instance, written.external_id, record.version)


async def _employee(
    record: WorkerRecord, uow: AbstractUnitOfWork, erps: ErpDirectory, settings: Settings
) -> None:
    worker = record.worker
    entity = worker.legal_entity_id
    target = erps.target(entity, settings.region_of(entity))
    company = await erps.company(uow.refs, target, entity)
    if company is None:
        raise DependencyMissing(
            company_key(target.instance, entity),
            f"legal entity {entity} has no company in ERP {target.instance} yet",
        )
    rates = await uow.cost_rates.series(worker.id)
    written = await target.erp.upsert_employee(
        worker, rates, company=company, key=mapping.employee_key_of(record)
    )
    linked = await erps.employee(uow.refs, target.instance, worker.id)
    if linked is not None and linked != written.external_id:  # transferred: the new one
        await uow.refs.unlink(
            "worker", worker.id, system=ERP, instance=target.instance,
            object_type=ErpObject.EMPLOYEE.value,
        )  # fmt: skip
    await uow.refs.link("worker", worker.id, written.ref)
    await uow.sync.synced(worker.id, "erp", target.instance, written.external_id, record.version)


async def _end_employee(
    record: WorkerRecord, uow: AbstractUnitOfWork, erps: ErpDirectory, settings: Settings
) -> None:
    ended = await _end_employment(record, record.worker.termination_date, uow, erps, settings)
    if ended is not None:
        instance, employee = ended
        await uow.sync.synced(record.worker.id, "erp", instance, employee, record.version)


async def _end_employment(
    record: WorkerRecord,
    last_day: date | None,
    uow: AbstractUnitOfWork,
    erps: ErpDirectory,
    settings: Settings,
) -> tuple[str, str] | None:
    """End the employee linked for ``record``'s legal entity after ``last_day`` (None: reopen
    it); answer its instance and id (None: no employee is linked, nothing to end)."""
    entity = record.worker.legal_entity_id
    target = erps.target(entity, settings.region_of(entity))
    employee = await erps.employee(uow.refs, target.instance, record.worker.id)
    if employee is None:
        return None
    key = f"{mapping.employee_key_of(record)}:ends:{last_day or 'never'}"
    await target.erp.end_employee(employee, last_day=last_day, key=key)
    return target.instance, employee


def _same_entity(known: WorkerRecord, worker: Worker) -> bool:
    return known.worker.legal_entity_id == worker.legal_entity_id
