"""Requests and options end to end (slice 5): staffing-sync's api and worker on real PostgreSQL
and RabbitMQ beside the sandbox PSA and ERP, run by the PSA flows' harness. Workers, a
booking, projects and a card are announced as their producers publish them; a
``ResourceRequested`` gets one ranked ``StaffingOptionsProposed``, kept and shown by the API."""

from __future__ import annotations

from datetime import date
from typing import Any

from tandem_contracts import Money
from tandem_contracts.entities import ResourceRequest, ResourceRequestStatus
from tandem_contracts.events import ResourceRequested
from tandem_testing import eventually, sibling_module

flow = sibling_module(__file__, "harness.py", "staffing_sync_psa_harness")


START, END = date(2026, 4, 6), date(2026, 4, 17)


def requested(request_id: str, project_id: str, version: int, minutes: int = 4800) -> Any:
    request = ResourceRequest(
        id=request_id, project_id=project_id, role_id=flow.ROLE, minutes=minutes,
        start_date=START, end_date=END, status=ResourceRequestStatus.READY_TO_STAFF,
    )  # fmt: skip
    return flow.envelope(ResourceRequested(request=request), version)


async def test_a_request_gets_ranked_options_once_and_waits_for_its_project(
    database_url: str, amqp_url: str
) -> None:
    async with flow.running(database_url, amqp_url) as staffing:
        # Three German workers and a US one are onboarded (cost 80 EUR an hour each); a German
        # project is active with its own card (180 EUR for the role).
        workers = ("w-a", "w-b", "w-c")
        await staffing.announce(*(flow.onboarded(w, "le-de") for w in workers),
                                flow.onboarded("w-us", "le-us"))  # fmt: skip
        made = await flow.ok(await staffing.psa.post(
            "/v1/projects", json={"name": "Rollout", "currency": "EUR", "status": "in_progress"}
        ))  # fmt: skip
        await staffing.announce(
            flow.activated("p-1", made["id"]), flow.published("rc-p-1", "180.00", "p-1")
        )
        resources = {w: await staffing.resource(w) for w in (*workers, "w-us")}

        # w-a is booked half-time over the request's dates.
        booking = await staffing.book(made["id"], resources["w-a"], "2026-04-06", "2026-04-17")
        await staffing.announces(booking, "AssignmentConfirmed")

        # A request for the role over those two weeks: one proposal, the free German workers
        # first (tied, by worker id), the US worker next (intercompany not allowed), w-a last.
        await staffing.announce(requested("rq-1", "p-1", 1))
        await staffing.announces("rq-1", "StaffingOptionsProposed")
        [proposed] = await staffing.announced("rq-1", "StaffingOptionsProposed")
        options = proposed.payload.options
        assert [o.worker_id for o in options] == ["w-b", "w-c", "w-us", "w-a"]
        assert options[0].resource_id == f"psa-{resources['w-b']}"
        assert [o.available_minutes for o in options] == [4800, 4800, 4800, 2400]
        assert all(o.proposed_rate == Money.of("180.00", "EUR") for o in options)
        assert options[2].reasons[0] == "warning: intercompany_not_allowed"
        assert options[3].reasons[1].startswith("below rank 3 on availability")
        assert proposed.subject_version == 2
        assert proposed.legal_entity_id == "le-de"

        # The API shows it, with every option's breakdown.
        shown = await flow.ok(await staffing.api.get("/v1/requests/rq-1"))
        assert shown["status"] == "proposed"
        assert [o["worker_id"] for o in shown["options"]] == ["w-b", "w-c", "w-us", "w-a"]
        availability = shown["options"][3]["breakdown"][1]
        assert (availability["factor"], availability["score"]) == ("availability", "0.50")
        assert shown["excluded"] == []

        # The same request redelivered proposes nothing; a newer version of it (same lane,
        # after it) proposes again, so exactly two proposals show the redelivery was dropped.
        await staffing.announce(requested("rq-1", "p-1", 1))
        await staffing.announce(requested("rq-1", "p-1", 2, minutes=2400))
        await staffing.announces("rq-1", "StaffingOptionsProposed", count=2)
        proposals = await staffing.announced("rq-1", "StaffingOptionsProposed")
        assert len(proposals) == 2
        assert proposals[1].subject_version == 3

        # A request for a project staffing-sync does not know waits, shown as waiting...
        await staffing.announce(requested("rq-2", "p-2", 1))

        async def waits() -> bool:
            answer = await staffing.api.get("/v1/requests/rq-2")
            return answer.is_success and bool(answer.json()["status"] == "waiting")

        await eventually(waits, within=30, what="rq-2 waiting for its project")
        assert await staffing.announced("rq-2", "StaffingOptionsProposed") == []

        # ...until its project is activated: then it is proposed for.
        other = await flow.ok(await staffing.psa.post(
            "/v1/projects", json={"name": "Audit", "currency": "EUR", "status": "in_progress"}
        ))  # fmt: skip
        await staffing.announce(flow.activated("p-2", other["id"]))
        await staffing.announces("rq-2", "StaffingOptionsProposed")
        [released] = await staffing.announced("rq-2", "StaffingOptionsProposed")
        assert [o.worker_id for o in released.payload.options][:2] == ["w-b", "w-c"]

        # The list: newest first, filtered by project.
        listed = await flow.ok(await staffing.api.get("/v1/requests"))
        assert [r["request_id"] for r in listed["items"]] == ["rq-2", "rq-1"]
        of_p1 = await flow.ok(await staffing.api.get("/v1/requests", params={"project_id": "p-1"}))
        assert [r["request_id"] for r in of_p1["items"]] == ["rq-1"]
