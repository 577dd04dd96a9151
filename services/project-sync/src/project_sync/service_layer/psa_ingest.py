"""From the PSA's reports about active projects to canonical events, in arrival order per
project.

Webhooks (``POST /v1/inbound/psa/{instance}``) and the polled feeds ``projects``, ``tasks`` and
``change-orders`` land each record version once; the kit's ingestion pass hands them, in
arrival order per PSA project, to ``PsaDelivery``:

* a **project** version that closes it for time (``domain.delivery.closing_reason``: completed,
  cancelled, or no longer open for time) becomes ``ProjectClosedForTime``, once: the read model
  refuses its time from ``closed_from`` on, and a later closing version (a duplicate, a
  reordered delivery) finds it closed and publishes nothing. The PSA reopening a project is not
  followed (the catalogue has no event for it): the closing stands;
* a **task** version that is a completed billing milestone becomes ``MilestoneCompleted``, once
  per milestone;
* an approved **change order** becomes ``ChangeOrderApproved``, once per change order, and sets
  the project's budget / value / cap in the read model.

Only projects a saga of project-sync made and activated are followed (found through the PSA
link the saga wrote, and the saga locked so that its own compensation is never announced
twice); any other record is ignored. A record that cannot be read, or whose amounts are not in
its project's currency, is set aside with its reason (``RecordRejected``) and the rest flow.

Every event names the project's legal entity and region and the opportunity as correlation,
like the saga's. A project's events take the next subject version of the project
(``AbstractDelivery.next_version``, shared with the saga's announcements); a milestone's, the
PSA task's version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from project_sync.domain.delivery import closed_from, closing_reason, is_billing_milestone
from project_sync.domain.keys import event_key
from project_sync.domain.saga import Step
from project_sync.service_layer.ingest import canonical_id
from project_sync.service_layer.unit_of_work import AbstractUnitOfWork, DeliveredProject
from tandem_connectors.errors import UnexpectedResponse
from tandem_connectors.inbound import Feed, Inbound, RecordRejected
from tandem_connectors.landing import Landed
from tandem_connectors.ports import AbstractPsa, PsaChangeOrder, PsaProject, PsaTask
from tandem_contracts import Envelope, ExternalRef, Money, Producer, SystemKind
from tandem_contracts import Event as ContractEvent
from tandem_contracts.entities import Budget, Milestone, MilestoneStatus, MilestoneTrigger
from tandem_contracts.events import ChangeOrderApproved, MilestoneCompleted, ProjectClosedForTime

__all__ = ["PSA_DELIVERY_INBOUND", "PsaDelivery", "change_order_approved", "milestone_of"]

PSA = SystemKind.PSA.value
PSA_DELIVERY_INBOUND = Inbound(
    system=PSA,
    feeds=(
        Feed("projects", "project"),
        Feed("tasks", "task"),
        Feed("change-orders", "change_order"),
    ),
    webhook_subjects=frozenset({"project", "task", "change_order"}),
)
_AFTER_ACTIVATION = 3
"""The least subject version of a project's event after ``ProjectActivated`` (2)."""


