"""The real ERP flavour: time-expense posts approved time into Tryton, and reverses it there."""

from __future__ import annotations

from datetime import date

from tandem_connectors.tryton import TrytonClient, TrytonErp
from tandem_sandbox import Sandbox
from tandem_testing import TrytonServer

from .harness import WEBHOOK_SECRET, Deployment, clients, eventually, weekdays
from .story import build, decide, log_week, minutes_on, posted_count, psa_approved, the_firm

WEEK = weekdays(date(2026, 10, 19), date(2026, 10, 23))


async def test_approved_time_posts_into_tryton_exactly_once_and_a_rejection_reverses_it(
    sandbox: Sandbox, deployment: Deployment, tryton: TrytonServer
) -> None:
    deployment.erp_instances["erp-sandbox"] = {
        "kind": "tryton", "url": tryton.url, "database": tryton.database,
        "user": tryton.user, "password": tryton.password,
    }  # fmt: skip
    firm = the_firm(us_consultants=3, de_consultants=1)
    async with (
        clients(sandbox, deployment) as http,
        TrytonClient(tryton.url, tryton.database, tryton.user, tryton.password,
                     instance="erp-sandbox") as client,
    ):  # fmt: skip
        erp = TrytonErp(client, instance="erp-sandbox")
        deployment.start("api")
        deployment.start("worker")
        await deployment.wait_api()
        await deployment.wait_workers()
        await build(firm, deployment, erp, http.psa, crm_url=sandbox.urls["crm"])
        answer = await http.psa.post("/v1/webhooks", json={
            "url": f"{deployment.api_url}/v1/inbound/psa/psa", "secret": WEBHOOK_SECRET,
            "event_types": ["time_entry.approved", "time_entry.rejected"],
        })  # fmt: skip
        assert answer.status_code == 201, answer.text
        sheets = await log_week(firm, http.psa, WEEK)
        for sheet in sheets.values():
            await decide(http.psa, sheet, "submit", "approve")
        approved = await psa_approved(http.psa)

        async def all_posted() -> bool:
            return await posted_count(deployment.database_url) == len(approved)

        await eventually(all_posted, within=120, what="the approved time to post into Tryton")

        # One consultant's week is rejected after posting: Tryton's lines are reversed.
        rejected = firm.consultants[0]
        await decide(http.psa, sheets[rejected.worker_id], "reject")
        rejected_minutes = sum(minutes_on(rejected.worker_id, day) for day in WEEK)

        async def lines_of(entity: str) -> list[tuple[str | None, int]]:
            found = await erp.time_lines(
                company=firm.companies[entity], start=WEEK[0], end=WEEK[-1]
            )
            return [(line.key, line.minutes) for line in found]

        async def reversed_in_tryton() -> bool:
            return sum(1 for _, minutes in await lines_of("le-us") if minutes == 0) == len(WEEK)

        await eventually(reversed_in_tryton, within=90, what="the rejected week to be reversed")
        us, de = await lines_of("le-us"), await lines_of("le-de")

    us_team = [c for c in firm.consultants if c.legal_entity_id == "le-us"]
    expected_us = sum(minutes_on(c.worker_id, day) for c in us_team for day in WEEK)
    assert sum(minutes for _, minutes in us) == expected_us - rejected_minutes
    assert sum(1 for _, minutes in us if minutes > 0) == len(WEEK) * (len(us_team) - 1)
    keys = [key for key, _ in us + de]
    assert len(keys) == len(set(keys)), "a key was written twice"
    assert len(de) == len(WEEK)  # the German consultant's week, in the German company
