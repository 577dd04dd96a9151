"""PSA bookings end to end: staffing-sync's api and worker on real PostgreSQL and RabbitMQ,
beside the in-process sandbox PSA and ERP (``harness``). Workers, the project and the rate cards
are announced through the outbox, as their producers publish them; bookings are made in the
sandbox PSA and its ``assignments`` feed is polled. Assertions read staffing-sync's outbox (the
events it announced), its API and the sandbox PSA."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from tandem_contracts import Money
from tandem_contracts.events import WorkerTerminated
from tandem_testing import sibling_module

flow = sibling_module(__file__, "harness.py", "staffing_sync_psa_harness")


async def test_bookings_become_assignments_rated_warned_cancelled_and_ended_at_the_last_day(
    database_url: str, amqp_url: str
) -> None:
    async with flow.running(database_url, amqp_url) as staffing:
        # A German and a US worker are onboarded; a German project is active in the PSA, with
        # a tenant card and the project's own card published.
        await staffing.announce(flow.onboarded("w-de", "le-de"), flow.onboarded("w-us", "le-us"))
        made = await flow.ok(await staffing.psa.post(
            "/v1/projects", json={"name": "Rollout", "currency": "EUR", "status": "in_progress"}
        ))  # fmt: skip
        await staffing.announce(
            flow.activated("p-1", made["id"]), flow.published("rc-tenant", "150.00"),
            flow.published("rc-p-1", "180.00", project_id="p-1"),
        )  # fmt: skip
        german, american = await staffing.resource("w-de"), await staffing.resource("w-us")

        # A hard booking, the PSA showing its own rate: confirmed once, the project's card
        # frozen on it with its source, the worker's cost at the start.
        first = await staffing.book(made["id"], german, "2026-04-06", "2026-04-17",
                                    bill_rate="140.00", currency="EUR")  # fmt: skip
        await staffing.announces(first, "AssignmentConfirmed")
        [confirmed] = await staffing.announced(first, "AssignmentConfirmed")
        assignment = confirmed.payload.assignment
        assert (assignment.project_id, assignment.worker_id) == ("p-1", "w-de")
        assert assignment.bill_rate == Money.of("180.00", "EUR")
        assert assignment.rate_source.rate_card_id == "rc-p-1"
        assert assignment.rate_source.scope_level == "project"
        assert assignment.cost_rate == Money.of("80.00", "EUR")
        assert assignment.total_minutes == 10 * 240
        status = await staffing.booking(first)
        assert (status["status"], status["warnings"]) == ("confirmed", ["psa_rate_differs"])

        # The US worker on the German project: confirmed, with the intercompany warning.
        across = await staffing.book(made["id"], american, "2026-04-06", "2026-04-10")
        await staffing.announces(across, "AssignmentConfirmed")
        warned = await staffing.booking(across)
        assert warned["warnings"] == ["intercompany_not_allowed"]
        rate = warned["assignment"]["bill_rate"]
        assert (Decimal(rate["amount"]), rate["currency"]) == (Decimal(180), "EUR")

        # Cancelled in the PSA: AssignmentCancelled, after the confirmation.
        await flow.ok(await staffing.psa.patch(f"/v1/assignments/{across.removeprefix('psa-')}",
                                          json={"status": "cancelled"}))  # fmt: skip
        await staffing.announces(across, "AssignmentCancelled")
        [cancelled] = await staffing.announced(across, "AssignmentCancelled")
        assert cancelled.payload.project_id == "p-1"
        assert cancelled.subject_version == 2
        assert (await staffing.booking(across))["status"] == "cancelled"

        # The German worker leaves on 30 June: the July booking is cancelled in the PSA and
        # announced cancelled; the one across the last day ends on it and is re-announced.
        after = await staffing.book(made["id"], german, "2026-07-06", "2026-07-17")
        straddling = await staffing.book(made["id"], german, "2026-06-22", "2026-07-03")
        await staffing.announces(after, "AssignmentConfirmed")
        await staffing.announces(straddling, "AssignmentConfirmed")
        leaving = WorkerTerminated(
            worker_id="w-de", legal_entity_id="le-de", last_day=date(2026, 6, 30),
            terminated_at=datetime.now(UTC),
        )  # fmt: skip
        await staffing.announce(flow.envelope(leaving, 2))
        await staffing.announces(after, "AssignmentCancelled")
        psa_after = await flow.ok(await staffing.psa.get(f"/v1/assignments/{after[4:]}"))
        assert psa_after["status"] == "cancelled"
        await staffing.announces(straddling, "AssignmentConfirmed", count=2)
        ended = (await staffing.announced(straddling, "AssignmentConfirmed"))[-1]
        assert ended.payload.assignment.end_date == date(2026, 6, 30)
        assert ended.payload.assignment.bill_rate == Money.of("180.00", "EUR")  # still frozen
        psa_straddling = await flow.ok(await staffing.psa.get(f"/v1/assignments/{straddling[4:]}"))
        assert (psa_straddling["status"], psa_straddling["end_date"]) == ("active", "2026-06-30")
        # Nothing was announced twice, and the first booking stays as it was.
        assert len(await staffing.announced(after, "AssignmentCancelled")) == 1
        assert len(await staffing.announced(first, "AssignmentConfirmed")) == 1
        assert len(await staffing.announced(first, "AssignmentCancelled")) == 0
