"""The read model a request's candidates come from, on real PostgreSQL: kept through
staffing-sync's own repositories, read back by ``SqlCandidates`` exactly as ranking needs it —
who may be a candidate over the dates, the cost rate in force on the start, and only the live
bookings that overlap the dates."""

from __future__ import annotations

from datetime import date

import asyncpg

from staffing_sync.adapters.bookings import SqlBookings
from staffing_sync.adapters.repositories import SqlCostRates, SqlSync, SqlWorkers
from staffing_sync.adapters.requests import SqlCandidates
from staffing_sync.bootstrap import DEFINITION
from staffing_sync.domain import Booking
from staffing_sync.domain.staffable import BenchWorker
from staffing_sync.service_layer.mapping import WorkerRecord
from staffing_sync.service_layer.unit_of_work import CandidateQuery, KnownBooking
from tandem_contracts import Money
from tandem_contracts.entities import (
    Assignment,
    AssignmentStatus,
    BookingType,
    CostRate,
    EmploymentType,
    Worker,
    WorkerStatus,
)
from tandem_service_kit import apply_migrations

START, END = date(2026, 6, 8), date(2026, 6, 19)
ROLE = "consultant"


def worker(worker_id: str, **more: object) -> Worker:
    values: dict[str, object] = {
        "id": worker_id, "worker_number": f"E-{worker_id}", "legal_entity_id": "le-de",
        "employment_type": EmploymentType.EMPLOYEE, "status": WorkerStatus.ACTIVE,
        "hire_date": date(2025, 1, 6), "work_country": "DE", "home_currency": "EUR",
    }  # fmt: skip
    return Worker.model_validate(values | more)


def assignment(n: int, worker_id: str, first: date, last: date, **more: object) -> Assignment:
    values: dict[str, object] = {
        "id": f"a-{n}", "project_id": "p-1", "resource_id": f"r-{worker_id}",
        "worker_id": worker_id, "role_id": ROLE, "start_date": first, "end_date": last,
        "minutes_per_day": 240, "total_minutes": 2400, "booking_type": BookingType.HARD,
        "status": AssignmentStatus.CONFIRMED,
    }  # fmt: skip
    return Assignment.model_validate(values | more)


async def keep(
    db: asyncpg.Connection, kept: Worker, *, role: str | None = ROLE, in_psa: bool = True
) -> None:
    await SqlWorkers(db).save(WorkerRecord(kept, kept.legal_entity_id, role, kept.hire_date, 1))
    if in_psa:
        await SqlSync(db).synced(kept.id, "psa", "psa", f"r-{kept.id}", 1)


async def test_candidates_are_who_may_staff_the_dates_with_their_rate_and_live_bookings(
    database_url: str,
) -> None:
    await apply_migrations(database_url, DEFINITION.migrations)
    db = await asyncpg.connect(database_url)
    try:
        # Candidates: w-1 (booked), w-2 (leaves mid-request), w-us (another entity),
        # w-ana (another role). Not: hired after the end, left before the start, terminated,
        # on no PSA resource, without a role.
        await keep(db, worker("w-1"))
        await keep(db, worker("w-2", termination_date=date(2026, 6, 12)))
        await keep(db, worker("w-us", legal_entity_id="le-us", work_country="US"))
        await keep(db, worker("w-ana"), role="analyst")
        await keep(db, worker("w-late", hire_date=date(2026, 6, 22)))
        await keep(db, worker("w-gone", termination_date=date(2026, 6, 5)))
        await keep(db, worker("w-term", status=WorkerStatus.TERMINATED,
                              termination_date=date(2026, 6, 30)))  # fmt: skip
        await keep(db, worker("w-nopsa"), in_psa=False)
        await keep(db, worker("w-norole"), role=None)

        # w-1's rates: one ended before the start, the one in force, one starting later.
        rates = SqlCostRates(db)
        for amount, first, last in (("50.00", date(2025, 1, 6), date(2026, 5, 31)),
                                    ("60.00", date(2026, 6, 1), date(2026, 6, 30)),
                                    ("70.00", date(2026, 7, 1), None)):  # fmt: skip
            rate = CostRate(worker_id="w-1", hourly_cost=Money.of(amount, "EUR"),
                            effective_from=first, effective_to=last)  # fmt: skip
            await rates.keep(rate, 1)

        # w-1's bookings: two over the dates (one soft, unbillable, by total), one before,
        # one after, one completed, one cancelled since (no longer announced).
        bookings = SqlBookings(db)
        made = [
            assignment(1, "w-1", date(2026, 6, 1), date(2026, 6, 10)),
            assignment(2, "w-1", date(2026, 6, 15), date(2026, 6, 26), minutes_per_day=None,
                       booking_type=BookingType.SOFT, billable=False, total_minutes=900),
            assignment(3, "w-1", date(2026, 5, 1), date(2026, 6, 5)),
            assignment(4, "w-1", date(2026, 6, 22), date(2026, 6, 30)),
            assignment(5, "w-1", date(2026, 6, 8), date(2026, 6, 9),
                       status=AssignmentStatus.COMPLETED),
        ]  # fmt: skip
        for n, a in enumerate(made, start=1):
            await bookings.save(KnownBooking(f"b-{n}", "psa", a.id, "w-1", "p-1", 1, 1, a))
        await bookings.save(KnownBooking("b-6", "psa", "a-6", "w-1", "p-1", 2, 2, None, True))

        rows = await SqlCandidates(db).for_request(CandidateQuery(START, END))
        by_id = {row.worker.id: row for row in rows}
        assert list(by_id) == ["w-1", "w-2", "w-ana", "w-us"]  # by worker id

        w1 = by_id["w-1"]
        assert w1.worker == BenchWorker(
            "w-1", "le-de", WorkerStatus.ACTIVE, date(2025, 1, 6), None, "DE"
        )
        assert w1.resource_id == "psa-r-w-1"
        assert [(r.hourly_cost, r.effective_from) for r in w1.cost_rates] == [
            (Money.of("60.00", "EUR"), date(2026, 6, 1))
        ]
        assert w1.bookings == (
            Booking(date(2026, 6, 1), date(2026, 6, 10), BookingType.HARD, 240, 2400, True),
            Booking(date(2026, 6, 15), date(2026, 6, 26), BookingType.SOFT, None, 900, False),
        )
        assert by_id["w-2"].worker.termination_date == date(2026, 6, 12)
        assert by_id["w-2"].cost_rates == ()  # no rate kept: none made up
        assert by_id["w-ana"].role_id == "analyst"

        # Narrowed as the settings ask: the role, the entities.
        narrowed = await SqlCandidates(db).for_request(
            CandidateQuery(START, END, role_id=ROLE, entities=("le-de",))
        )
        assert [row.worker.id for row in narrowed] == ["w-1", "w-2"]
        assert narrowed[0] == w1  # its rate and bookings read the same way
    finally:
        await db.close()
