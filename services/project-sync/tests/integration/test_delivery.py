"""After activation: project-sync hears the sandbox PSA (closed for time, milestones, change
orders) by polling, and the staffing side's assignments from the broker, on real PostgreSQL and
RabbitMQ. Every assertion reads project-sync's API, its outbox or the landing table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from project_sync.service_layer.ingest import canonical_id
from tandem_connectors.landing import Landing
from tandem_contracts import Envelope, Producer
from tandem_contracts.entities import Assignment, AssignmentStatus, BookingType
from tandem_contracts.events import AssignmentCancelled, AssignmentConfirmed
from tandem_messaging import Outbox
from tandem_testing import eventually

from .test_quote_to_cash import VALID_VAT, Q2c, ok, running

TODAY = datetime.now(UTC).date()


async def activated(q2c: Q2c, name: str) -> tuple[str, dict[str, Any]]:
    """A won opportunity's project, run to active (its contract made from the deal)."""
    account = await q2c.account(name, "DE", VALID_VAT)
    deal = await q2c.opportunity(account)
    await q2c.stage(deal, "Closed Won")
    opportunity = canonical_id("crm", deal)
    return opportunity, await q2c.reaches(opportunity, "active")


async def settled(q2c: Q2c) -> None:
    """Wait until every landed PSA record is ingested."""

    async def none_pending() -> bool:
        pending = await q2c.pool.fetchval(
            "SELECT count(*) FROM connectors.inbound WHERE system = 'psa' AND status = 'pending'"
        )
        return int(pending) == 0

    await eventually(none_pending, what="every landed PSA record ingested", within=20)


async def published_once(q2c: Q2c, event_type: str, opportunity: str) -> dict[str, Any]:
    """Wait for ``event_type`` of the opportunity in the outbox; answer its envelope."""

    async def there() -> bool:
        return await q2c.published(event_type, opportunity) >= 1

    await eventually(there, what=f"{event_type} of {opportunity}", within=20)
    body = await q2c.pool.fetchval(
        "SELECT body FROM messaging.outbox WHERE event_type = $1 AND correlation_id = $2",
        event_type,
        opportunity,
    )
    envelope: dict[str, Any] = json.loads(body)
    return envelope


async def subject_version(q2c: Q2c, event_type: str, opportunity: str) -> int:
    envelope = await published_once(q2c, event_type, opportunity)
    return int(envelope["subject_version"])


async def test_a_project_completed_in_the_psa_is_closed_for_time_once(
    database_url: str, amqp_url: str
) -> None:
    fast = {"sow_from_opportunity": True, "poll_interval_s": 0.1}
    async with running(database_url, amqp_url, **fast) as q2c:
        opportunity, active = await activated(q2c, "Globex GmbH")
        psa_project, code = active["psa"]["ref"], active["project_code"]

        # The project manager completes the project in the PSA.
        done = {"status": "completed", "open_for_time": False, "end_date": str(TODAY)}
        await ok(await q2c.psa.patch(f"/v1/projects/{psa_project}", json=done))
        closed = await published_once(q2c, "ProjectClosedForTime", opportunity)
        assert closed["payload"]["project_id"] == active["project_id"]
        assert closed["payload"]["closed_from"] == str(TODAY)  # never before it opened
        assert closed["legal_entity_id"] == "le-de"
        assert closed["data_residency_region"] == "eu"
        activated_version = await subject_version(q2c, "ProjectActivated", opportunity)
        assert closed["subject_version"] > activated_version

        # Later versions of the closed project (and a redelivery) announce nothing new.
        await ok(await q2c.psa.patch(f"/v1/projects/{psa_project}", json={"name": "Done"}))
        again = await ok(await q2c.psa.get(f"/v1/projects/{psa_project}"))
        async with q2c.pool.acquire() as db:
            await Landing(db).land("psa", "psa", "project", again, "webhook")
        await settled(q2c)
        assert await q2c.published("ProjectClosedForTime", opportunity) == 1

        # The billing code refuses time from closed_from on.
        check = await ok(
            await q2c.api.get(f"/v1/billing-codes/{code}", params={"date": str(TODAY)})
        )
        assert check == check | {"open": False, "reason": "closed_for_time"}
        assert check["closed_from"] == str(TODAY)


