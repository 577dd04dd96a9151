"""From the HRIS's records to worker events, in arrival order per worker.

Signed webhooks (``POST /v1/inbound/hris/{instance}``: ``worker.hired`` / ``updated`` /
``terminated`` and ``cost_rate.changed``, all about the subject ``worker``) and the polled feeds
``workers`` and ``cost-rates`` land each record version once (a dropped webhook is read by the
poll); the kit's ingestion pass hands them, in arrival
order per HRIS worker, to ``HrisIngestion``:

* a **worker** version is judged by the domain (``apply_version``) against the newest one seen
  (``staffing_sync.hris_workers``): ``hired`` / ``rehired`` become ``ConsultantOnboarded`` with
  the cost rate in force on the start date (the HRIS is asked for the worker's rates then, so a
  dropped or late ``cost_rate.changed`` cannot leave a hire without its cost); ``updated`` and
  ``transferred`` (the new legal entity) ``WorkerUpdated``; ``terminated`` ``WorkerTerminated``
  with the last day; ``stale`` and ``no_change`` nothing. An HRIS status Tandem does not know
  is set aside with its reason (``RecordRejected``) and the other records flow;
* a **cost rate** is merged into the worker's series (``CostRateSeries.merge``); only news (a
  new start date, a correction) becomes ``CostRateChanged``. A rate for a worker not seen yet
  is kept, not waited on: a waiting record holds back its worker's later records, the hire
  among them, so it would never come; the hire announces every rate kept by then.

Every event about a worker takes the worker's next subject version (``next_version``; a worker
version's own number is its floor), so cost rates and worker changes never share or reverse a
version in any consumer's inbox. The canonical worker is built by the residency rule
(``worker_payload``) for the envelope's region; its personal data (the email) has no field in
the events and stays in the HRIS; staffing-sync keeps only a digest, to see it change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from staffing_sync.domain import (
    CostRateSeries,
    PersonalData,
    RateChange,
    UnknownWorkerStatusError,
    WorkerChange,
    WorkerDecision,
    WorkerVersion,
    apply_version,
    worker_payload,
    worker_status,
)
from staffing_sync.service_layer.unit_of_work import AbstractUnitOfWork
from tandem_connectors.inbound import Feed, Inbound, RecordRejected
from tandem_connectors.landing import Landed
from tandem_connectors.ports import AbstractHris, HrisCostRate, HrisWorker
from tandem_contracts import Envelope, ExternalRef, Producer, SystemKind
from tandem_contracts import Event as ContractEvent
from tandem_contracts.entities import CostRate, EmploymentType, Worker, WorkerStatus
from tandem_contracts.events import (
    ConsultantOnboarded,
    CostRateChanged,
    WorkerTerminated,
    WorkerUpdated,
)

__all__ = ["HRIS_INBOUND", "HrisIngestion", "canonical_worker_id", "role_id"]

HRIS = SystemKind.HRIS.value
HRIS_INBOUND = Inbound(
    system=HRIS,
    # Cost rates land as the webhook lands them (about the subject worker, keyed by the rate),
    # so a rate read by both is landed once.
    feeds=(Feed("workers", "worker"), Feed("cost-rates", "worker")),
    webhook_subjects=frozenset({"worker"}),
)
_SAFE = re.compile(r"^[A-Za-z0-9_\-:]{1,64}$")
_IDS = uuid.UUID("5d0c2b9e-7f41-5a8e-b3c6-1e9f0a4d7c25")
_HIRES = frozenset({WorkerChange.HIRED, WorkerChange.REHIRED})
# What a termination itself changes: any other field changed with it is a WorkerUpdated too.
_TERMINATION_FIELDS = frozenset({"termination_date", "status"})


@lru_cache(maxsize=65_536)
def canonical_worker_id(instance: str, external_id: str) -> str:
    """The canonical id of an HRIS worker (derived, so every pass and replica agrees; cached:
    ranking derives the resource id of every worker on the bench per request)."""
    candidate = f"{instance}-{external_id}"
    return candidate if _SAFE.fullmatch(candidate) else str(uuid.uuid5(_IDS, candidate))


def role_id(job_title: str | None) -> str | None:
    """The role id of an HRIS job title or a PSA role: its slug, in lower case ("Senior
    Consultant" and "senior-consultant" are ``senior-consultant``; "Consultant" and
    "consultant" one role), so the HRIS's titles and the PSA's roles meet; None without one."""
    if job_title is None:
        return None
    if _SAFE.fullmatch(job_title):
        return job_title.casefold()
    slug = re.sub(r"[^a-z0-9]+", "-", job_title.casefold()).strip("-")[:64]
    return slug or None


def _is_cost_rate(landed: Landed) -> bool:
    # A cost_rate.changed webhook is about the subject "worker" and lands as its record type.
    return "effective_from" in landed.record and "worker_id" in landed.record


def _email_digest(worker_id: str, email: str | None) -> str | None:
    if email is None:
        return None
    return hashlib.sha256(f"{worker_id}\x1f{email}".encode()).hexdigest()


def _change(rate: HrisCostRate) -> RateChange:
    return RateChange(rate.effective_from, rate.hourly_cost, rate.updated_at, rate.version)


@dataclass
class HrisIngestion:
    """One ingestion pass over one HRIS instance's landed workers and cost rates."""

    uow: AbstractUnitOfWork
    hris: AbstractHris
    source: str
    tenant_id: str
    region_of: Callable[[str], str]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def order_key(self, landed: Landed) -> str:
        """The HRIS worker orders its versions and its cost rates."""
        if _is_cost_rate(landed):
            return str(landed.record["worker_id"])
        return landed.record_id

    def acts_on(self, landed: Landed) -> bool:
        """Every worker version and cost rate may be news."""
        return landed.record_type == "worker"

    async def translate(self, landed: Landed) -> Sequence[Envelope[Any]]:
        """The events a landed version becomes (none: nothing new)."""
        if _is_cost_rate(landed):
            return await self._cost_rate(await self.hris.read_cost_rate(landed.record))
        return await self._worker(await self.hris.read_worker(landed.record))

    async def _worker(self, hris_worker: HrisWorker) -> list[Envelope[Any]]:
        seen = self._version(hris_worker)
        try:
            status = worker_status(seen, self.clock().date())
        except UnknownWorkerStatusError as unknown:
            raise RecordRejected(str(unknown)) from None
        known = await self.uow.hris.worker(seen.worker_id)
        kept = dataclasses.replace(seen, email=_email_digest(seen.worker_id, seen.email))
        newest, decision = apply_version(known, kept)
        if newest is kept:
            await self.uow.hris.save_worker(self.source, hris_worker.external_id, kept)
        if not decision.publishes:
            return []
        worker = self._canonical(seen, status, hris_worker)
        events = await self._worker_events(worker, seen, decision, hris_worker)
        return [await self._wrap(event, worker.legal_entity_id, seen.version) for event in events]

    async def _worker_events(
        self, worker: Worker, seen: WorkerVersion, decision: WorkerDecision, hris: HrisWorker
    ) -> list[ContractEvent]:
        if decision.change in _HIRES:
            return await self._onboarding(worker, seen, decision, hris.external_id)
        if decision.change is WorkerChange.TERMINATED and decision.ended is not None:
            others = tuple(f for f in decision.changed_fields if f not in _TERMINATION_FIELDS)
            ended = WorkerTerminated(
                worker_id=worker.id, legal_entity_id=worker.legal_entity_id,
                last_day=decision.ended.last_day, terminated_at=seen.updated_at,
            )  # fmt: skip
            if not others:
                return [ended]
            return [self._updated(worker, seen, decision, others), ended]
        return [self._updated(worker, seen, decision, decision.changed_fields)]

    def _updated(
        self, worker: Worker, seen: WorkerVersion, decision: WorkerDecision, fields: Sequence[str]
    ) -> WorkerUpdated:
        when = decision.effective_date or seen.updated_at.date()
        return WorkerUpdated(worker=worker, changed_fields=tuple(fields), effective_date=when)

    async def _onboarding(
        self, worker: Worker, seen: WorkerVersion, decision: WorkerDecision, external_id: str
    ) -> list[ContractEvent]:
        before = await self.uow.hris.rates(worker.id)
        series, news = before, set[date]()
        for rate in await self.hris.cost_rates(external_id):
            series, outcome = series.merge(_change(rate))
            if outcome.is_news:
                await self.uow.hris.save_rate(worker.id, _change(rate))
                news.add(rate.effective_from)
        if decision.change is WorkerChange.HIRED:  # nothing of the series was announced yet
            news = {change.effective_from for change in series.changes}
        in_force = _in_force(series, worker.id, seen.hire_date)
        onboarded = ConsultantOnboarded(
            worker=worker, primary_role_id=role_id(seen.role), cost_rate=in_force,
            start_date=seen.hire_date,
        )  # fmt: skip
        carried = in_force.effective_from if in_force else None
        changed = [
            CostRateChanged(cost_rate=period)
            for period in series.periods(worker.id)
            if period.effective_from in news and period.effective_from != carried
        ]
        return [onboarded, *changed]

    async def _cost_rate(self, rate: HrisCostRate) -> list[Envelope[Any]]:
        worker_id = canonical_worker_id(self.source, rate.worker_id)
        known = await self.uow.hris.worker(worker_id)  # locked: the worker's lane in turn
        series, outcome = (await self.uow.hris.rates(worker_id)).merge(_change(rate))
        if not outcome.is_news:
            return []
        await self.uow.hris.save_rate(worker_id, _change(rate))
        period = series.period_from(rate.effective_from, worker_id)
        if known is None or period is None:
            return []  # its hire announces it
        event = CostRateChanged(cost_rate=period)
        return [await self._wrap(event, known.legal_entity, 1)]

    def _version(self, hris: HrisWorker) -> WorkerVersion:
        manager = hris.manager_id
        return WorkerVersion(
            worker_id=canonical_worker_id(self.source, hris.external_id), version=hris.version,
            worker_number=hris.worker_number, legal_entity=hris.legal_entity,
            employment_type=hris.employment_type, status=hris.status, hire_date=hris.hire_date,
            termination_date=hris.termination_date,
            manager_id=canonical_worker_id(self.source, manager) if manager else None,
            org_unit=hris.org_unit, work_country=hris.work_country,
            work_calendar=hris.work_calendar, home_currency=hris.home_currency,
            updated_at=hris.updated_at, role=hris.role, effective_date=hris.effective_date,
            email=hris.email,
        )  # fmt: skip

    def _canonical(self, seen: WorkerVersion, status: WorkerStatus, hris: HrisWorker) -> Worker:
        worker = Worker(
            id=seen.worker_id, worker_number=seen.worker_number,
            legal_entity_id=seen.legal_entity,
            employment_type=EmploymentType(seen.employment_type), status=status,
            hire_date=seen.hire_date, termination_date=seen.termination_date,
            manager_id=seen.manager_id, org_unit_id=seen.org_unit,
            work_country=seen.work_country, work_calendar_id=seen.work_calendar,
            home_currency=seen.home_currency, source_status=seen.status[:80],
            refs=(ExternalRef(system=SystemKind.HRIS, instance=self.source,
                              object_type="worker", external_id=hris.external_id),),
        )  # fmt: skip
        region = self.region_of(seen.legal_entity)
        # The events go to the entity's region, the worker's home: the rule keeps everything
        # it may, and the contract's Worker has no field for the rest.
        return worker_payload(
            worker, PersonalData(email=seen.email), home=region, destination=region
        ).worker

    async def _wrap(self, event: ContractEvent, entity: str, floor: int) -> Envelope[Any]:
        worker_id = event.subject_id
        version = await self.uow.hris.next_version(worker_id, floor)
        return Envelope.new(
            event, producer=Producer(service="staffing-sync", system=SystemKind.HRIS,
                                     instance=self.source),
            tenant_id=self.tenant_id, legal_entity_id=entity,
            data_residency_region=self.region_of(entity), correlation_id=worker_id,
            subject_version=version,
            idempotency_key=f"hris:{self.source}:{worker_id}:v{version}:{type(event).event_type}",
        )  # fmt: skip


def _in_force(series: CostRateSeries, worker_id: str, start: date) -> CostRate | None:
    """The period in force on ``start``, else the first (a rate starting after the hire)."""
    periods = series.periods(worker_id)
    current = [period for period in periods if period.effective_from <= start]
    if current:
        return current[-1]
    return periods[0] if periods else None
