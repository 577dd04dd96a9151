"""Reconciliation: the PSA's approved time against the ERP's lines, for an entity and period.

Each mismatch is announced as ``ReconciliationMismatch``. The safe repair — a posting that is
missing — is re-driven: a record never ingested is landed again from the PSA; a posting the
ERP lost is written again under its original idempotency key. Anything else is for a person.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from tandem_connectors.directory import ErpDirectory, ErpTarget
from tandem_connectors.ports import AbstractPsa, ErpObject, ErpTimeLine, PsaTimeEntry
from tandem_contracts import Envelope, Producer, SystemKind, uuid7
from tandem_contracts.events import MismatchKind, ReconciliationMismatch
from tandem_messaging import Transactions
from time_expense.domain.reconcile import ApprovedTime, Mismatch, PostedTime, reconcile
from time_expense.service_layer.policies import Clock, Policies
from time_expense.service_layer.preparation import prepare_posting
from time_expense.service_layer.unit_of_work import AbstractUnitOfWork, RunRecord

__all__ = ["Reconciler", "ReconciliationError", "Report", "reconcile_all", "reconcile_recent"]

logger = logging.getLogger(__name__)

_LATE_WINDOW = timedelta(days=62)  # late time posts into a later period: look that far ahead
PSA = SystemKind.PSA.value


class ReconciliationError(Exception):
    """The reconciliation cannot run (an entity Tandem knows nothing of)."""


@dataclass(frozen=True)
class Report:
    """What one run compared, found and repaired."""

    run_id: str
    legal_entity_id: str
    start: date
    end: date
    psa_entries: int
    erp_lines: int
    mismatches: list[Mismatch]
    repaired: list[str] = field(default_factory=list)
    held: int = 0
    """Entries left out because they are open business exceptions (see ``/v1/exceptions``)."""


@dataclass(frozen=True)
class Reconciler:
    """Runs reconciliations of one PSA instance against the ERP serving each entity."""

    transactions: Transactions[AbstractUnitOfWork]
    erps: ErpDirectory
    policies: Policies
    psa: AbstractPsa
    source: str
    tenant_id: str
    clock: Clock
    quiet: timedelta = timedelta(minutes=5)
    """Entries changed more recently than this are left out: they may still be in flight."""

    async def run(
        self, legal_entity_id: str, start: date, end: date, *, repair: bool, trigger: str
    ) -> Report:
        """Compare, announce every mismatch, repair what is safe, and record the run."""
        started = self.clock()
        target, company, region = await self._erp_of(legal_entity_id)
        entries = await self.psa.time_entries(status=None, project=None, start=start, end=end)
        settled = started - self.quiet
        in_flight = {e.external_id for e in entries if e.updated_at > settled}
        entries = [e for e in entries if e.status == "approved" and e.external_id not in in_flight]
        lines = await target.erp.time_lines(company=company, start=start, end=end + _LATE_WINDOW)
        async with self.transactions() as uow:
            held = await _held(uow)  # known exceptions, not drift
            approved = [
                a
                for a in await self._approved(uow, entries, legal_entity_id, target.erp.prices_time)
                if a.entry_id not in held
            ]
            posted = [
                p
                for p in await self._posted(uow, target, lines, start, end)
                if p.entry_id not in in_flight and p.entry_id not in held
            ]
        found = reconcile(approved, posted)
        repaired = await self._repair(target, found) if repair else []
        report = Report(
            run_id=str(uuid7()),
            legal_entity_id=legal_entity_id,
            start=start,
            end=end,
            psa_entries=len(approved),
            erp_lines=len(posted),
            mismatches=found,
            repaired=repaired,
            held=len(held),
        )
        await self._record(report, region, trigger, started)
        return report

    async def _erp_of(self, legal_entity_id: str) -> tuple[ErpTarget, str, str]:
        async with self.transactions() as uow:
            region = await uow.reference.entity_region(legal_entity_id)
            if region is None:
                raise ReconciliationError(f"time-expense has no project of {legal_entity_id}")
            target = self.erps.target(legal_entity_id, region)
            company = await self.erps.company(uow.refs, target, legal_entity_id)
        if company is None:
            raise ReconciliationError(f"{legal_entity_id} has no company in {target.instance}")
        return target, company, region

    async def _approved(
        self,
        uow: AbstractUnitOfWork,
        entries: list[PsaTimeEntry],
        legal_entity_id: str,
        priced_too: bool,
    ) -> list[ApprovedTime]:
        """The PSA's approved entries of the entity; with the amount Tandem priced each at
        when the ERP prices its lines too (amounts are then compared per currency)."""
        reference = uow.reference
        ids = [e.external_id for e in entries]
        priced = await uow.ledgers.priced(ids) if priced_too else {}
        projects: dict[str, str | None] = {}
        approved = []
        for entry in entries:
            if entry.project_id not in projects:
                canonical = await uow.refs.canonical_id(
                    "project", system=PSA, instance=self.source, object_type="project",
                    external_id=entry.project_id,
                )  # fmt: skip
                project = await reference.project(canonical or entry.project_id)
                owned = project is not None and project.legal_entity_id == legal_entity_id
                projects[entry.project_id] = project.id if owned and project else None
            project_id = projects[entry.project_id]
            if project_id is None or entry.worker_id is None:
                continue  # another entity's time, or a project Tandem does not sync
            amount, currency = priced.get(entry.external_id, (None, None))
            approved.append(
                ApprovedTime(entry.external_id, project_id, entry.worker_id, entry.work_date,
                             entry.minutes, amount, currency)
            )  # fmt: skip
        return approved

    async def _posted(
        self,
        uow: AbstractUnitOfWork,
        target: ErpTarget,
        lines: list[ErpTimeLine],
        start: date,
        end: date,
    ) -> list[PostedTime]:
        xref, erp = uow.refs, SystemKind.ERP.value
        work_dates = await uow.ledgers.work_dates([line.key for line in lines if line.key])
        posted = []
        for line in lines:
            entry_id = _entry_of(line.key) or f"erp:{line.external_id}"
            original = (line.key or "").split(":reversed-at-")[0]
            worked = work_dates.get(original, line.posted_on)
            if not start <= worked <= end:
                continue
            project = await xref.canonical_id(
                "project", system=erp, instance=target.instance,
                object_type=ErpObject.PROJECT.value, external_id=line.project,
            )  # fmt: skip
            # An employee the worker had before a transfer is no longer linked to it.
            worker = await xref.canonical_id(
                "worker", system=erp, instance=target.instance,
                object_type=ErpObject.EMPLOYEE.value, external_id=line.employee,
            ) or await uow.reference.worker_of_employee(target.instance, line.employee)  # fmt: skip
            amount = line.amount
            posted.append(
                PostedTime(entry_id, project or line.project, worker or line.employee, worked,
                           line.minutes, amount.amount if amount else None,
                           amount.currency if amount else None)
            )  # fmt: skip
        return posted

    async def _repair(self, target: ErpTarget, found: list[Mismatch]) -> list[str]:
        missing = [
            m.entry_ids[0]
            for m in found
            if m.kind is MismatchKind.MISSING_IN_TARGET and m.repairable and m.entry_ids
        ]
        repaired = []
        for entry_id in missing:
            async with self.transactions() as uow:
                if await self._redrive(uow, target, entry_id):
                    repaired.append(entry_id)
        return repaired

    async def _redrive(self, uow: AbstractUnitOfWork, target: ErpTarget, entry_id: str) -> bool:
        ledger = await uow.ledgers.entry(entry_id)
        if ledger is not None and ledger.posted is not None:
            # Tandem posted it and the ERP lost it: write it again under the same key.
            posted = ledger.posted
            prepared = await prepare_posting(
                uow, self.erps, self.policies, target, posted.entry, posted.key
            )
            [written] = await target.erp.post_time([prepared.posting])
            await uow.refs.unlink(
                "time_entry", entry_id, system=written.ref.system.value,
                instance=written.ref.instance, object_type=written.ref.object_type,
            )  # fmt: skip
            await uow.refs.link("time_entry", entry_id, written.ref)
            await uow.ledgers.rewritten(posted.key, written.external_id)
            return written.created
        # Never ingested (a lost webhook, a missed poll): land the PSA's record again.
        record = await self.psa.record("time-entries", entry_id)
        return await uow.landing.land(PSA, self.source, "time_entry", record, "reconcile")

    async def _record(self, report: Report, region: str, trigger: str, started: datetime) -> None:
        async with self.transactions() as uow:
            sequence = await uow.ledgers.record_run(
                RunRecord(
                    report.run_id,
                    report.legal_entity_id,
                    report.start,
                    report.end,
                    trigger,
                    report.psa_entries,
                    report.erp_lines,
                    [{**asdict(m), "kind": m.kind.value} for m in report.mismatches],
                    report.repaired,
                    started,
                )
            )
            envelopes = [
                self._announcement(report, mismatch, region, sequence)
                for mismatch in report.mismatches
            ]
            await uow.publish(*envelopes)

    def _announcement(
        self, report: Report, mismatch: Mismatch, region: str, sequence: int
    ) -> Envelope[Any]:
        event = ReconciliationMismatch(
            run_id=report.run_id,
            kind=mismatch.kind,
            source_system=SystemKind.PSA,
            target_system=SystemKind.ERP,
            scope_key=mismatch.scope_key,
            project_id=mismatch.project_id,
            worker_id=mismatch.worker_id,
            period=mismatch.period,
            source_value=mismatch.source_value[:200],
            target_value=mismatch.target_value[:200],
            item_ids=mismatch.entry_ids,
            repairable=mismatch.repairable,
            detected_at=self.clock(),
        )
        return Envelope.new(
            event,
            producer=Producer(service="time-expense"),
            tenant_id=self.tenant_id,
            legal_entity_id=report.legal_entity_id,
            data_residency_region=region,
            correlation_id=report.run_id,
            subject_version=sequence,
        )


async def _held(uow: AbstractUnitOfWork) -> set[str]:
    """Entries held as business exceptions, or landed and waiting (refused, or waiting for a
    dependency): known, not drift."""
    return await uow.ledgers.held("time_entry") | await uow.landing.waiting(PSA, "time_entry")


async def reconcile_recent(reconciler: Reconciler, entities: list[str]) -> int:
    """Reconcile this month and the last of each entity, repairing what is safe; answer how
    many mismatches were found (the scheduled job)."""
    today = reconciler.clock().date()
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    found = 0
    for entity in entities:
        for start, end in ((last_month, this_month - timedelta(days=1)), (this_month, today)):
            try:
                report = await reconciler.run(entity, start, end, repair=True, trigger="schedule")
            except ReconciliationError as cannot:  # this entity cannot yet; the others can
                logger.warning("reconciliation of %s skipped: %s", entity, cannot)
                break
            found += len(report.mismatches)
    return found


async def reconcile_all(
    reconcilers: Mapping[str, Reconciler], transactions: Transactions[AbstractUnitOfWork]
) -> int:
    """Reconcile the recent months of every entity time-expense has projects of, against each
    PSA (the scheduled job); answer how many mismatches were found."""
    async with transactions() as uow:
        entities = await uow.reference.legal_entities()
    found = 0
    for reconciler in reconcilers.values():
        found += await reconcile_recent(reconciler, entities)
    return found


def _entry_of(key: str | None) -> str | None:
    """The time entry a Tandem idempotency key names (``time:<entry>:v<n>[...]``)."""
    if key and key.startswith("time:"):
        return key.split(":")[1]
    return None
