"""A saga's announcements as contract envelopes, under subject versions that only grow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from project_sync.domain.saga import (
    Announcement,
    PublishActivated,
    PublishClosedForTime,
    PublishProjectCancelled,
    PublishProjectFlagged,
    PublishShellCreated,
    PublishStuck,
    Saga,
)
from project_sync.service_layer.runner._project import project_of, setup_of
from project_sync.service_layer.unit_of_work import AbstractUnitOfWork
from tandem_contracts import Envelope, ExternalRef, Producer, SystemKind
from tandem_contracts import Event as ContractEvent
from tandem_contracts.entities import ProjectStatus
from tandem_contracts.events import (
    FinanceFlagReason,
    ProjectActivated,
    ProjectCancelled,
    ProjectClosedForTime,
    ProjectFlaggedForFinance,
    ProjectShellCreated,
    QuoteToCashStuck,
)

if TYPE_CHECKING:
    from project_sync.service_layer.runner._run import SagaRunner

__all__ = ["SERVICE", "envelope"]

SERVICE = "project-sync"

# A project's announcements, in the order a project lives them: each consumer's inbox sees
# a later fact with a higher subject version. These are floors: the PSA's reports about an
# active project (closed for time, change orders) take versions too, and every announcement
# takes the next version above all before it (``AbstractDelivery.next_version``).
_PROJECT_VERSIONS = {
    ProjectShellCreated: 1,
    ProjectActivated: 2,
    ProjectClosedForTime: 3,
    ProjectCancelled: 4,
    ProjectFlaggedForFinance: 4,
}


async def envelope(
    runner: SagaRunner, uow: AbstractUnitOfWork, saga: Saga, command: Announcement
) -> Envelope[Any]:
    """The envelope announcing ``command``'s fact about the saga's project."""
    now, setup = runner.clock(), saga.setup
    # The project's records, so that consumers (time-expense) post on the ERP project
    # and take the PSA project's time as this project's.
    refs = {"refs": _project_refs(runner, saga)}
    event: ContractEvent
    match command:
        case PublishShellCreated(project_id=project_id, project_code=code):
            shell = project_of(saga, setup_of(saga), project_id, code)
            event = ProjectShellCreated(project=shell.model_copy(update=refs))
        case PublishActivated(project_id=project_id):
            project = project_of(saga, setup_of(saga), project_id, saga.project_code)
            # Active is open for time and expenses in both systems: consumers (time-expense)
            # take the flags as the project's gates, so they must say so.
            active = project.model_copy(
                update={"status": ProjectStatus.ACTIVE, "start_date": now.date(),
                        "flags": runner.flags(), **refs}
            )  # fmt: skip
            event = ProjectActivated(project=active, activated_at=now)
        case PublishClosedForTime(project_id=project_id, closed_from=closed_from):
            event = ProjectClosedForTime(
                project_id=project_id, closed_from=closed_from, reason=command.reason[:500],
                closed_at=now,
            )  # fmt: skip
        case PublishProjectCancelled(project_id=project_id, opportunity_id=opportunity_id):
            event = ProjectCancelled(
                project_id=project_id, opportunity_id=opportunity_id,
                reason=command.cause.value, refs=_project_refs(runner, saga), cancelled_at=now,
            )  # fmt: skip
        case PublishProjectFlagged(project_id=project_id, opportunity_id=opportunity_id):
            detail = (
                f"the opportunity's project {saga.project_code or project_id} had time or "
                f"charges: closed for time and kept ({command.reason.value})"
            )
            event = ProjectFlaggedForFinance(
                project_id=project_id, opportunity_id=opportunity_id,
                reason=FinanceFlagReason(command.reason.value), detail=detail,
                flagged_at=now,
            )  # fmt: skip
        case PublishStuck():
            event = QuoteToCashStuck(
                opportunity_id=command.opportunity_id,
                project_id=saga.project_id if saga.generation >= 1 else None,
                step=command.step.value, since=command.since,
                waiting_for=(command.waiting_for or None) and command.waiting_for[:200],
                reason=(command.reason or None) and (command.reason or "")[:500],
                detected_at=max(now, command.since),
            )  # fmt: skip
    entity = setup.selling_legal_entity_id if setup is not None else "unknown"
    if isinstance(event, QuoteToCashStuck):
        version = saga.generation * 10_000 + len(saga.history)
    else:
        # Above every earlier announcement of the project, the PSA's reports' included.
        floor = _PROJECT_VERSIONS[type(event)]
        version = await uow.delivery.next_version(event.subject_id, floor)
    return Envelope.new(
        event, producer=Producer(service=SERVICE, system=type(event).system_of_record),
        tenant_id=runner.tenant_id, legal_entity_id=entity,
        data_residency_region=runner.region_of(entity),
        correlation_id=saga.opportunity_id, subject_version=version,
        idempotency_key=command.key,
    )  # fmt: skip


def _project_refs(runner: SagaRunner, saga: Saga) -> tuple[ExternalRef, ...]:
    """The project's records in the ERP and the PSA the saga placed it in."""
    refs = []
    placement = runner.placement(saga)
    if saga.erp_project_ref and placement.erp_instance:
        refs.append(_ref(SystemKind.ERP, placement.erp_instance, saga.erp_project_ref))
    if saga.psa_project_ref and placement.psa_instance:
        refs.append(_ref(SystemKind.PSA, placement.psa_instance, saga.psa_project_ref))
    return tuple(refs)


def _ref(system: SystemKind, instance: str, external_id: str) -> ExternalRef:
    return ExternalRef(
        system=system, instance=instance, object_type="project", external_id=external_id
    )
