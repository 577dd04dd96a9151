"""billing-readiness's watch over its money on real RabbitMQ and PostgreSQL with the sandbox
ERP: the leakage job announces each project's leak of each kind once a day however often it
runs (value not invoiced, work beyond a cap written off, approved time never posted), the
leakage report lists them; the reconciliation is clean after an invoice is posted and finds
it once the ERP's copy is changed, removed, or an invoice appears there under one of its keys,
and once the charges on an invoice no longer sum to it — the job announcing each mismatch."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tandem_connectors.ports import CustomerInvoice, InvoiceLineRequest, TaxTreatment
from tandem_contracts import Money
from tandem_contracts.entities import BillingModel
from tandem_testing import eventually, sibling_module

harness = sibling_module(__file__, "billing_harness.py", "billing_readiness_it_harness")

OCT = date(2026, 10, 12)
_EDIT_ERP_INVOICE = """
UPDATE sandbox.records SET data = data || $2::jsonb
WHERE system = 'erp' AND collection = 'customer-invoices' AND external_id = $1
"""


def job_runs(job: str, outcome: str = "ok") -> float:
    """How many times ``job`` ran in this process (the worker runs in it)."""
    labels = {"service": "billing-readiness", "job": job, "outcome": outcome}
    return REGISTRY.get_sample_value("tandem_job_runs_total", labels) or 0.0


async def runs_again(job: str, times: int) -> None:
    """Wait until ``job`` has run ``times`` more times from now."""
    target = job_runs(job) + times
    await eventually(lambda: job_runs(job) >= target, within=30, what=f"{job} x{times}")


async def leaks(billing: Any) -> dict[tuple[str, str], dict[str, Any]]:
    rows = await harness.ok_list(await billing.reader.get("/v1/leakage"))
    return {(row["project_id"], row["kind"]): row for row in rows}


async def reconciled(billing: Any) -> list[tuple[str, str]]:
    body = await harness.ok(await billing.reader.get("/v1/reconciliation"))
    return sorted((m["kind"], m["scope_key"]) for m in body["mismatches"])


@pytest.mark.asyncio
async def test_leakage_is_announced_once_a_day_per_project_and_kind(
    database_url: str, amqp_url: str
) -> None:
    now = datetime.now(UTC)
    async with harness.running(database_url, amqp_url, leakage_interval_s=0.2) as billing:
        failed_before = job_runs("revenue-leakage", "failed")
        await billing.announce(
            harness.account(harness.customer("c-leak"), 1),
            harness.activated("p-leak", "c-leak"),
            harness.posted("te-l1", "p-leak", 60, "150.00", on=OCT),  # never invoiced
            # Approved 30 days ago, never posted: 90 min at 120.00; approved 2 days ago: not yet.
            harness.approved_priced("te-l2", "p-leak", OCT, minutes=90, rate="120.00",
                                    at=now - timedelta(days=30)),
            harness.approved_priced("te-l3", "p-leak", OCT, minutes=60, rate="120.00",
                                    at=now - timedelta(days=2)),
            # A capped contract with no room: the whole entry is overage, held.
            harness.sow("sow-off", "p-off", "c-leak", BillingModel.CAPPED_TM, total="0.00",
                        cap="0.00"),
            harness.activated("p-off", "c-leak", BillingModel.CAPPED_TM, contract_id="sow-off"),
            harness.posted("te-o1", "p-off", 60, "150.00", on=OCT),
        )  # fmt: skip
        [overage] = await billing.charges("p-off", expected=1)
        assert overage["holds"] == ["cap_reached"]
        # Written off by a person: the project has no billable charge left, and still leaks.
        await harness.ok_list(
            await billing.api.post(
                "/v1/projects/p-off/overage",
                json={"reason": "beyond the contract", "decision": "write_off"},
            )
        )
        expected = {
            ("p-leak", "not_invoiced"): "150.00",
            ("p-leak", "not_charged"): "180.00",
            ("p-off", "cap_exceeded"): "150.00",
        }

        async def all_found() -> bool:
            return set(await leaks(billing)) == set(expected)

        await eventually(all_found, within=30, what="every leak reported")
        await billing.announces("RevenueLeakageDetected", len(expected))
        # The job keeps running: nothing is announced twice the same day.
        await runs_again("revenue-leakage", 3)
        announced = await billing.announced("RevenueLeakageDetected")
        by_kind = {(e.payload.project_id, e.payload.kind.value): e for e in announced}
        assert len(announced) == len(expected) == len(by_kind), by_kind
        assert {k: str(e.payload.amount.amount) for k, e in by_kind.items()} == expected
        unposted = by_kind["p-leak", "not_charged"]
        assert (unposted.payload.item_ids, unposted.payload.item_count) == (("te-l2",), 1)
        assert unposted.payload.oldest == OCT
        assert (unposted.legal_entity_id, unposted.correlation_id) == ("le-uk", "opp-p-leak")
        assert by_kind["p-off", "cap_exceeded"].payload.item_ids == (overage["charge_id"],)
        assert job_runs("revenue-leakage", "failed") == failed_before
        recorded = await billing.pool.fetch(
            "SELECT project_id, kind FROM billing_readiness.leakage"
        )
        assert {(r["project_id"], r["kind"]) for r in recorded} == set(expected)

        report = await leaks(billing)
        assert report["p-leak", "not_charged"]["items"] == 1
        assert report["p-off", "cap_exceeded"]["amount"]["amount"] == "150.00"
        assert report["p-leak", "not_invoiced"]["oldest"] == OCT.isoformat()

        # The approved time posts: charged, so no longer NOT_CHARGED but not invoiced; the
        # report follows at once, the announcement waits for tomorrow.
        await billing.announce(harness.posted("te-l2", "p-leak", 90, "120.00", on=OCT))
        await billing.charges("p-leak", expected=2)

        async def charged() -> bool:
            now_leaking = await leaks(billing)
            return ("p-leak", "not_charged") not in now_leaking and now_leaking[
                "p-leak", "not_invoiced"
            ]["amount"]["amount"] == "330.00"

        await eventually(charged, within=30, what="the posted time no longer uncharged")
        await runs_again("revenue-leakage", 2)
        assert len(await billing.announced("RevenueLeakageDetected")) == len(expected)
        only = await harness.ok_list(
            await billing.reader.get("/v1/leakage", params={"project_id": "p-off"})
        )
        assert [(r["project_id"], r["kind"]) for r in only] == [("p-off", "cap_exceeded")]


@pytest.mark.asyncio
async def test_reconciliation_is_clean_until_the_erp_or_the_charges_disagree(
    database_url: str, amqp_url: str
) -> None:
    async with harness.running(database_url, amqp_url, reconcile_interval_s=0.3) as billing:
        failed_before = job_runs("reconcile", "failed")
        gb = harness.customer("c-rec")
        party = await billing.erp.upsert_customer(gb, company=billing.companies["le-uk"], key=gb.id)
        await billing.announce(
            harness.account(gb, 1),
            harness.activated("p-rec", "c-rec"),
            harness.posted("te-r1", "p-rec", 450, "150.00", on=OCT),
            harness.posted("te-r2", "p-rec", 130, "150.00", on=OCT),
        )
        charges = await billing.charges("p-rec", expected=2)
        [invoice_id] = (await billing.readiness())["p-rec"]
        record = await billing.invoice(invoice_id)
        assert Decimal(record["erp_total"]) == Decimal("1740.00")

        body = await harness.ok(await billing.reader.get("/v1/reconciliation"))
        assert body["mismatches"] == []
        [company] = body["companies"]
        assert (company["legal_entity_id"], company["instance"]) == ("le-uk", "erp")
        assert (company["company"], company["ours"], company["theirs"], company["skipped"]) == (
            billing.companies["le-uk"], 1, 1, None,
        )  # fmt: skip
        await runs_again("reconcile", 2)
        assert await billing.announced("ReconciliationMismatch") == []

        # Someone edits the invoice in the ERP: its total no longer the one posted.
        await billing.pool.execute(_EDIT_ERP_INVOICE, invoice_id, '{"total": "1900.00"}')
        scope = f"invoice:{invoice_id}"
        assert await reconciled(billing) == [("amount_differs", scope)]
        await billing.announces("ReconciliationMismatch", 1)
        [first, *_] = await billing.announced("ReconciliationMismatch")
        assert (first.payload.kind.value, first.payload.scope_key) == ("amount_differs", scope)
        assert (first.payload.project_id, first.payload.item_ids) == ("p-rec", (invoice_id,))
        assert "1740.00" in first.payload.source_value
        assert "1900.00" in first.payload.target_value
        assert first.legal_entity_id == "le-uk"
        assert job_runs("reconcile", "failed") == failed_before

        # A charge on the invoice changed here: its charges no longer sum to its subtotal.
        await billing.pool.execute(
            "UPDATE billing_readiness.charges SET amount = amount + 0.01 WHERE charge_id = $1",
            charges[0]["charge_id"],
        )
        assert await reconciled(billing) == [
            ("amount_differs", f"invoice-charges:{invoice_id}"), ("amount_differs", scope),
        ]  # fmt: skip

        # The ERP loses the invoice; and one appears there under a key of ours never posted
        # here.
        await billing.pool.execute(
            "DELETE FROM sandbox.records WHERE system = 'erp' "
            "AND collection = 'customer-invoices' AND external_id = $1",
            invoice_id,
        )
        stray = await billing.erp.draft_customer_invoice(
            CustomerInvoice(
                company=billing.companies["le-uk"], customer=party.ref.external_id,
                currency="GBP", invoice_date=date.today(), payment_terms_days=30,
                lines=(InvoiceLineRequest(
                    description="Services", quantity=Decimal(1), unit="unit",
                    unit_price=Money.of("10.00", "GBP"), amount=Money.of("10.00", "GBP"),
                    tax=TaxTreatment.EXEMPT, tax_rate_pct=Decimal(0), reference="L1",
                ),),
                key="inv-stray",
            )
        )  # fmt: skip
        await billing.erp.post_customer_invoice(stray.ref.external_id, invoice_date=date.today())
        assert await reconciled(billing) == [
            ("amount_differs", f"invoice-charges:{invoice_id}"),
            ("missing_in_source", "invoice:inv-stray"),
            ("missing_in_target", scope),
        ]
        assert (await billing.reader.get("/v1/reconciliation?months=0")).status_code == 422
