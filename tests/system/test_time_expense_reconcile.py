"""Reconciliation finds what the PSA and the ERP disagree on, and repairs what is safe."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import asyncpg

from tandem_sandbox import Sandbox

from .harness import Deployment, clients, eventually, weekdays
from .story import build, decide, log_week, posted_count, psa_approved, the_firm

WEEK = weekdays(date(2026, 10, 12), date(2026, 10, 16))


async def test_lost_approvals_are_found_and_re_driven_and_stray_erp_time_is_reported(
    sandbox: Sandbox, deployment: Deployment
) -> None:
    # Webhooks only: nothing polls the PSA, so a lost webhook is lost until reconciliation.
    deployment.settings["TANDEM_POLL_INTERVAL_S"] = "3600"
    firm = the_firm(us_consultants=4, de_consultants=0)
    lost = firm.consultants[-1]
    async with clients(sandbox, deployment) as http:
        deployment.start("api")
        deployment.start("worker")
        await deployment.wait_api()
        await deployment.wait_workers()
        await build(firm, deployment, http.erp, http.psa, crm_url=sandbox.urls["crm"])
        answer = await http.psa.post("/v1/webhooks", json={
            "url": f"{deployment.api_url}/v1/inbound/psa/psa",
            "secret": "psa-webhook-secret-for-system-tests",
            "event_types": ["time_entry.approved"],
        })  # fmt: skip
        assert answer.status_code == 201, answer.text
        sheets = await log_week(firm, http.psa, WEEK)
        for worker, sheet in sheets.items():
            if worker != lost.worker_id:
                await decide(http.psa, sheet, "submit", "approve")
        total = len(await psa_approved(http.psa))

        async def posted(n: int) -> bool:
            return await posted_count(deployment.database_url) == n

        await eventually(lambda: posted(total), within=60, what="the delivered approvals to post")

        # The last approval's webhooks are all lost; a stray line is keyed into the ERP by hand.
        drop = {"webhook_drop_pct": 100}
        assert (await http.control.put("/_sandbox/faults/psa", json=drop)).status_code == 200
        await decide(http.psa, sheets[lost.worker_id], "submit", "approve")
        employee = await _employee_of(deployment.database_url, firm.consultants[0].worker_id)
        stray = await http.erp_http.post("/v1/time-bills", json={
            "external_id": "keyed-by-hand-1", "employee_id": employee,
            "project_id": firm.erp_projects[firm.consultants[0].project_id],
            "date": WEEK[2].isoformat(), "minutes": 30, "rate": "150.00", "currency": "USD",
        })  # fmt: skip
        assert stray.status_code == 201, stray.text

        # On demand: the run reports both, and re-drives the lost entries.
        answer = await http.api.post(
            "/v1/reconciliations", json={"legal_entity_id": "le-us", "period": "2026-10"}
        )
        assert answer.status_code == 201, answer.text
        [report] = answer.json()
        resource = firm.resources[lost.worker_id]
        lost_entries = {
            e["id"] for e in await psa_approved(http.psa) if e["resource_id"] == resource
        }
        by_kind: dict[str, list[dict[str, object]]] = {}
        for mismatch in report["mismatches"]:
            by_kind.setdefault(str(mismatch["kind"]), []).append(mismatch)
        missing = {m["entry_ids"][0] for m in by_kind["missing_in_target"]}  # type: ignore[index]
        assert missing == lost_entries
        assert all(m["repairable"] for m in by_kind["missing_in_target"])
        [stray_found] = by_kind["missing_in_source"]
        assert (stray_found["repairable"], stray_found["target_value"]) == (False, "30 min")
        assert {"count_differs", "minutes_differ"} <= set(by_kind)
        assert set(report["repaired"]) == lost_entries
        assert report["psa_entries"] == total + len(lost_entries)

        # The re-driven entries post; a second run finds only the stray line's disagreements.
        await eventually(
            lambda: posted(total + len(lost_entries)), within=60, what="the re-driven entries"
        )
        again = await http.api.post(
            "/v1/reconciliations", json={"legal_entity_id": "le-us", "period": "2026-10"}
        )
        [second] = again.json()
        kinds = sorted({str(m["kind"]) for m in second["mismatches"]})
        assert kinds == ["amount_differs", "count_differs", "minutes_differ", "missing_in_source"]
        assert second["repaired"] == []
        [stray_money] = [m for m in second["mismatches"] if m["kind"] == "amount_differs"]
        stray_target, currency = _money(stray_money["target_value"])
        stray_source, _ = _money(stray_money["source_value"])
        assert (stray_target - stray_source, currency) == (Decimal("75.00"), "USD")

        # A posted line's amount changed in the ERP by hand: the next run reports the money.
        line_id, amount, scope = await _tamper_one_line(sandbox, deployment.database_url)
        third = (
            await http.api.post(
                "/v1/reconciliations", json={"legal_entity_id": "le-us", "period": "2026-10"}
            )
        ).json()[0]
        amounts = {m["scope_key"]: m for m in third["mismatches"] if m["kind"] == "amount_differs"}
        before = {m["scope_key"]: m for m in second["mismatches"] if m["kind"] == "amount_differs"}
        tampered = amounts[scope]
        expected = _money(before[scope]["target_value"])[0] if scope in before else (
            _money(tampered["source_value"])[0]
        )  # fmt: skip
        assert _money(tampered["target_value"])[0] == expected - amount + Decimal("1.00"), line_id
        assert not tampered["repairable"]

        # Every mismatch was announced as a ReconciliationMismatch event.
        announced = await _announced(deployment.database_url)
        runs = (report, second, third)
        assert announced == sum(len(run["mismatches"]) for run in runs)

        # Bad requests say what is wrong.
        bad = await http.api.post(
            "/v1/reconciliations", json={"legal_entity_id": "le-us", "period": "2026-13"}
        )
        assert bad.status_code == 422
        unknown = await http.api.post(
            "/v1/reconciliations", json={"legal_entity_id": "le-xx", "period": "2026-10"}
        )
        assert unknown.status_code == 404


async def _employee_of(database_url: str, worker_id: str) -> str:
    connection = await asyncpg.connect(database_url)
    try:
        return str(await connection.fetchval(
            "SELECT external_id FROM connectors.external_refs WHERE canonical_type = 'worker' "
            "AND canonical_id = $1", worker_id,
        ))  # fmt: skip
    finally:
        await connection.close()


async def _announced(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(await connection.fetchval(
            "SELECT count(*) FROM messaging.outbox WHERE event_type = 'ReconciliationMismatch'"
        ))  # fmt: skip
    finally:
        await connection.close()


_BILL_AMOUNT = """
SELECT data->>'amount' FROM sandbox.records
WHERE system = 'erp' AND collection = 'time-bills' AND id = $1
"""
_SET_BILL_AMOUNT = """
UPDATE sandbox.records SET data = jsonb_set(data, '{amount}', to_jsonb($2::text))
WHERE system = 'erp' AND collection = 'time-bills' AND id = $1
"""


def _money(value: str) -> tuple[Decimal, str]:
    amount, currency = value.split()
    return Decimal(amount), currency


async def _tamper_one_line(sandbox: Sandbox, database_url: str) -> tuple[str, Decimal, str]:
    """Set one Tandem-posted time bill's amount to 1.00 in the ERP; answer the bill, its amount
    before, and the reconciliation scope (project and month worked) its money counts in."""
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT erp_id, project_id, work_date FROM time_expense.postings "
            "WHERE kind = 'post' ORDER BY key LIMIT 1"
        )
    finally:
        await connection.close()
    assert row is not None
    async with sandbox.store.pool.acquire() as erp_db, erp_db.transaction():
        before = await erp_db.fetchval(_BILL_AMOUNT, row["erp_id"])
        await erp_db.execute(_SET_BILL_AMOUNT, row["erp_id"], "1.00")
    assert before is not None
    period = row["work_date"].strftime("%Y-%m")
    return str(row["erp_id"]), Decimal(before), f"amount:{row['project_id']}:{period}:USD"
