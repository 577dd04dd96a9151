"""What runs on its own: reconciliation on a schedule (on one replica of several), the ERP's
periods watched (a reopened period releases what was held for it; one closed before the watch
saw it is learnt from the ERP's refusal), and an expense rejected after it was posted, reversed
in the ERP."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from tandem_sandbox import Sandbox

from .harness import WEBHOOK_SECRET, Clients, Deployment, clients, eventually, weekdays
from .story import Firm, build, decide, log_week, posted_count, psa_approved, the_firm

WEEK = weekdays(date(2026, 10, 12), date(2026, 10, 16))
SCHEDULERS = {"ingest-a": frozenset({"ingest", "relay", "schedule"}),
              "ingest-b": frozenset({"ingest", "relay", "schedule"})}  # fmt: skip


async def test_reconciliation_runs_on_its_interval_on_one_replica_and_re_drives_lost_time(
    sandbox: Sandbox, deployment: Deployment
) -> None:
    # Every webhook is lost and nothing polls: only the scheduled reconciliation finds the time.
    deployment.settings |= {"TANDEM_POLL_INTERVAL_S": "3600", "TANDEM_RECONCILE_INTERVAL_S": "2"}
    firm = the_firm(us_consultants=3, de_consultants=0)
    async with clients(sandbox, deployment) as http:
        deployment.start("api")
        deployment.start_workers({"worker": frozenset({"consume"}), **SCHEDULERS})
        await deployment.wait_api()
        await deployment.wait_workers()
        await build(firm, deployment, http.erp, http.psa, crm_url=sandbox.urls["crm"])
        answer = await http.psa.post("/v1/webhooks", json={
            "url": f"{deployment.api_url}/v1/inbound/psa/psa", "secret": WEBHOOK_SECRET,
            "event_types": ["time_entry.approved"],
        })  # fmt: skip
        assert answer.status_code == 201, answer.text
        drop = {"webhook_drop_pct": 100}
        assert (await http.control.put("/_sandbox/faults/psa", json=drop)).status_code == 200

        # The team's week is approved; no approval reaches time-expense by itself.
        for sheet in (await log_week(firm, http.psa, WEEK)).values():
            await decide(http.psa, sheet, "submit", "approve")
        total = len(await psa_approved(http.psa))

        # No one asks: the schedule reconciles, finds the time missing, re-drives it.
        async def all_posted() -> bool:
            return await posted_count(deployment.database_url) == total

        await eventually(all_posted, within=120, what="scheduled reconciliation to re-drive")
        runs = await _runs_by_trigger(deployment.database_url)
        assert runs.get("schedule", 0) >= 1
        assert "request" not in runs

        # One replica leads the schedule; only it ran the job.
        leaders = [await deployment.worker_metric(n, "tandem_scheduler_leader") for n in SCHEDULERS]
        assert sorted(leaders) == [0.0, 1.0]
        reconciled = [
            await deployment.worker_metric(n, "tandem_job_runs_total", job="reconcile")
            for n in SCHEDULERS
        ]
        assert sorted(reconciled)[0] == 0
        assert sorted(reconciled)[1] >= 1


async def test_time_held_for_a_closed_period_posts_once_finance_reopens_it(
    sandbox: Sandbox, deployment: Deployment
) -> None:
    # Finance holds late time instead of moving it on; the ERP's periods are watched.
    deployment.settings |= {
        "TANDEM_LATE_TIME_POLICY": "park",
        "TANDEM_PERIOD_WATCH_INTERVAL_S": "1",
    }
    firm = the_firm(us_consultants=1, de_consultants=0)
    september = weekdays(date(2026, 9, 28), date(2026, 9, 30))
    async with clients(sandbox, deployment) as http:
        deployment.start("api")
        deployment.start_workers()
        await deployment.wait_api()
        await deployment.wait_workers()
        await build(firm, deployment, http.erp, http.psa, crm_url=sandbox.urls["crm"])
        [period] = await http.erp.list_periods(
            company=firm.companies["le-us"], legal_entity_id="le-us",
            start=date(2026, 9, 15), end=date(2026, 9, 15),
        )  # fmt: skip
        await http.erp.close_period(period.refs[0].external_id)

        # Late September time is approved: held for finance, visible as an exception.
        for sheet in (await log_week(firm, http.psa, september)).values():
            await decide(http.psa, sheet, "submit", "approve")

        async def held() -> list[dict[str, object]]:
            answer = await http.api.get("/v1/exceptions", params={"reason": "period_closed"})
            assert answer.status_code == 200, answer.text
            return list(answer.json()["items"])

        await eventually(lambda: _count_is(held, 3), within=60, what="three entries held")
        assert {e["waiting_for"] for e in await held()} == {"period-open:le-us:2026-09-01"}
        assert await posted_count(deployment.database_url) == 0

        # Finance reopens September in the ERP: announced, released, posted into September.
        reopened = await http.erp_http.post(
            f"/v1/accounting-periods/{period.refs[0].external_id}/reopen"
        )
        assert reopened.status_code == 200, reopened.text

        async def posted() -> bool:
            return await posted_count(deployment.database_url) == 3

        await eventually(posted, within=60, what="the held time to post after the reopening")
        assert await held() == []
        dates = await _accounting_dates(deployment.database_url)
        assert dates == {(d, False) for d in september}


async def test_time_the_erp_refuses_for_a_period_closed_unseen_is_held_until_it_reopens(
    sandbox: Sandbox, deployment: Deployment
) -> None:
    # Finance holds late time; the periods are watched once an hour, so time-expense does not
    # see September close in the ERP: only the ERP's refusal of a posting tells it.
    deployment.settings |= {
        "TANDEM_LATE_TIME_POLICY": "park",
        "TANDEM_PERIOD_WATCH_INTERVAL_S": "3600",
    }
    firm = the_firm(us_consultants=1, de_consultants=0)
    first, rest = date(2026, 9, 28), weekdays(date(2026, 9, 29), date(2026, 9, 30))
    async with clients(sandbox, deployment) as http:
        deployment.start("api")
        deployment.start_workers()
        await deployment.wait_api()
        await deployment.wait_workers()
        await build(firm, deployment, http.erp, http.psa, crm_url=sandbox.urls["crm"])

        # A September day posts while September is open: time-expense knows it as open.
        await _approve(firm, http, [first])
        await eventually(lambda: _posted_is(deployment, 1), within=60, what="the first day")
        assert await _period_status(deployment.database_url, date(2026, 9, 1)) == "open"
        september = await _erp_period(firm, http, date(2026, 9, 15))
        await http.erp.close_period(september)

        # The rest of September is approved: the ERP refuses it, so it is held for the reopening.
        await _approve(firm, http, rest)
        await eventually(
            lambda: _count_is(lambda: _held(http), 2), within=60, what="two entries held"
        )
        assert {(e["waiting_for"], e["retryable"]) for e in await _held(http)} == {
            ("period-open:le-us:2026-09-01", True)
        }
        assert await posted_count(deployment.database_url) == 1

        # The periods are watched every second from now on (the scheduling worker replaced);
        # once the watch has seen September closed, finance reopens it in the ERP.
        await deployment.leave("ingest")
        deployment.start("worker", name="watching", settings={
            "TANDEM_WORKER_ROLES": json.dumps(["ingest", "relay", "schedule"]),
            "TANDEM_PERIOD_WATCH_INTERVAL_S": "1",
        })  # fmt: skip
        await deployment.wait_worker("watching")

        async def seen_closed() -> bool:
            return await _period_status(deployment.database_url, date(2026, 9, 1)) == "closed"

        await eventually(seen_closed, within=60, what="the watch to see September closed")
        reopened = await http.erp_http.post(f"/v1/accounting-periods/{september}/reopen")
        assert reopened.status_code == 200, reopened.text

        # Announced, released: the held days post into September, not late.
        await eventually(lambda: _posted_is(deployment, 3), within=60, what="the held days")
        assert await _held(http) == []
        placements = await _placements(deployment.database_url)
        assert placements == {day: (day, False) for day in (first, *rest)}


async def test_time_the_erp_refuses_for_a_period_closed_unseen_posts_late_into_the_next_one(
    sandbox: Sandbox, deployment: Deployment
) -> None:
    # Late time moves on (the default policy); nothing watches the periods during the test.
    deployment.settings |= {"TANDEM_PERIOD_WATCH_INTERVAL_S": "3600"}
    firm = the_firm(us_consultants=1, de_consultants=0)
    first, rest = date(2026, 9, 28), weekdays(date(2026, 9, 29), date(2026, 9, 30))
    async with clients(sandbox, deployment) as http:
        deployment.start("api")
        deployment.start_workers()
        await deployment.wait_api()
        await deployment.wait_workers()
        await build(firm, deployment, http.erp, http.psa, crm_url=sandbox.urls["crm"])

        # A September day posts while September is open: time-expense knows it as open.
        await _approve(firm, http, [first])
        await eventually(lambda: _posted_is(deployment, 1), within=60, what="the first day")
        await http.erp.close_period(await _erp_period(firm, http, date(2026, 9, 15)))

        # The rest of September is approved: the ERP refuses it, so it posts into October.
        await _approve(firm, http, rest)
        await eventually(lambda: _posted_is(deployment, 3), within=60, what="the late days")
        placements = await _placements(deployment.database_url)
        assert placements == {
            first: (first, False),
            **{day: (date(2026, 10, 1), True) for day in rest},
        }
        answer = await http.api.get("/v1/exceptions")
        assert answer.status_code == 200, answer.text
        assert answer.json()["items"] == []


async def test_an_expense_rejected_after_posting_is_reversed_in_the_erp(
    sandbox: Sandbox, deployment: Deployment
) -> None:
    firm = the_firm(us_consultants=1, de_consultants=0)
    consultant = firm.consultants[0]
    async with clients(sandbox, deployment) as http:
        deployment.start("api")
        deployment.start_workers()
        await deployment.wait_api()
        await deployment.wait_workers()
        await build(firm, deployment, http.erp, http.psa, crm_url=sandbox.urls["crm"])

        # An expense is approved in the PSA and posted to the ERP (found by polling).
        expense = await http.psa.post("/v1/expenses", json={
            "resource_id": firm.resources[consultant.worker_id],
            "project_id": firm.psa_projects[consultant.project_id], "date": "2026-10-14",
            "category": "travel", "amount": "412.60", "currency": "USD", "billable": True,
        })  # fmt: skip
        assert expense.status_code == 201, expense.text
        expense_id = expense.json()["id"]
        for action in ("submit", "approve"):
            answer = await http.psa.post(f"/v1/expenses/{expense_id}/{action}", json={})
            assert answer.status_code == 200, answer.text

        async def lines() -> list[dict[str, object]]:
            answer = await http.erp_http.get("/v1/expense-lines")
            assert answer.status_code == 200, answer.text
            return list(answer.json()["items"])

        await eventually(lambda: _count_is(lines, 1), within=60, what="the expense posted")

        # The ERP's finance rejects it afterwards, in the PSA: it is reversed, never edited.
        rejected = await http.psa.post(f"/v1/expenses/{expense_id}/reject", json={})
        assert rejected.status_code == 200, rejected.text
        await eventually(lambda: _count_is(lines, 2), within=60, what="the expense reversed")
        [original, reversal] = sorted(
            await lines(), key=lambda line: Decimal(str(line["amount"])), reverse=True
        )
        assert Decimal(str(original["amount"])) == Decimal("412.60")
        assert Decimal(str(reversal["amount"])) == Decimal("-412.60")
        assert reversal["reverses"] == original["id"]


async def _count_is(read: Callable[[], Awaitable[list[Any]]], n: int) -> bool:
    return len(await read()) == n


async def _posted_is(deployment: Deployment, n: int) -> bool:
    return await posted_count(deployment.database_url) == n


async def _approve(firm: Firm, http: Clients, days: list[date]) -> None:
    """The firm's consultants log ``days`` on a timesheet, submitted and approved."""
    for sheet in (await log_week(firm, http.psa, days)).values():
        await decide(http.psa, sheet, "submit", "approve")


