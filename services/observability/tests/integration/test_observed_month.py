"""A generated month through the real bus into observability: every timeline and KPI against
figures this test works out by hand from the month's own numbers (observed_month.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from tandem_testing import sibling_module

harness = sibling_module(__file__, "observed_harness.py", "observability_it_harness")
gen = sibling_module(__file__, "observed_month.py", "observability_it_month")

TODAY = datetime.now(UTC).date()


def pct(part: int, whole: int) -> str:
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def capacity(month: Any, c: Any) -> int:
    start = month.first.replace(day=c.hired_on) if c.hired_on else month.first
    return int(len(gen.weekdays(start, month.last)) * gen.MINUTES)


def utilization(kpis: dict[str, Any], region: str, period: str, unit: str) -> dict[str, Any]:
    rows = [u for u in kpis["regions"][region]["utilization"]
            if u["period"] == period and u["org_unit_id"] == unit]  # fmt: skip
    assert len(rows) == 1, rows
    row: dict[str, Any] = rows[0]
    return row


@pytest.mark.asyncio
async def test_a_month_of_timelines_and_kpis(database_url: str, amqp_url: str) -> None:
    month = gen.generate(TODAY)
    period = f"{month.first:%Y-%m}"
    c1, c2, c3, c4 = gen.CONSULTANTS
    # Breaches: below 75 % x 0.9 = 67.5 %, or above the 85 % burnout line.
    breaching = {
        c.worker_id for c in gen.CONSULTANTS
        if not 67.5 <= c.days * gen.MINUTES * 100 / capacity(month, c) <= 85
    }  # fmt: skip
    assert {"w1", "w2"} <= breaching  # the month is built so that these two always breach
    async with harness.observing(database_url, amqp_url) as obs:
        await obs.announce(*month.events)
        await obs.recorded(len(month.events))
        # The month is checked once everything is in (the job waits for it to settle).
        check = await obs.api.post("/v1/utilization/check", params={"period": period})
        assert check.json() == {"period": period, "announced": len(breaching)}
        again = await obs.api.post("/v1/utilization/check", params={"period": period})
        assert again.json()["announced"] == 0
        refused = await obs.reader.post("/v1/utilization/check", params={"period": period})
        assert refused.status_code == 403
        # The breaches are announced on the bus, and recorded as steps too.
        await obs.recorded(len(month.events) + len(breaching))
        kpis = await obs.get("/v1/kpis")
        eu, us = kpis["regions"]["eu"], kpis["regions"]["us"]

        # Sync completeness: every approved entry posted but one; one deal of two active.
        eu_entries = c1.days + c2.days + c3.days
        assert eu["completeness"]["time_posting"] == {
            "started": eu_entries, "completed": eu_entries - 1,
            "ratio": pytest.approx((eu_entries - 1) / eu_entries)}  # fmt: skip
        assert eu["completeness"]["quote_to_cash"]["started"] == 2
        assert eu["completeness"]["quote_to_cash"]["completed"] == 1
        assert us["completeness"]["time_posting"]["ratio"] == 1.0

        # Approval lag per entry: 20 at 2 h, 10 at 10 h, 8 at 26 h -> p50 2 h, p90 26 h.
        assert eu["approval_lag_hours"] == {"p50": 2.0, "p90": 26.0, "count": eu_entries}
        assert us["approval_lag_hours"]["p50"] == 4.0

        # Time to invoice: invoiced UK entries, 8 h each, from their work date to the invoice.
        uk_days = [d for c in (c1, c2) for _, d in month.entries[c.worker_id]
                   if _ != gen.UNPOSTED]  # fmt: skip
        invoiced_on = month.invoice_at.date()
        expected = sum((invoiced_on - d).days for d in uk_days) / len(uk_days)
        assert eu["time_to_invoice_days"]["mean_hour_weighted"] == pytest.approx(expected)
        assert eu["time_to_invoice_days"]["count"] == len(uk_days)

        # Realization: the UK invoice bills 90 % of standard; the US one all of it.
        uk_standard = Decimal(len(uk_days)) * 8 * Decimal("100.00")
        assert eu["realization"] == [{
            "currency": "GBP", "billed": f"{uk_standard * Decimal('0.90'):.2f}",
            "standard": f"{uk_standard:.2f}", "ratio": pytest.approx(0.9)}]  # fmt: skip
        # The US time was approved unrated: its standard value is what it posted at.
        us_days = len(month.entries["w4"])
        us_standard = f"{Decimal(us_days) * 8 * Decimal('150.00'):.2f}"
        assert us["realization"] == [{
            "currency": "USD", "billed": us_standard, "standard": us_standard,
            "ratio": pytest.approx(1.0)}]  # fmt: skip

        # Unbilled WIP: only the German charges, by age bucket of their bill date.
        buckets: dict[str, Decimal] = {}
        for _, day in month.entries["w3"]:
            age = (TODAY - day).days
            bucket = ("0-30" if age <= 30 else "31-60" if age <= 60
                      else "61-90" if age <= 90 else "90+")  # fmt: skip
            buckets[bucket] = buckets.get(bucket, Decimal(0)) + Decimal("960.00")
        wip = [{"currency": "EUR", "bucket": b, "amount": f"{a:.2f}"} for b, a in buckets.items()]
        assert eu["unbilled_wip"] == sorted(wip, key=lambda w: w["bucket"])
        assert us["unbilled_wip"] == []

        # Utilization: billable minutes over working-day capacity, per org unit.
        data = utilization(kpis, "eu", period, "ou-data")
        data_capacity = capacity(month, c1) + capacity(month, c2)
        assert data["workers"] == 2
        assert data["billable_pct"] == pct((c1.days + c2.days) * gen.MINUTES, data_capacity)
        # Forecast: only w1's hard booking counts (w2's is soft): every working day.
        assert data["forecast_pct"] == pct(capacity(month, c1), data_capacity)
        apps = utilization(kpis, "eu", period, "ou-apps")
        assert apps["billable_pct"] == pct(c3.days * gen.MINUTES, capacity(month, c3))
        assert utilization(kpis, "us", period, "ou-apps")["billable_pct"] == pct(
            c4.days * gen.MINUTES, capacity(month, c4)
        )

        # Leakage restated by the later scan; reconciliation by domain.
        assert eu["leakage"] == [{"currency": "EUR", "kind": "not_invoiced",
                                  "amount": "1920.00", "projects": 1}]  # fmt: skip
        recon = (await obs.get("/v1/reconciliation"))["domains"]
        assert [(d["domain"], d["mismatches"]) for d in recon] == [
            ("time-expense: psa->erp", {"missing_in_target": 1, "minutes_differ": 1})
        ]

        await _timelines(obs, month)
        await _breaches_once(obs, len(breaching))


async def _timelines(obs: Any, month: Any) -> None:
    # A timesheet's flow: submitted, each entry approved, posted and charged, in time order.
    sheet = await obs.get("/v1/timelines/ts-w1")
    types = [step["event_type"] for step in sheet["steps"]]
    days = len(month.entries["w1"])
    assert types[0] == "TimeSubmitted"
    assert (types.count("TimeApproved"), types.count("TimePosted"),
            types.count("ChargeCreated")) == (days, days, days)  # fmt: skip
    assert sheet["services"] == ["billing-readiness", "time-expense"]
    assert sheet["status"] == "in_progress"
    times = [step["occurred_at"] for step in sheet["steps"]]
    assert times == sorted(times)
    # Any id finds it: an entry, its ERP line, the timesheet.
    entry = month.entries["w1"][0][0]
    found = await obs.get("/v1/search", q=f"line-{entry}")
    assert [(m["kind"], m["correlation_ids"]) for m in found["matches"]] == [
        ("system_id", ["ts-w1"])
    ]
    by_entry = await obs.get(f"/v1/keys/time_entry/{entry}")
    assert [s["event_type"] for s in by_entry["steps"]] == [
        "TimeSubmitted",
        "TimeApproved",
        "TimePosted",
        "ChargeCreated",
    ]
    posted = by_entry["steps"][2]
    assert {
        "system": "erp",
        "object": posted["system_ids"][0]["object"],
        "id": f"line-{entry}",
    }.items() <= posted["system_ids"][0].items()
    # The invoice, from its ERP number, to the charges it billed.
    invoice = await obs.get("/v1/search", q="INV-P-UK-1")
    assert invoice["matches"][0]["correlation_ids"] == ["inv-p-uk"]
    billed = await obs.get("/v1/timelines/inv-p-uk")
    assert [s["event_type"] for s in billed["steps"]] == ["InvoiceReady", "InvoicePosted"]
    assert billed["status"] == "complete"
    assert f"chg-{entry}" in billed["steps"][1]["keys"]["charge"]
    # Nothing confidential was kept: names and notes are in the events, not in the steps.
    dump = await obs.pool.fetchval(
        "SELECT string_agg(row_to_json(s)::text, ' ') FROM observability.steps s"
    )
    assert "confidential note" not in dump
    assert "Secret deal" not in dump
    missing = await obs.reader.get("/v1/timelines/nothing-here")
    assert missing.status_code == 404


async def _breaches_once(obs: Any, expected: int) -> None:
    announced = await obs.pool.fetchval(
        "SELECT count(*) FROM messaging.outbox WHERE event_type = $1",
        "UtilizationThresholdBreached")  # fmt: skip
    assert announced == expected
    steps = await obs.get("/v1/keys/worker/w1")
    breaches = [s for s in steps["steps"] if s["event_type"] == "UtilizationThresholdBreached"]
    assert len(breaches) == 1
    assert breaches[0]["outcome"] == "breach"
    below = await obs.get("/v1/keys/worker/w2")
    assert [s["outcome"] for s in below["steps"]
            if s["event_type"] == "UtilizationThresholdBreached"] == ["breach"]  # fmt: skip


def test_the_month_is_last_month() -> None:
    month = gen.generate(date(2026, 11, 29))
    assert (month.first, month.last) == (date(2026, 10, 1), date(2026, 10, 31))
    assert len(gen.weekdays(month.first, month.last)) == 22