async def test_a_completed_milestone_and_an_approved_change_order_are_announced_once(
    database_url: str, amqp_url: str
) -> None:
    fast = {"sow_from_opportunity": True, "poll_interval_s": 0.1}
    async with running(database_url, amqp_url, **fast) as q2c:
        opportunity, active = await activated(q2c, "Initech GmbH")
        psa_project, project_id = active["psa"]["ref"], active["project_id"]

        # A billing milestone is completed in the PSA (and then renamed: a new version).
        task = {"project_id": psa_project, "type": "milestone", "name": "Go-live",
                "billing_amount": "25000.00", "due_date": str(TODAY)}  # fmt: skip
        made = await ok(await q2c.psa.post("/v1/tasks", json=task))
        await ok(await q2c.psa.patch(f"/v1/tasks/{made['id']}", json={"status": "completed"}))
        completed = await published_once(q2c, "MilestoneCompleted", opportunity)
        milestone = completed["payload"]["milestone"]
        assert milestone["project_id"] == project_id
        assert milestone["amount"] == {"amount": "25000.00", "currency": "EUR"}
        assert milestone["status"] == "completed"
        await ok(await q2c.psa.patch(f"/v1/tasks/{made['id']}", json={"name": "Go-live done"}))

        # A change order is raised, submitted and approved.
        change = {"project_id": psa_project, "description": "Phase 2", "budget_minutes": 48_000,
                  "budget_amount": "150000.00", "total_value": "150000.00",
                  "cap": "160000.00", "effective_from": str(TODAY)}  # fmt: skip
        order = await ok(await q2c.psa.post("/v1/change-orders", json=change))
        await ok(await q2c.psa.post(f"/v1/change-orders/{order['id']}/submit"))
        await ok(await q2c.psa.post(f"/v1/change-orders/{order['id']}/approve", json={}))
        approved = await published_once(q2c, "ChangeOrderApproved", opportunity)
        payload = approved["payload"]
        assert payload["project_id"] == project_id
        assert payload["budget"]["minutes"] == 48_000
        assert payload["budget"]["amount"] == {"amount": "150000.00", "currency": "EUR"}
        assert payload["cap"] == {"amount": "160000.00", "currency": "EUR"}
        assert payload["contract_id"] == active["contract_id"]
        activated_version = await subject_version(q2c, "ProjectActivated", opportunity)
        assert approved["subject_version"] > activated_version

        await settled(q2c)
        assert await q2c.published("MilestoneCompleted", opportunity) == 1
        assert await q2c.published("ChangeOrderApproved", opportunity) == 1
        cap = await q2c.pool.fetchval(
            "SELECT cap FROM project_sync.projects WHERE project_id = $1", project_id
        )
        assert json.loads(cap) == {"amount": "160000.00", "currency": "EUR"}


async def test_records_of_a_project_not_ours_are_ignored_and_bad_ones_set_aside(
    database_url: str, amqp_url: str
) -> None:
    async with running(database_url, amqp_url, poll_interval_s=0.1) as q2c:
        # A project made in the PSA by hand: no saga of project-sync made it.
        stranger = await ok(
            await q2c.psa.post("/v1/projects", json={"name": "Internal", "currency": "EUR"})
        )
        await ok(await q2c.psa.patch(f"/v1/projects/{stranger['id']}", json={
            "status": "completed"}))  # fmt: skip
        # A change order record the PSA could never have sent (no effective date).
        broken = {
            "id": "cho_broken",
            "version": 1,
            "project_id": stranger["id"],
            "status": "approved",
            "currency": "EUR",
            "updated_at": "2026-01-01T00:00:00Z",
        }
        async with q2c.pool.acquire() as db:
            await Landing(db).land("psa", "psa", "change_order", broken, "webhook")

        async def both_settled() -> bool:
            rows = await q2c.pool.fetch(
                "SELECT record_id, status FROM connectors.inbound WHERE system = 'psa' "
                "AND record_id = ANY($1::text[]) AND status <> 'pending'",
                [stranger["id"], "cho_broken"],
            )
            return {row["record_id"] for row in rows} == {stranger["id"], "cho_broken"}

        await eventually(both_settled, what="the stranger's and the broken record", within=20)
        rows = await q2c.pool.fetch(
            "SELECT record_id, status, detail FROM connectors.inbound WHERE system = 'psa'"
        )
        stranger_rows = [row for row in rows if row["record_id"] == stranger["id"]]
        assert stranger_rows
        assert {row["status"] for row in stranger_rows} == {"ignored"}
        [rejected] = [row for row in rows if row["record_id"] == "cho_broken"]
        assert rejected["status"] == "rejected"
        assert "effective_from" in rejected["detail"]
        assert await q2c.pool.fetchval(
            "SELECT count(*) FROM messaging.outbox WHERE event_type IN "
            "('ProjectClosedForTime', 'ChangeOrderApproved')"
        ) == 0  # fmt: skip


