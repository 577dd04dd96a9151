"""The month-end story: a month of approved time reaches the ERP exactly, whatever happens.

Twenty consultants of two legal entities (US/USD, DE/EUR) log October on five projects in the
sandbox PSA; the German team also logs late days of September, whose period the ERP has
closed. The PSA's webhooks are duplicated (2 %), dropped (2 %) and reordered (5 %); polling
catches what webhooks lose. Midway the ERP goes down; later one approved timesheet is rejected.
Afterwards the ERP's time equals the PSA's approved time exactly, per project and currency.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

import asyncpg
import httpx

from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.rest import RestErp
from tandem_sandbox import Sandbox

from .harness import API_KEY, WEBHOOK_SECRET, Deployment, eventually, weekdays
from .story import (
    build,
    decide,
    erp_time_bills,
    erp_totals_by_project,
    log_week,
    psa_approved,
    the_firm,
    totals_by_project,
)

OCTOBER = weekdays(date(2026, 10, 1), date(2026, 10, 31))
WEEKS = [OCTOBER[i : i + 5] for i in range(0, len(OCTOBER), 5)]
LATE_SEPTEMBER = weekdays(date(2026, 9, 28), date(2026, 9, 30))


async def test_a_month_of_time_reaches_the_erp_exactly_through_faults_and_an_outage(
    sandbox: Sandbox, deployment: Deployment
) -> None:
    firm = the_firm()
    control = httpx.AsyncClient(base_url=sandbox.urls["control"])
    psa = httpx.AsyncClient(base_url=sandbox.urls["psa"])
    erp_http = httpx.AsyncClient(base_url=sandbox.urls["erp"])
    api = httpx.AsyncClient(base_url=deployment.api_url, headers={"X-API-Key": API_KEY})
    erp = RestErp(
        HttpTarget(sandbox.urls["erp"], downstream="erp", retry=RetryPolicy(5, 0.1, 2)),
        instance="erp-sandbox",
    )
    try:
        # time-expense runs: its API (webhooks land there) and its worker.
        deployment.start("api")
        deployment.start_workers()  # as deployed: the consumer, and ingest with the relay
        await deployment.wait_api()
        await deployment.wait_workers()

        # The firm exists in the ERP and the PSA; the other services announced it.
        await build(firm, deployment, erp, psa, crm_url=sandbox.urls["crm"])
        [september] = await erp.list_periods(
            company=firm.companies["le-de"], legal_entity_id="le-de",
            start=date(2026, 9, 15), end=date(2026, 9, 15),
        )  # fmt: skip
        await erp.close_period(september.refs[0].external_id)

        # The PSA's webhooks reach time-expense, imperfectly.
        answer = await psa.post("/v1/webhooks", json={
            "url": f"{deployment.api_url}/v1/inbound/psa/psa", "secret": WEBHOOK_SECRET,
            "event_types": ["time_entry.approved", "time_entry.rejected"],
        })  # fmt: skip
        assert answer.status_code == 201, answer.text
        faults = {"webhook_duplicate_pct": 2, "webhook_drop_pct": 2, "webhook_reorder_pct": 5}
        assert (await control.put("/_sandbox/faults/psa", json=faults)).status_code == 200

        # Late September time for the German team, then October week by week.
        de_team = [c for c in firm.consultants if c.legal_entity_id == "le-de"]
        late = await log_week(firm, psa, LATE_SEPTEMBER, de_team)
        for sheet in late.values():
            await decide(psa, sheet, "submit", "approve")
        sheets: list[dict[str, str]] = []
        for number, week in enumerate(WEEKS):
            if number == 2:
                # Midway the ERP goes down for a while; approvals go on.
                outage = {"start_in_s": 0, "duration_s": 6}
                answer = await control.post("/_sandbox/faults/erp/outages", json=outage)
                assert answer.status_code == 202, answer.text
            sheets.append(await log_week(firm, psa, week))
            for sheet in sheets[-1].values():
                await decide(psa, sheet, "submit", "approve")

        # Later, one approved timesheet is rejected (downstream refusal).
        rejected_sheet = sheets[1][firm.consultants[0].worker_id]
        await decide(psa, rejected_sheet, "reject")

        # The ERP ends up equal to the PSA's approved time, per project: count, minutes, amount.
        approved = await psa_approved(psa)
        expected = totals_by_project(firm, approved)

        async def settled() -> bool:
            try:
                return erp_totals_by_project(firm, await erp_time_bills(erp_http)) == expected
            except httpx.TransportError:
                return False  # the ERP's outage window may not be over yet

        await eventually(settled, within=240, what="the ERP to equal the PSA", every=1.0)
        bills = await erp_time_bills(erp_http)
        assert erp_totals_by_project(firm, bills) == expected
        assert sum(count for count, _, _ in expected.values()) == len(approved)

        # No entry was posted twice: each entry has one live line at most.
        live: dict[str, int] = defaultdict(int)
        for bill in bills:
            entry = bill["external_id"].split(":")[1]
            live[entry] += 1 if bill["minutes"] > 0 else -1
        assert set(live.values()) <= {0, 1}
        assert sum(live.values()) == len(approved)

        # The rejected timesheet's entries were reversed, not edited.
        reversed_entries = {e for e, n in live.items() if n == 0}
        sheet_entries = (await psa.get(f"/v1/timesheets/{rejected_sheet}")).json()["entry_ids"]
        assert reversed_entries == set(sheet_entries)
        assert sum(1 for b in bills if b["minutes"] < 0) == len(sheet_entries)

        # Late September time posted into October, flagged late.
        database = await asyncpg.connect(deployment.database_url)
        try:
            late_lines = await database.fetch(
                "SELECT accounting_date, late FROM time_expense.postings "
                "WHERE kind = 'post' AND work_date < '2026-10-01'"
            )
            order = await _posting_order_matches_arrival(database)
            parked = await database.fetchval("SELECT count(*) FROM messaging.parked")
        finally:
            await database.close()
        assert len(late_lines) == len(de_team) * len(LATE_SEPTEMBER)
        assert {(r["accounting_date"], r["late"]) for r in late_lines} == {
            (date(2026, 10, 1), True)
        }

        # Each worker's entries reached the ERP in the order time-expense received them.
        assert order

        # The outage held postings (never parked) and intake resumed by itself.
        held = await deployment.worker_metric(
            "worker", "tandem_messages_failed_total", failure="downstream"
        )
        assert held > 0
        assert parked == 0
        assert await deployment.worker_metric("worker", "tandem_consumer_paused") == 0

        # The process API agrees and shows no open exception.
        summary = (await api.get("/v1/postings/summary", params={"period": "2026-10"})).json()
        by_project = {(r["project_id"], r["subject_type"]): r for r in summary["rows"]}
        for project, (count, minutes, amount) in expected.items():
            row = by_project[(firm.canonical[project], "time_entry")]
            assert (row["posted"] - row["reversed"], row["net_minutes"]) == (count, minutes)
            assert Decimal(str(row["bill_amount"])) == amount
        exceptions = (await api.get("/v1/exceptions")).json()
        assert exceptions["items"] == []

        # The faults really happened.
        counters = (await control.get("/_sandbox/faults/psa")).json()["counters"]
        assert counters["webhook_duplicated"] > 0
        assert counters["webhook_dropped"] > 0
        assert counters["webhook_reordered"] > 0
    finally:
        await erp.aclose()
        for client in (control, psa, erp_http, api):
            await client.aclose()


async def _posting_order_matches_arrival(database: asyncpg.Connection) -> bool:
    """Per worker, first postings are in the order their approvals were landed."""
    arrived = await database.fetch(
        "SELECT DISTINCT ON (record_id) record_id, payload->>'resource_id' AS worker, sequence "
        "FROM connectors.inbound WHERE record_type = 'time_entry' AND status = 'published' "
        "AND payload->>'status' = 'approved' ORDER BY record_id, sequence"
    )
    posted = await database.fetch(
        "SELECT subject_id, worker_id, sequence FROM time_expense.postings WHERE kind = 'post' "
        "ORDER BY sequence"
    )
    first_arrival = {r["record_id"]: r["sequence"] for r in arrived}
    by_worker: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    for row in posted:
        if row["subject_id"] in seen:
            continue
        seen.add(row["subject_id"])
        by_worker[row["worker_id"]].append(first_arrival[row["subject_id"]])
    return all(arrivals == sorted(arrivals) for arrivals in by_worker.values())