async def _held(http: Clients) -> list[dict[str, object]]:
    answer = await http.api.get("/v1/exceptions", params={"reason": "period_closed"})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def _erp_period(firm: Firm, http: Clients, on: date) -> str:
    """The ERP's id of le-us's period of ``on``."""
    [period] = await http.erp.list_periods(
        company=firm.companies["le-us"], legal_entity_id="le-us", start=on, end=on
    )
    return period.refs[0].external_id


async def _runs_by_trigger(database_url: str) -> dict[str, int]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT trigger, count(*) AS n FROM time_expense.reconciliation_runs GROUP BY 1"
        )
    finally:
        await connection.close()
    return {row["trigger"]: row["n"] for row in rows}


async def _accounting_dates(database_url: str) -> set[tuple[date, bool]]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT accounting_date, late FROM time_expense.postings WHERE kind = 'post'"
        )
    finally:
        await connection.close()
    return {(row["accounting_date"], row["late"]) for row in rows}


async def _placements(database_url: str) -> dict[date, tuple[date, bool]]:
    """Work date -> (accounting date, late) of each posting (one consultant: one a day)."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT work_date, accounting_date, late FROM time_expense.postings WHERE kind = 'post'"
        )
    finally:
        await connection.close()
    return {row["work_date"]: (row["accounting_date"], row["late"]) for row in rows}


async def _period_status(database_url: str, start: date) -> str | None:
    """le-us's period starting on ``start`` as time-expense knows it (None: not known)."""
    connection = await asyncpg.connect(database_url)
    try:
        status = await connection.fetchval(
            "SELECT status FROM time_expense.periods"
            " WHERE legal_entity_id = 'le-us' AND start_date = $1",
            start,
        )
    finally:
        await connection.close()
    return None if status is None else str(status)
