"""PSA resource requests end to end: a request made in the sandbox PSA reaches staffing-sync by
signed webhooks (every one delivered twice) and by the polled ``resource-requests`` feed, and
becomes exactly one ``ResourceRequested`` per version; staffing-sync answers it with options
(shown by ``/v1/requests/{id}``), a cancellation in the PSA closes it, and a request for a
project not activated here waits for its ``ProjectActivated``. staffing-sync's api and worker
run on real PostgreSQL and RabbitMQ beside the in-process sandbox (``harness``)."""

from __future__ import annotations

from typing import Any

from tandem_contracts.entities import ResourceRequestStatus
from tandem_testing import eventually, sibling_module

flow = sibling_module(__file__, "harness.py", "staffing_sync_psa_harness")


_LANDED = """
SELECT version, via, status, detail FROM connectors.inbound
WHERE system = 'psa' AND record_type = 'resource_request' AND record_id = $1 ORDER BY version
"""


async def landed(staffing: Any, record_id: str) -> list[dict[str, Any]]:
    """The versions of a PSA request staffing-sync landed: each once, however it came."""
    return [dict(row) for row in await staffing.pool.fetch(_LANDED, record_id)]


async def shown(staffing: Any, request_id: str) -> dict[str, Any] | None:
    answer = await staffing.api.get(f"/v1/requests/{request_id}")
    return None if answer.status_code == 404 else await flow.ok(answer)


async def test_psa_requests_are_announced_once_per_version_proposed_for_closed_and_wait(
    database_url: str, amqp_url: str
) -> None:
    async with flow.running(database_url, amqp_url, webhooks=True) as staffing:
        # Two German workers are onboarded; a German project is active with its own card.
        await staffing.announce(flow.onboarded("w-a", "le-de"), flow.onboarded("w-b", "le-de"))
        project = await flow.ok(await staffing.psa.post(
            "/v1/projects", json={"name": "Rollout", "currency": "EUR", "status": "in_progress"}
        ))  # fmt: skip
        await staffing.announce(
            flow.activated("p-1", project["id"]), flow.published("rc-p-1", "180.00", "p-1")
        )
        for worker in ("w-a", "w-b"):
            await staffing.resource(worker)

        # From now on the PSA delivers every webhook twice; its feed is polled as well.
        await staffing.faults(webhook_duplicate_pct=100)
        asked = await staffing.ask(project["id"])
        request_id = f"psa-{asked['id']}"

        # staffing-sync proposes options for it, shown by its API.
        await staffing.announces(request_id, "StaffingOptionsProposed")
        proposal = await shown(staffing, request_id)
        assert proposal is not None
        assert proposal["status"] == "proposed"
        assert [o["worker_id"] for o in proposal["options"]] == ["w-a", "w-b"]

        # Both deliveries came and the poll read past it: one ResourceRequested all the same.
        async def delivered_twice() -> bool:
            counters: dict[str, int] = await staffing.counters()
            return counters.get("webhook_duplicated", 0) >= 1 and (
                counters.get("webhook_delivered", 0) >= 2
            )

        await eventually(delivered_twice, within=30, what="the request's webhook twice")
        await staffing.polled("resource-requests", asked)
        [requested] = await staffing.announced(request_id, "ResourceRequested")
        request = requested.payload.request
        assert (request.project_id, request.role_id, request.minutes) == ("p-1", "r-consultant",
                                                                          4800)  # fmt: skip
        assert request.status is ResourceRequestStatus.READY_TO_STAFF
        assert (requested.subject_version, requested.legal_entity_id) == (1, "le-de")
        assert [(row["version"], row["status"]) for row in await landed(staffing, asked["id"])] == [
            (1, "published")
        ]

        # Cancelled in the PSA: a second ResourceRequested, cancelled, closes the request.
        cancelled = await flow.ok(await staffing.psa.patch(
            f"/v1/resource-requests/{asked['id']}", json={"status": "cancelled"}
        ))  # fmt: skip
        await staffing.announces(request_id, "ResourceRequested", count=2)

        async def closed() -> bool:
            known = await shown(staffing, request_id)
            return known is not None and known["status"] == "closed"

        await eventually(closed, within=30, what="the request closed")
        await staffing.polled("resource-requests", cancelled)
        both = await staffing.announced(request_id, "ResourceRequested")
        assert [(e.subject_version, e.payload.request.status) for e in both] == [
            (1, ResourceRequestStatus.READY_TO_STAFF), (2, ResourceRequestStatus.CANCELLED),
        ]  # fmt: skip
        assert len(await staffing.announced(request_id, "StaffingOptionsProposed")) == 1

        # A request on a project staffing-sync has not seen activated waits, with why...
        other = await flow.ok(await staffing.psa.post(
            "/v1/projects", json={"name": "Audit", "currency": "EUR", "status": "in_progress"}
        ))  # fmt: skip
        later = await staffing.ask(other["id"], minutes=2400)
        later_id = f"psa-{later['id']}"

        async def waits() -> bool:
            rows = await landed(staffing, later["id"])
            return bool(rows) and "waits for PSA project" in (rows[0]["detail"] or "")

        await eventually(waits, within=30, what="the later request waiting")
        await staffing.polled("resource-requests", later)
        assert [row["status"] for row in await landed(staffing, later["id"])] == ["pending"]
        assert await staffing.announced(later_id, "ResourceRequested") == []

        # ...until the project is activated: then it is announced on it, and proposed for.
        await staffing.announce(flow.activated("p-2", other["id"]))
        await staffing.announces(later_id, "StaffingOptionsProposed")
        [released] = await staffing.announced(later_id, "ResourceRequested")
        assert (released.payload.request.project_id, released.subject_version) == ("p-2", 1)
        proposed = await shown(staffing, later_id)
        assert proposed is not None
        assert (proposed["status"], proposed["project_id"]) == ("proposed", "p-2")
