"""SIGKILL the time-expense worker mid-stream: after a restart the ERP still equals the PSA."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from tandem_sandbox import Sandbox

from .harness import Deployment, clients, eventually, weekdays
from .story import (
    build,
    decide,
    erp_time_bills,
    erp_totals_by_project,
    log_week,
    posted_count,
    psa_approved,
    the_firm,
    totals_by_project,
)

DAYS = weekdays(date(2026, 10, 5), date(2026, 10, 16))


async def test_a_killed_worker_restarts_without_loss_or_duplicates(
    sandbox: Sandbox, deployment: Deployment
) -> None:
    firm = the_firm(us_consultants=8, de_consultants=4)
    async with clients(sandbox, deployment) as http:
        deployment.start("api")
        deployment.start_workers()
        await deployment.wait_api()
        await deployment.wait_workers()
        await build(firm, deployment, http.erp, http.psa, crm_url=sandbox.urls["crm"])
        # A slow ERP keeps the stream flowing long enough to kill the worker inside it.
        answer = await http.control.put("/_sandbox/faults/erp", json={"latency_ms": 120})
        assert answer.status_code == 200, answer.text
        for week in (DAYS[:5], DAYS[5:]):
            for sheet in (await log_week(firm, http.psa, week)).values():
                await decide(http.psa, sheet, "submit", "approve")
        total = len(await psa_approved(http.psa))

        # Mid-stream: some entries posted, not all. SIGKILL both worker processes (the
        # consumer, and ingest with the relay), then start new ones.
        async def some_posted() -> bool:
            return await posted_count(deployment.database_url) >= total // 4

        await eventually(
            some_posted, within=120, what="a quarter of the entries posted", every=0.05
        )
        deployment.kill("worker")
        deployment.kill("ingest")
        at_kill = await posted_count(deployment.database_url)
        assert at_kill < total, "the kill must land mid-stream"
        deployment.start_workers()

        expected = totals_by_project(firm, await psa_approved(http.psa))

        async def settled() -> bool:
            return erp_totals_by_project(firm, await erp_time_bills(http.erp_http)) == expected

        await eventually(settled, within=180, what="the ERP to equal the PSA", every=0.5)
        bills = await erp_time_bills(http.erp_http)
        lines: dict[str, int] = defaultdict(int)
        for bill in bills:
            lines[bill["external_id"].split(":")[1]] += 1
        assert len(lines) == total
        assert set(lines.values()) == {1}, "an entry was posted twice"
        assert await posted_count(deployment.database_url) == total
