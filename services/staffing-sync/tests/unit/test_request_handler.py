"""The ``ResourceRequested`` handler on a unit of work in memory: one proposal kept and
published per request version, a redelivery nothing, a project not known a wait."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

import pytest

from staffing_sync.service_layer.candidates import project_known_key
from staffing_sync.service_layer.requests import keep_waiting, propose_options
from staffing_sync.service_layer.unit_of_work import (
    AbstractCandidates,
    AbstractProjects,
    AbstractProposals,
    AbstractRateCards,
    AbstractUnitOfWork,
    CandidateQuery,
    CandidateRow,
    KnownProject,
    KnownRequest,
)
from staffing_sync.settings import Settings
from tandem_contracts import Envelope, Producer
from tandem_contracts.entities import (
    BillingModel,
    EmploymentType,
    Project,
    ProjectStatus,
    RateCard,
    ResourceRequest,
    ResourceRequestStatus,
    Worker,
    WorkerStatus,
)
from tandem_contracts.events import ResourceRequested, StaffingOptionsProposed
from tandem_messaging import DependencyMissing


class MemoryProjects(AbstractProjects):
    def __init__(self, *known: KnownProject) -> None:
        self.kept = {k.project.id: k for k in known}

    async def get(self, project_id: str) -> KnownProject | None:
        return self.kept.get(project_id)

    async def keep(self, project: KnownProject) -> bool:
        self.kept[project.project.id] = project
        return True


class NoCards(AbstractRateCards):
    async def keep(self, card: RateCard, published_version: int) -> bool:
        return True

    async def in_currency(self, currency: str) -> list[RateCard]:
        return []


class MemoryCandidates(AbstractCandidates):
    def __init__(self, *rows: CandidateRow) -> None:
        self.rows, self.asked = list(rows), list[CandidateQuery]()

    async def for_request(self, query: CandidateQuery) -> list[CandidateRow]:
        self.asked.append(query)
        return self.rows


class MemoryProposals(AbstractProposals):
    def __init__(self) -> None:
        self.kept: dict[str, KnownRequest] = {}

    async def get(self, request_id: str) -> KnownRequest | None:
        return self.kept.get(request_id)

    async def save(self, known: KnownRequest) -> None:
        self.kept[known.request.id] = known


class MemoryUnitOfWork(AbstractUnitOfWork):
    candidates: MemoryCandidates
    proposals: MemoryProposals

    def __init__(self, *projects: KnownProject, rows: tuple[CandidateRow, ...] = ()) -> None:
        self.projects, self.rate_cards = MemoryProjects(*projects), NoCards()
        self.candidates, self.proposals = MemoryCandidates(*rows), MemoryProposals()
        self.published: list[Envelope[Any]] = []

    async def publish(self, *envelopes: Envelope[Any]) -> None:
        self.published.extend(envelopes)

    async def flush(self) -> None:
        return None


def worker(worker_id: str) -> Worker:
    return Worker(
        id=worker_id, worker_number=worker_id, legal_entity_id="le-de",
        employment_type=EmploymentType.EMPLOYEE, status=WorkerStatus.ACTIVE,
        hire_date=date(2025, 1, 6), work_country="DE", home_currency="EUR",
    )  # fmt: skip


def project(project_id: str = "p-1") -> KnownProject:
    p = Project(
        id=project_id, name="Rollout", customer_id="c-1", legal_entity_id="le-de",
        currency="EUR", billing_model=BillingModel.TIME_AND_MATERIALS,
        status=ProjectStatus.ACTIVE,
    )  # fmt: skip
    return KnownProject(p, "eu", 1)


def requested(version: int, project_id: str = "p-1") -> Envelope[ResourceRequested]:
    request = ResourceRequest(
        id="rq-1", project_id=project_id, role_id="consultant", minutes=2400,
        start_date=date(2026, 3, 2), end_date=date(2026, 3, 6),
        status=ResourceRequestStatus.READY_TO_STAFF,
    )  # fmt: skip
    return Envelope.new(
        ResourceRequested(request=request), producer=Producer(service="staffing-sync"),
        tenant_id="acme", legal_entity_id="le-de", data_residency_region="eu",
        correlation_id="rq-1", subject_version=version,
    )  # fmt: skip


SETTINGS = Settings(request_same_role_only=True)
CTX = cast(Any, None)  # the handler reads nothing from its context


async def test_a_request_is_proposed_for_once_per_version() -> None:
    rows = tuple(CandidateRow(worker(w), "consultant", f"psa-r-{w}") for w in ("w-2", "w-1"))
    uow = MemoryUnitOfWork(project(), rows=rows)

    await propose_options(requested(1), CTX, uow, SETTINGS)
    await propose_options(requested(1), CTX, uow, SETTINGS)  # redelivered

    [published] = uow.published
    assert isinstance(published.payload, StaffingOptionsProposed)
    assert [o.worker_id for o in published.payload.options] == ["w-1", "w-2"]
    assert (published.subject.id, published.subject_version) == ("rq-1", 2)
    kept = uow.proposals.kept["rq-1"]
    assert (kept.status, kept.request_version, kept.version) == ("proposed", 1, 2)
    assert [o["worker_id"] for o in kept.options] == ["w-1", "w-2"]
    assert uow.candidates.asked[0].role_id == "consultant"

    await propose_options(requested(2), CTX, uow, SETTINGS)  # a newer version re-ranks

    assert [e.subject_version for e in uow.published] == [2, 3]


async def test_a_request_for_a_project_not_activated_waits_for_it() -> None:
    uow = MemoryUnitOfWork()

    with pytest.raises(DependencyMissing) as waiting:
        await propose_options(requested(1, "p-9"), CTX, uow, SETTINGS)
    await keep_waiting(uow, requested(1, "p-9"), str(waiting.value), waiting=True)

    assert waiting.value.key == project_known_key("p-9")
    assert uow.published == []
    assert uow.proposals.kept["rq-1"].status == "waiting"