def staffing(
    event: AssignmentConfirmed | AssignmentCancelled, version: int, key: str | None = None
) -> Envelope[Any]:
    return Envelope.new(
        event, producer=Producer(service="staffing-sync"), tenant_id="acme",
        legal_entity_id="le-de", data_residency_region="eu", correlation_id="asg-1",
        subject_version=version, idempotency_key=key,
    )  # fmt: skip


async def test_assignments_decide_who_may_book_to_a_project_that_requires_them(
    database_url: str, amqp_url: str
) -> None:
    settings = {"sow_from_opportunity": True, "time_requires_assignment": True}
    async with running(database_url, amqp_url, **settings) as q2c:
        opportunity, active = await activated(q2c, "Hooli GmbH")
        code, project_id = active["project_code"], active["project_id"]
        flags = (await published_once(q2c, "ProjectActivated", opportunity))["payload"]
        assert flags["project"]["flags"]["time_requires_assignment"] is True

        async def check(worker: str) -> dict[str, Any]:
            params = {"date": str(TODAY), "worker": worker}
            return await ok(await q2c.api.get(f"/v1/billing-codes/{code}", params=params))

        assert (await check("w-1"))["reason"] == "worker_not_assigned"

        # The staffing side confirms Ada (w-1) on the project.
        assignment = Assignment(
            id="asg-1", project_id=project_id, resource_id="res-1", worker_id="w-1",
            role_id="consultant", start_date=TODAY - timedelta(days=1),
            end_date=TODAY + timedelta(days=30), total_minutes=9600,
            booking_type=BookingType.HARD, status=AssignmentStatus.CONFIRMED,
        )  # fmt: skip
        confirmed = AssignmentConfirmed(assignment=assignment, confirmed_at=datetime.now(UTC))
        async with q2c.pool.acquire() as db, db.transaction():
            await Outbox().add(db, staffing(confirmed, 1))

        async def open_for(worker: str) -> bool:
            return bool((await check(worker))["open"])

        await eventually(lambda: open_for("w-1"), what="w-1 may book", within=20)
        assert (await check("w-2")) == (await check("w-2")) | {
            "open": False, "reason": "worker_not_assigned"}  # fmt: skip

        # Cancelled, it no longer lets her book.
        cancelled = AssignmentCancelled(
            assignment_id="asg-1", project_id=project_id, reason="moved",
            cancelled_at=datetime.now(UTC),
        )  # fmt: skip
        async with q2c.pool.acquire() as db, db.transaction():
            await Outbox().add(db, staffing(cancelled, 2))

        async def refused() -> bool:
            return bool((await check("w-1"))["reason"] == "worker_not_assigned")

        await eventually(refused, what="w-1 refused after the cancellation", within=20)
        # The confirmation delivered late (an older version) does not bring it back.
        async with q2c.pool.acquire() as db, db.transaction():
            await Outbox().add(db, staffing(confirmed, 1, key="asg-1:late"))

        async def handled() -> bool:
            return bool(
                await q2c.pool.fetchval(
                    "SELECT count(*) FROM messaging.inbox WHERE idempotency_key = 'asg-1:late'"
                )
            )

        await eventually(handled, what="the late confirmation handled", within=20)
        assert (await check("w-1"))["reason"] == "worker_not_assigned"
        status = await q2c.pool.fetchval(
            "SELECT status FROM project_sync.project_assignments WHERE assignment_id = 'asg-1'"
        )
        assert status == "cancelled"
