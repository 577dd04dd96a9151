"""Exceptions are typed and visible; what waits for a dependency is released when it arrives."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tandem_contracts.events import ProjectClosedForTime
from tandem_sandbox import Sandbox

from .harness import Deployment, announce, clients, eventually, weekdays
from .story import build, decide, log_week, onboarding, posted_count, psa_approved, the_firm

WEEK = weekdays(date(2026, 10, 5), date(2026, 10, 9))


async def test_waiting_and_refused_entries_are_visible_with_their_reasons(
    sandbox: Sandbox, deployment: Deployment
) -> None:
    firm = the_firm(us_consultants=4, de_consultants=2)
    newcomer = firm.consultants[0]  # logs time before HR's onboarding reaches Tandem
    closed = firm.consultants[-1]  # works on the German project, closed for time meanwhile
    async with clients(sandbox, deployment) as http:
        deployment.start("api")
        deployment.start("worker")
        await deployment.wait_api()
        await deployment.wait_workers()
        await build(
            firm,
            deployment,
            http.erp,
            http.psa,
            crm_url=sandbox.urls["crm"],
            not_onboarded=frozenset({newcomer.worker_id}),
        )
        closing = ProjectClosedForTime(
            project_id=firm.canonical[closed.project_id], closed_from=date(2026, 10, 1),
            reason="contract ended", closed_at=datetime.now(UTC),
        )  # fmt: skip
        # Announced by hand: the PSA would refuse the week's time on a project it closed.
        # Version 3: after project-sync's ProjectActivated (2), as its own closing would be.
        await announce(deployment.amqp_url, (closing, "le-de", "eu", 3))
        for sheet in (await log_week(firm, http.psa, WEEK)).values():
            await decide(http.psa, sheet, "submit", "approve")
        approved = len(await psa_approved(http.psa))
        german = sum(1 for c in firm.consultants if c.project_id == closed.project_id)
        held = len(WEEK) * (1 + german)

        # Everything else posts; the newcomer's entries wait, the closed project's are refused.
        async def the_rest_posted() -> bool:
            return await posted_count(deployment.database_url) == approved - held

        await eventually(the_rest_posted, within=120, what="the postable entries to post")

        async def exceptions(**filters: str) -> list[dict[str, object]]:
            answer = await http.api.get("/v1/exceptions", params=filters)
            assert answer.status_code == 200, answer.text
            return list(answer.json()["items"])

        async def all_visible() -> bool:
            return len(await exceptions()) == held

        await eventually(all_visible, within=60, what="every held entry to show as an exception")
        refused = await exceptions(reason="project_not_open")
        waiting = await exceptions(reason="worker_not_mapped")
        assert len(refused) == len(WEEK) * german
        assert {e["retryable"] for e in refused} == {False}
        assert {e["legal_entity_id"] for e in refused} == {"le-de"}
        assert all("closed for time" in str(e["detail"]) for e in refused)
        assert await exceptions(reason="project_not_open", legal_entity_id="le-us") == []
        assert len(waiting) == len(WEEK)
        assert {e["retryable"] for e in waiting} == {True}
        bad = await http.api.get("/v1/exceptions", params={"reason": "no_such_reason"})
        assert bad.status_code == 422

        # HR's onboarding arrives: the newcomer's entries are released and post by themselves.
        await announce(deployment.amqp_url, onboarding(newcomer))

        async def released() -> bool:
            return await posted_count(deployment.database_url) == approved - len(WEEK) * german

        await eventually(released, within=60, what="the newcomer's entries to post")
        assert await exceptions(reason="worker_not_mapped") == []
        assert len(await exceptions(reason="project_not_open")) == len(WEEK) * german