@dataclass
class PsaDelivery:
    """One ingestion pass over one PSA instance's landed projects, tasks and change orders."""

    uow: AbstractUnitOfWork
    psa: AbstractPsa
    source: str
    tenant_id: str
    region_of: Callable[[str], str]
    _known: dict[str, DeliveredProject | None] = field(default_factory=dict)
    """The same projects recur in a pass."""

    def order_key(self, landed: Landed) -> str:
        """A record's PSA project orders it."""
        if landed.record_type == "project":
            return landed.record_id
        return str(landed.record.get("project_id", landed.record_id))

    def acts_on(self, landed: Landed) -> bool:
        """Whether a version in this state may become an event."""
        record = landed.record
        status = str(record.get("status"))
        if landed.record_type == "project":
            return closing_reason(status, bool(record.get("open_for_time"))) is not None
        if landed.record_type == "task":
            return record.get("type") == "milestone" and status == "completed"
        return status == "approved"

    async def translate(self, landed: Landed) -> Sequence[Envelope[Any]]:
        """The events a landed version becomes (none: ignored)."""
        if not self.acts_on(landed):
            return []
        try:
            if landed.record_type == "project":
                return await self._project(await self.psa.read_project(landed.record))
            if landed.record_type == "task":
                return await self._task(await self.psa.read_task(landed.record), landed)
            return await self._change_order(await self.psa.read_change_order(landed.record))
        except UnexpectedResponse as unreadable:
            raise RecordRejected(str(unreadable)) from None

    async def _project(self, psa_project: PsaProject) -> list[Envelope[Any]]:
        reason = closing_reason(psa_project.status, psa_project.open_for_time)
        project = await self._active(psa_project.external_id)
        if reason is None or project is None:
            return []
        first = closed_from(psa_project.end_date, psa_project.updated_at.date(), project.open_from)
        if not await self.uow.delivery.close_for_time(project.project_id, first, reason):
            return []  # closed already: announced once
        event = ProjectClosedForTime(
            project_id=project.project_id, closed_from=first, reason=reason,
            closed_at=psa_project.updated_at,
        )  # fmt: skip
        key = event_key(project.opportunity_id, project.generation, "ProjectClosedForTime:psa")
        return [await self._project_event(project, event, key)]

    async def _task(self, task: PsaTask, landed: Landed) -> list[Envelope[Any]]:
        if not is_billing_milestone(task.type, task.status, task.billing_amount is not None):
            return []
        project = await self._active(task.project_id)
        if project is None:
            return []
        milestone = milestone_of(task, project, self.source)
        if not await self.uow.delivery.record_milestone(
            milestone, self.source, task.external_id, task.updated_at
        ):
            return []
        event = MilestoneCompleted(milestone=milestone, completed_at=task.updated_at)
        key = f"psa:{self.source}:milestone:{task.external_id}"
        return [self._wrap(project, event, landed.version, key)]

    async def _change_order(self, change: PsaChangeOrder) -> list[Envelope[Any]]:
        if change.status != "approved":
            return []
        project = await self._active(change.project_id)
        if project is None:
            return []
        event = change_order_approved(change, project, self.source)
        if not await self.uow.delivery.record_change_order(event, self.source, change.external_id):
            return []
        key = f"psa:{self.source}:change-order:{change.external_id}"
        return [await self._project_event(project, event, key)]

    async def _active(self, psa_project_id: str) -> DeliveredProject | None:
        """The project of a saga of ours that is active, or None (not ours, or not active)."""
        if psa_project_id not in self._known:
            self._known[psa_project_id] = await self._look_up(psa_project_id)
        return self._known[psa_project_id]

    async def _look_up(self, psa_project_id: str) -> DeliveredProject | None:
        project_id = await self.uow.refs.canonical_id(
            "project", system=PSA, instance=self.source, object_type="project",
            external_id=psa_project_id,
        )  # fmt: skip
        project = await self.uow.delivery.project(project_id) if project_id else None
        if project is None:
            return None
        # Locked like every move of the saga: a compensation closing the project in the PSA
        # is decided (and announced) by the saga, and seen here only once it is committed.
        saga = await self.uow.sagas.latest(project.opportunity_id)
        if saga is None or saga.generation != project.generation or saga.step is not Step.ACTIVE:
            return None
        return project

    async def _project_event(
        self, project: DeliveredProject, event: ContractEvent, key: str
    ) -> Envelope[Any]:
        version = await self.uow.delivery.next_version(project.project_id, _AFTER_ACTIVATION)
        return self._wrap(project, event, version, key)

    def _wrap(
        self, project: DeliveredProject, event: ContractEvent, version: int, key: str
    ) -> Envelope[Any]:
        entity = project.legal_entity_id
        return Envelope.new(
            event, producer=Producer(service="project-sync", system=SystemKind.PSA,
                                     instance=self.source),
            tenant_id=self.tenant_id, legal_entity_id=entity,
            data_residency_region=self.region_of(entity), correlation_id=project.opportunity_id,
            subject_version=version, idempotency_key=key,
        )  # fmt: skip


def _in_currency(amount: Money | None, project: DeliveredProject, what: str) -> Money | None:
    if amount is not None and amount.currency != project.currency:
        raise RecordRejected(
            f"{what} is in {amount.currency}, the project {project.project_id} in "
            f"{project.currency}"
        )
    return amount


def milestone_of(task: PsaTask, project: DeliveredProject, source: str) -> Milestone:
    """The canonical milestone a completed PSA milestone task is (its fee in the project's
    currency, else ``RecordRejected``)."""
    amount = _in_currency(task.billing_amount, project, f"milestone {task.external_id}'s fee")
    if amount is None:
        raise RecordRejected(f"milestone {task.external_id} has no fee")
    work_item_id = canonical_id(source, task.external_id)
    return Milestone(
        id=work_item_id,
        project_id=project.project_id,
        work_item_id=work_item_id,
        name=task.name[:200],
        amount=amount,
        billing_trigger=MilestoneTrigger.ON_COMPLETION,
        planned_date=task.due_date,
        actual_date=task.updated_at.date(),
        status=MilestoneStatus.COMPLETED,
        refs=(ExternalRef(system=SystemKind.PSA, instance=source, object_type="task",
                          external_id=task.external_id),),
    )  # fmt: skip


def change_order_approved(
    change: PsaChangeOrder, project: DeliveredProject, source: str
) -> ChangeOrderApproved:
    """The canonical announcement of an approved PSA change order (its amounts in the
    project's currency and at least one of them given, else ``RecordRejected``)."""
    what = f"change order {change.external_id}"
    amount = _in_currency(change.budget_amount, project, what)
    total_value = _in_currency(change.total_value, project, what)
    cap = _in_currency(change.cap, project, what)
    if change.budget_minutes is None and amount is None and total_value is None and cap is None:
        raise RecordRejected(f"{what} changes no budget, value or cap")
    return ChangeOrderApproved(
        project_id=project.project_id,
        change_order_id=canonical_id(source, change.external_id),
        contract_id=project.contract_id,
        budget=Budget(minutes=change.budget_minutes, amount=amount),
        total_value=total_value,
        cap=cap,
        description=change.description[:500] if change.description else None,
        effective_from=change.effective_from,
        approved_at=change.updated_at,
    )
