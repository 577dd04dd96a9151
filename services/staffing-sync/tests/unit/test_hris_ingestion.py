"""The HRIS's worker versions and cost rates become worker events: judged against the newest
version seen, duplicates and reordering silent, cost rates announced only when news, subject
versions rising per worker, unknown statuses set aside (no database: the HRIS state in memory,
the HRIS a fake)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest

from staffing_sync.domain import CostRateSeries, RateChange, WorkerVersion
from staffing_sync.service_layer.ingest import HrisIngestion, canonical_worker_id, role_id
from staffing_sync.service_layer.unit_of_work import AbstractHrisState, AbstractUnitOfWork
from tandem_connectors.errors import SystemUnavailable
from tandem_connectors.fakes import FakeHris, hris_record
from tandem_connectors.inbound import RecordRejected
from tandem_connectors.landing import Landed
from tandem_connectors.ports import HrisCostRate, HrisWorker
from tandem_contracts import Envelope, Money
from tandem_contracts.entities import WorkerStatus
from tandem_contracts.events import (
    ConsultantOnboarded,
    CostRateChanged,
    WorkerTerminated,
    WorkerUpdated,
)

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
WORKER_ID = "hris-wrk_1"


class MemoryHrisState(AbstractHrisState):
    """The HRIS state in memory, as the SQL one keeps it."""

    def __init__(self) -> None:
        self.workers: dict[str, WorkerVersion] = {}
        self.series: dict[str, CostRateSeries] = {}
        self.versions: dict[str, int] = {}

    async def worker(self, worker_id: str) -> WorkerVersion | None:
        return self.workers.get(worker_id)

    async def save_worker(self, instance: str, external_id: str, version: WorkerVersion) -> None:
        self.workers[version.worker_id] = version

    async def rates(self, worker_id: str) -> CostRateSeries:
        return self.series.get(worker_id, CostRateSeries())

    async def save_rate(self, worker_id: str, change: RateChange) -> None:
        kept = [c for c in self.series.get(worker_id, CostRateSeries()).changes
                if c.effective_from != change.effective_from]  # fmt: skip
        ordered = sorted([*kept, change], key=lambda c: c.effective_from)
        self.series[worker_id] = CostRateSeries(tuple(ordered))

    async def next_version(self, worker_id: str, floor: int) -> int:
        self.versions[worker_id] = max(self.versions.get(worker_id, 0) + 1, floor)
        return self.versions[worker_id]


class HrisOnlyUnitOfWork(AbstractUnitOfWork):
    """Ingestion asks the unit of work for its HRIS state only."""

    def __init__(self, hris: AbstractHrisState) -> None:
        self.hris = hris

    async def publish(self, *envelopes: Envelope[Any]) -> None:
        raise AssertionError("ingestion returns its events; the kit writes them")

    async def flush(self) -> None:
        """Nothing to flush."""


def hris_worker(version: int = 1, **changes: Any) -> HrisWorker:
    values: dict[str, Any] = {
        "external_id": "wrk_1", "version": version, "worker_number": "W000001",
        "legal_entity": "le-de", "employment_type": "employee", "status": "active",
        "hire_date": date(2026, 3, 2), "termination_date": None, "manager_id": "wrk_0",
        "org_unit": "ou-data", "work_country": "DE", "work_calendar": "cal-de",
        "home_currency": "EUR", "updated_at": NOW, "email": "ada@example.com",
        "role": "Senior Consultant",
    }  # fmt: skip
    return HrisWorker(**(values | changes))


def hris_rate(external_id: str, amount: str, start: date, version: int = 1) -> HrisCostRate:
    return HrisCostRate(
        external_id=external_id, worker_id="wrk_1", hourly_cost=Money.of(amount, "EUR"),
        effective_from=start, effective_to=None, version=version, updated_at=NOW,
    )  # fmt: skip


_sequence = itertools.count(1)


def landed(value: HrisWorker | HrisCostRate) -> Landed:
    record = hris_record(value)
    return Landed(
        next(_sequence), "hris", "hris", "worker", record["id"], record["version"], "webhook",
        record,
    )  # fmt: skip


@pytest.fixture
def state() -> MemoryHrisState:
    return MemoryHrisState()


@pytest.fixture
def hris() -> FakeHris:
    fake = FakeHris(instance="hris")
    fake.add(hris_worker(), hris_rate("crt_1", "80.00", date(2026, 3, 2)))
    return fake


@pytest.fixture
def ingestion(state: MemoryHrisState, hris: FakeHris) -> HrisIngestion:
    regions = {"le-de": "eu", "le-us": "us"}
    return HrisIngestion(
        HrisOnlyUnitOfWork(state), hris, "hris", "acme", regions.__getitem__, lambda: NOW
    )


def payloads(envelopes: Sequence[Envelope[Any]]) -> list[Any]:
    return [envelope.payload for envelope in envelopes]


async def test_a_hire_is_onboarded_with_the_cost_rate_in_force_and_no_personal_data(
    ingestion: HrisIngestion, state: MemoryHrisState
) -> None:
    [envelope] = await ingestion.translate(landed(hris_worker()))
    onboarded = envelope.payload
    assert isinstance(onboarded, ConsultantOnboarded)
    assert onboarded.worker.id == WORKER_ID
    assert onboarded.worker.manager_id == "hris-wrk_0"
    assert onboarded.worker.status is WorkerStatus.ACTIVE
    assert onboarded.primary_role_id == "senior-consultant"
    assert onboarded.start_date == date(2026, 3, 2)
    assert onboarded.cost_rate is not None
    assert (onboarded.cost_rate.hourly_cost, onboarded.cost_rate.effective_from) == (
        Money.of("80.00", "EUR"), date(2026, 3, 2),
    )  # fmt: skip
    assert [(r.instance, r.external_id) for r in onboarded.worker.refs] == [("hris", "wrk_1")]
    assert (envelope.subject_version, envelope.data_residency_region) == (1, "eu")
    assert "ada@example.com" not in envelope.model_dump_json()
    # staffing-sync keeps a digest of the email, never the address.
    assert state.workers[WORKER_ID].email not in (None, "ada@example.com")


async def test_duplicated_and_reordered_versions_yield_each_event_once_and_the_newest_state(
    ingestion: HrisIngestion, state: MemoryHrisState
) -> None:
    first, third = hris_worker(1), hris_worker(3, org_unit="ou-cloud", manager_id="wrk_9")
    second = hris_worker(2, org_unit="ou-legacy")
    events: list[Envelope[Any]] = []
    for version in (first, third, first, second, third):
        events += await ingestion.translate(landed(version))
    onboarded, updated = payloads(events)
    assert isinstance(onboarded, ConsultantOnboarded)
    assert isinstance(updated, WorkerUpdated)
    assert updated.changed_fields == ("manager_id", "org_unit_id")
    assert updated.worker.org_unit_id == "ou-cloud"
    assert [e.subject_version for e in events] == [1, 3]
    assert state.workers[WORKER_ID].version == 3


async def test_a_mid_month_cost_rate_is_announced_dated_once_with_a_rising_version(
    ingestion: HrisIngestion,
) -> None:
    [hired] = await ingestion.translate(landed(hris_worker(2)))
    raise_ = hris_rate("crt_2", "95.00", date(2026, 6, 15))
    [changed] = await ingestion.translate(landed(raise_))
    assert isinstance(changed.payload, CostRateChanged)
    rate = changed.payload.cost_rate
    assert (rate.worker_id, rate.hourly_cost, rate.effective_from, rate.effective_to) == (
        WORKER_ID, Money.of("95.00", "EUR"), date(2026, 6, 15), None,
    )  # fmt: skip
    assert changed.subject_version > hired.subject_version
    # The same rate again (a duplicate webhook), and the hire's own rate: nothing new.
    assert await ingestion.translate(landed(raise_)) == []
    assert await ingestion.translate(landed(hris_rate("crt_1", "80.00", date(2026, 3, 2)))) == []
    # A later worker version after the rate keeps above it (its floor is its own number).
    [updated] = await ingestion.translate(landed(hris_worker(3, org_unit="ou-cloud")))
    assert updated.subject_version == changed.subject_version + 1


async def test_a_correction_of_a_dated_rate_is_news(ingestion: HrisIngestion) -> None:
    await ingestion.translate(landed(hris_worker()))
    written_later = dataclasses.replace(
        hris_rate("crt_1", "82.50", date(2026, 3, 2), version=2),
        updated_at=datetime(2026, 3, 11, tzinfo=UTC),
    )
    [corrected] = await ingestion.translate(landed(written_later))
    assert corrected.payload.cost_rate.hourly_cost == Money.of("82.50", "EUR")


async def test_a_rate_before_its_worker_is_kept_and_the_hire_announces_it(
    ingestion: HrisIngestion, hris: FakeHris
) -> None:
    early = hris_rate("crt_2", "95.00", date(2026, 6, 15))
    assert await ingestion.translate(landed(early)) == []  # no waiting: kept for the hire
    # The hire asks the HRIS for the rates (crt_1, whose webhook never came) and announces
    # the whole series: the rate in force on the start date in the onboarding, the later one
    # after it.
    onboarded, changed = payloads(await ingestion.translate(landed(hris_worker())))
    assert hris.calls == ["cost_rates:wrk_1"]
    assert isinstance(onboarded, ConsultantOnboarded)
    assert onboarded.cost_rate is not None
    assert onboarded.cost_rate.effective_from == date(2026, 3, 2)
    assert onboarded.cost_rate.effective_to == date(2026, 6, 14)
    assert isinstance(changed, CostRateChanged)
    assert changed.cost_rate.effective_from == date(2026, 6, 15)


async def test_a_hire_whose_rates_all_start_later_carries_the_first(
    ingestion: HrisIngestion, hris: FakeHris
) -> None:
    hris.rates.clear()
    hris.add(hris_rate("crt_3", "70.00", date(2026, 4, 1)))
    [onboarded] = payloads(await ingestion.translate(landed(hris_worker())))
    assert onboarded.cost_rate.effective_from == date(2026, 4, 1)


async def test_a_termination_is_announced_with_the_last_day(ingestion: HrisIngestion) -> None:
    await ingestion.translate(landed(hris_worker()))
    leaving = hris_worker(2, termination_date=date(2026, 9, 30))
    [terminated] = payloads(await ingestion.translate(landed(leaving)))
    assert isinstance(terminated, WorkerTerminated)
    assert (terminated.worker_id, terminated.last_day) == (WORKER_ID, date(2026, 9, 30))
    assert terminated.legal_entity_id == "le-de"


async def test_a_transfer_is_a_worker_update_into_the_new_entity(ingestion: HrisIngestion) -> None:
    await ingestion.translate(landed(hris_worker()))
    moved = hris_worker(2, legal_entity="le-us", effective_date=date(2026, 5, 1))
    [envelope] = await ingestion.translate(landed(moved))
    assert isinstance(envelope.payload, WorkerUpdated)
    assert "legal_entity_id" in envelope.payload.changed_fields
    assert envelope.payload.effective_date == date(2026, 5, 1)
    assert (envelope.legal_entity_id, envelope.data_residency_region) == ("le-us", "us")


async def test_an_unknown_status_is_set_aside_with_its_reason(
    ingestion: HrisIngestion, state: MemoryHrisState
) -> None:
    with pytest.raises(RecordRejected, match="'sabbatical'"):
        await ingestion.translate(landed(hris_worker(status="sabbatical")))
    assert state.workers == {}


async def test_a_hris_down_at_a_hire_ends_the_pass(
    ingestion: HrisIngestion, hris: FakeHris
) -> None:
    hris.down = True
    with pytest.raises(SystemUnavailable):
        await ingestion.translate(landed(hris_worker()))


def test_ids_and_roles_are_derived_stably() -> None:
    assert canonical_worker_id("hris", "wrk_1") == "hris-wrk_1"
    unsafe = canonical_worker_id("hris", "wrk 1/ä")
    assert unsafe == canonical_worker_id("hris", "wrk 1/ä") != "hris-wrk 1/ä"
    assert (role_id("Architect"), role_id("Senior Consultant"), role_id(None)) == (
        "architect", "senior-consultant", None,
    )  # fmt: skip
    # The HRIS's title and the PSA's role name one role, whatever their case.
    assert role_id("Consultant") == role_id("consultant") == "consultant"
    assert role_id("!!!") is None
