"""PSA resource requests become ``ResourceRequested``: the pure mapping and decisions (status,
what is news), and the PSA ingestion on a unit of work in memory and the fake PSA (no
database, no network): one event per version that tells something new, an older version
changing nothing, a request waiting for its project, and the PSA's records (bookings, requests,
rate cards) sent each to its own ingestion."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from staffing_sync.domain.resource_requests import (
    RequestStep,
    RequestVersion,
    UnknownRequestStatusError,
    next_request_step,
    request_status,
    resource_request,
)
from staffing_sync.service_layer.bookings import PsaBookings
from staffing_sync.service_layer.psa_inbound import PSA_INBOUND, PsaIngestion
from staffing_sync.service_layer.psa_rate_cards import PsaRateCards
from staffing_sync.service_layer.resource_requests import PsaRequests, psa_request_id
from staffing_sync.service_layer.unit_of_work import (
    AbstractProjects,
    AbstractPsaRequests,
    AbstractUnitOfWork,
    KnownProject,
    KnownPsaRequest,
)
from tandem_connectors.fakes import FakeCrossReferences, FakePsa
from tandem_connectors.inbound import RecordRejected, RecordWaits
from tandem_connectors.landing import Landed
from tandem_connectors.ports import PsaResourceRequest
from tandem_contracts import Envelope, ExternalRef, SystemKind
from tandem_contracts.entities import (
    BillingModel,
    Project,
    ProjectStatus,
    ResourceRequestStatus,
)
from tandem_contracts.events import ResourceRequested

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
ROLE = "senior-consultant"
REF = ExternalRef(
    system=SystemKind.PSA, instance="psa", object_type="resource_request", external_id="rrq_1"
)


class MemoryProjects(AbstractProjects):
    def __init__(self) -> None:
        self.kept: dict[str, KnownProject] = {}

    async def get(self, project_id: str) -> KnownProject | None:
        return self.kept.get(project_id)

    async def keep(self, project: KnownProject) -> bool:
        self.kept[project.project.id] = project
        return True


class MemoryPsaRequests(AbstractPsaRequests):
    def __init__(self) -> None:
        self.kept: dict[str, KnownPsaRequest] = {}

    async def get(self, request_id: str) -> KnownPsaRequest | None:
        return self.kept.get(request_id)

    async def save(self, known: KnownPsaRequest) -> None:
        self.kept[known.request_id] = known


class MemoryUnitOfWork(AbstractUnitOfWork):
    """What request ingestion uses, in memory."""

    projects: MemoryProjects
    psa_requests: MemoryPsaRequests

    def __init__(self) -> None:
        self.refs = FakeCrossReferences()
        self.projects = MemoryProjects()
        self.psa_requests = MemoryPsaRequests()

    async def publish(self, *envelopes: Envelope[Any]) -> None:
        raise AssertionError("ingestion returns its events; the kit writes them")

    async def flush(self) -> None:
        """Nothing to flush."""


async def activate(uow: MemoryUnitOfWork, project_id: str = "p-1", psa_project: str = "prj_1"
                   ) -> None:  # fmt: skip
    """``ProjectActivated`` as staffing-sync keeps it: the project, and its PSA project linked."""
    ref = ExternalRef(
        system=SystemKind.PSA, instance="psa", object_type="project", external_id=psa_project
    )
    active = Project(
        id=project_id, name="Rollout", customer_id="c-1", legal_entity_id="le-de",
        currency="EUR", billing_model=BillingModel.TIME_AND_MATERIALS,
        status=ProjectStatus.ACTIVE, refs=(ref,),
    )  # fmt: skip
    await uow.projects.keep(KnownProject(active, "eu", 2))
    await uow.refs.link("project", project_id, ref)


def asked(version: int = 1, **changes: Any) -> PsaResourceRequest:
    """Version ``version`` of the PSA request ``rrq_1`` on the PSA project ``prj_1``."""
    values: dict[str, Any] = {
        "external_id": "rrq_1", "version": version, "project_id": "prj_1", "role": ROLE,
        "required_skills": ("sk-python",), "minutes": 4800, "start_date": date(2026, 4, 6),
        "end_date": date(2026, 4, 17), "status": "open", "priority": 2,
        "filled_by_assignment": None, "updated_at": NOW,
    }  # fmt: skip
    return PsaResourceRequest(**(values | changes))


_sequence = itertools.count(1)


def landed(value: PsaResourceRequest) -> Landed:
    return Landed(
        next(_sequence), "psa", "psa", "resource_request", value.external_id, value.version,
        "webhook", FakePsa.record_of(value),
    )  # fmt: skip


def requests(uow: MemoryUnitOfWork) -> PsaRequests:
    return PsaRequests(uow, FakePsa(instance="psa"), "psa", "acme")


def version(**changes: Any) -> RequestVersion:
    values: dict[str, Any] = {
        "request_id": "psa-rrq_1", "project_id": "p-1", "role_id": ROLE,
        "required_skill_ids": ("sk-python",), "minutes": 4800, "start_date": date(2026, 4, 6),
        "end_date": date(2026, 4, 17), "psa_status": "open", "priority": 2, "ref": REF,
    }  # fmt: skip
    return RequestVersion(**(values | changes))


# -- the pure mapping and decisions ------------------------------------------------------------


def test_the_psa_statuses_map_onto_the_canonical_ones_and_no_other_is_guessed() -> None:
    assert request_status("open") is ResourceRequestStatus.READY_TO_STAFF
    assert request_status("cancelled") is ResourceRequestStatus.CANCELLED
    assert request_status("filled") is ResourceRequestStatus.ASSIGNED
    with pytest.raises(UnknownRequestStatusError, match="'on_hold'"):
        request_status("on_hold")


def test_a_version_is_the_canonical_request_with_its_psa_ref() -> None:
    request = resource_request(version())
    assert (request.id, request.project_id, request.role_id) == ("psa-rrq_1", "p-1", ROLE)
    assert (request.required_skill_ids, request.minutes, request.priority) == (
        ("sk-python",), 4800, 2,
    )  # fmt: skip
    assert (request.start_date, request.end_date) == (date(2026, 4, 6), date(2026, 4, 17))
    assert (request.status, request.refs) == (ResourceRequestStatus.READY_TO_STAFF, (REF,))


def test_an_open_request_is_announced_first_then_only_its_changes() -> None:
    first = resource_request(version())
    assert next_request_step(None, first) is RequestStep.ANNOUNCE
    assert next_request_step(first, first) is RequestStep.NOTHING
    longer = resource_request(version(minutes=9600))
    assert next_request_step(first, longer) is RequestStep.ANNOUNCE
    cancelled = resource_request(version(psa_status="cancelled"))
    assert next_request_step(first, cancelled) is RequestStep.ANNOUNCE
    # Closed before it was ever announced: nobody to tell.
    assert next_request_step(None, cancelled) is RequestStep.NOTHING
    filled = resource_request(version(psa_status="filled"))
    assert next_request_step(None, filled) is RequestStep.NOTHING


# -- ingestion -------------------------------------------------------------------------------


async def test_each_new_version_is_announced_once_on_the_requests_own_counter() -> None:
    uow = MemoryUnitOfWork()
    await activate(uow)
    ingest = requests(uow)
    [first] = await ingest.translate(landed(asked()))
    assert isinstance(first.payload, ResourceRequested)
    request = first.payload.request
    assert (request.id, request.project_id, request.status) == (
        "psa-rrq_1", "p-1", ResourceRequestStatus.READY_TO_STAFF,
    )  # fmt: skip
    assert (first.subject_version, first.legal_entity_id, first.data_residency_region) == (
        1, "le-de", "eu",
    )  # fmt: skip
    assert (first.correlation_id, first.subject.id) == ("p-1", "psa-rrq_1")
    assert first.idempotency_key == "psa:psa:psa-rrq_1:v1:ResourceRequested"
    # The same version again (a duplicate webhook, the poll), and a newer one that changes
    # nothing of the request: silence.
    assert await ingest.translate(landed(asked())) == []
    assert await ingest.translate(landed(asked(2, updated_at=NOW.replace(hour=10)))) == []
    # Longer, then cancelled: each announced with the next subject version.
    [longer] = await ingest.translate(landed(asked(3, minutes=9600)))
    assert (longer.subject_version, longer.payload.request.minutes) == (2, 9600)
    [cancelled] = await ingest.translate(landed(asked(4, status="cancelled")))
    assert cancelled.subject_version == 3
    assert cancelled.payload.request.status is ResourceRequestStatus.CANCELLED
    # A late older version changes nothing.
    assert await ingest.translate(landed(asked(3, minutes=9600))) == []
    kept = uow.psa_requests.kept["psa-rrq_1"]
    assert (kept.psa_version, kept.version) == (4, 3)


async def test_a_request_waits_for_its_project_then_is_announced_with_the_canonical_one() -> None:
    uow = MemoryUnitOfWork()
    ingest = requests(uow)
    with pytest.raises(RecordWaits, match="prj_1 activated"):
        await ingest.translate(landed(asked()))
    assert uow.psa_requests.kept == {}
    await activate(uow, "p-7")
    [announced] = await ingest.translate(landed(asked()))
    assert announced.payload.request.project_id == "p-7"


async def test_a_request_closed_before_it_was_announced_is_kept_not_announced() -> None:
    uow = MemoryUnitOfWork()  # its project unknown: a closed request does not wait for it
    ingest = requests(uow)
    assert await ingest.translate(landed(asked(2, status="cancelled"))) == []
    await activate(uow)
    # The open version arriving late is older: it cannot announce a cancelled request open.
    assert await ingest.translate(landed(asked(1))) == []
    assert uow.psa_requests.kept["psa-rrq_1"].announced is None


async def test_an_unknown_status_or_a_request_without_a_role_is_set_aside() -> None:
    uow = MemoryUnitOfWork()
    await activate(uow)
    ingest = requests(uow)
    with pytest.raises(RecordRejected, match="'on_hold'"):
        await ingest.translate(landed(asked(status="on_hold")))
    with pytest.raises(RecordRejected, match="has no role"):
        await ingest.translate(landed(asked(role=None)))


async def test_skills_and_roles_by_name_become_ids() -> None:
    uow = MemoryUnitOfWork()
    await activate(uow)
    [announced] = await requests(uow).translate(
        landed(asked(role="Senior Consultant", required_skills=("Data Engineering", "sk-sql")))
    )
    request = announced.payload.request
    assert (request.role_id, request.required_skill_ids) == (
        ROLE, ("data-engineering", "sk-sql"),
    )  # fmt: skip


def test_one_psa_source_takes_bookings_requests_and_cards_each_to_its_own_ingestion() -> None:
    uow = MemoryUnitOfWork()
    psa = FakePsa(instance="psa")
    ingestion = PsaIngestion(
        PsaBookings(uow, psa, "psa", "acme"), PsaRequests(uow, psa, "psa", "acme"),
        PsaRateCards(uow, "psa", "acme", "le-de", lambda entity: "eu"),
    )  # fmt: skip
    request = landed(asked())
    booking = replace(request, record_type="assignment", record_id="asg_1")
    card = replace(request, record_type="rate_card", record_id="rcd_1")
    assert [f.name for f in PSA_INBOUND.feeds] == [
        "assignments", "resource-requests", "rate-cards",
    ]  # fmt: skip
    assert PSA_INBOUND.webhook_subjects == {"assignment", "resource_request", "rate_card"}
    assert ingestion.order_key(request) == "resource_request:rrq_1"
    assert ingestion.order_key(booking) == "asg_1"
    assert ingestion.order_key(card) == "rate_card:rcd_1"
    assert ingestion.acts_on(request)
    assert ingestion.acts_on(booking)
    assert ingestion.acts_on(card)
    assert psa_request_id("psa", "rrq_1") == "psa-rrq_1"
