"""billing-readiness on real RabbitMQ and PostgreSQL with the sandbox ERP: posted time becomes
charges, an ended month an invoice drafted and posted in the ERP to the cent (VAT computed by
the ERP), a cap overage held until a person approves it, a customer's credit hold holding its
charges and lifting with it, a reversal after invoicing credited, and bad requests refused
with what is wrong."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tandem_connectors.ports import ErpObject
from tandem_contracts.entities import BillingModel, LegalEntity
from tandem_testing import eventually, sibling_module

harness = sibling_module(__file__, "billing_harness.py", "billing_readiness_it_harness")

OCT = date(2026, 10, 12)


async def _customer_in_erp(billing, found) -> None:  # type: ignore[no-untyped-def]
    await billing.erp.upsert_customer(found, company=billing.companies["le-uk"], key=found.id)


@pytest.mark.asyncio
async def test_a_month_of_time_becomes_a_posted_invoice_to_the_cent(
    database_url: str, amqp_url: str
) -> None:
    async with harness.running(database_url, amqp_url) as billing:
        gb = harness.customer("c-gb")
        await _customer_in_erp(billing, gb)
        await billing.announce(
            harness.account(gb, 1),
            harness.activated("p-tm", "c-gb"),
            # 7.5 h and 2 h 10 min at 150.00, 45 min at 133.33: one rounding per charge.
            harness.posted("te-1", "p-tm", 450, "150.00", on=OCT),
            harness.posted("te-2", "p-tm", 130, "150.00", on=OCT),
            harness.posted("te-3", "p-tm", 45, "133.33", on=OCT),
            # Redelivered by the producer: charged once.
            harness.posted("te-1", "p-tm", 450, "150.00", on=OCT),
        )
        charges = await billing.charges("p-tm", expected=3)
        amounts = sorted(Decimal(c["amount"]["amount"]) for c in charges)
        assert amounts == [Decimal("100.00"), Decimal("325.00"), Decimal("1125.00")]
        assert all(c["holds"] == [] and c["status"] == "open" for c in charges)

        outcome = await billing.readiness()
        [invoice_id] = outcome["p-tm"]
        record = await billing.invoice(invoice_id)
        # 1,550.00 + 20 % UK VAT per line: 1,500.00 at 150 -> 300.00; 100.00 -> 20.00.
        assert Decimal(record["subtotal"]) == Decimal("1550.00")
        assert Decimal(record["tax_total"]) == Decimal("310.00")
        assert Decimal(record["erp_total"]) == Decimal("1860.00")
        assert record["number"]
        in_erp = await billing.erp.find(ErpObject.INVOICE, invoice_id)
        assert in_erp is not None
        assert in_erp.external_id == record["erp_id"]
        [posted] = await billing.announced("InvoicePosted")
        assert posted.payload.invoice.total.amount == Decimal("1860.00")
        assert posted.correlation_id == "opp-p-tm"  # from the opportunity to the invoice

        # Nothing is invoiced twice: the next pass finds nothing to propose.
        again = await billing.readiness()
        assert "p-tm" not in again or not any(i.startswith("inv-") for i in again["p-tm"])
        assert len(await billing.announced("InvoiceReady")) == 1

        # A reversal after invoicing: a credit note of the entry's amount, in the ERP.
        await billing.announce(
            harness.posted(
                "te-2", "p-tm", 130, "150.00", on=date(2026, 11, 2), reversal_of="te-2", version=4
            )
        )
        await billing.charges("p-tm", expected=4)
        credit = await billing.readiness()
        [credit_id] = credit["p-tm"]
        credited = await billing.invoice(credit_id)
        assert credited["credit_of"] == invoice_id
        assert Decimal(credited["erp_total"]) == Decimal("-390.00")
        await billing.announces("InvoiceCredited", 1)


@pytest.mark.asyncio
async def test_a_cap_overage_is_held_until_a_person_approves_it(
    database_url: str, amqp_url: str
) -> None:
    async with harness.running(database_url, amqp_url) as billing:
        gb = harness.customer("c-cap")
        await _customer_in_erp(billing, gb)
        await billing.announce(
            harness.account(gb, 1),
            harness.sow(
                "sow-cap", "p-cap", "c-cap", BillingModel.CAPPED_TM, total="1000.00", cap="1000.00"
            ),
            harness.activated("p-cap", "c-cap", BillingModel.CAPPED_TM, contract_id="sow-cap"),
            harness.posted("te-c1", "p-cap", 240, "150.00", on=OCT),  # 600.00
            harness.posted("te-c2", "p-cap", 240, "150.00", on=OCT),  # 600.00: 400 + 200 over
        )
        charges = await billing.charges("p-cap", expected=3)
        held = [c for c in charges if c["holds"]]
        assert [(c["holds"], c["amount"]["amount"]) for c in held] == [(["cap_reached"], "200.00")]
        # The work within the cap is invoiced; the overage waits for a person.
        [within] = (await billing.readiness())["p-cap"]
        assert Decimal((await billing.invoice(within))["subtotal"]) == Decimal("1000.00")
        [overage] = [c for c in await billing.charges("p-cap", expected=3) if c["holds"]]
        assert (overage["status"], overage["invoice_id"]) == ("open", None)

        # A reason is required; the reader may not decide; a standing hold is no person's.
        short = await billing.api.post("/v1/projects/p-cap/overage", json={"reason": "x"})
        assert short.status_code == 422
        refused = await billing.reader.post(
            "/v1/projects/p-cap/overage", json={"reason": "customer agreed"}
        )
        assert refused.status_code == 403
        missing = await billing.api.post(
            "/v1/charges/chg-none/release", json={"reason": "customer agreed"}
        )
        assert missing.status_code == 404

        decided = await harness.ok_list(
            await billing.api.post(
                "/v1/projects/p-cap/overage", json={"reason": "change order CO-7 signed"}
            )
        )
        assert [(d["released"], d["holds_left"]) for d in decided] == [(["cap_reached"], [])]
        await billing.announces("ChargeReleased", 1)
        outcome = await billing.readiness()
        [invoice_id] = outcome["p-cap"]
        record = await billing.invoice(invoice_id)
        assert invoice_id != within
        assert Decimal(record["subtotal"]) == Decimal("200.00")
        audit = await billing.pool.fetch(
            "SELECT actor, action, reason FROM billing_readiness.audit"
        )
        assert [(a["action"], a["reason"]) for a in audit] == [
            ("charge_approve", "change order CO-7 signed")
        ]


@pytest.mark.asyncio
async def test_a_credit_hold_holds_the_charges_and_lifts_with_the_customer(
    database_url: str, amqp_url: str
) -> None:
    async with harness.running(database_url, amqp_url) as billing:
        held = harness.customer("c-hold", on_hold=True)
        await _customer_in_erp(billing, held)
        await billing.announce(
            harness.account(held, 1),
            harness.activated("p-hold", "c-hold"),
            harness.posted("te-h1", "p-hold", 60, "100.00", on=OCT),
            harness.approved("te-h2", "p-hold", OCT),  # approved, never posted yet
        )
        await billing.charges("p-hold", expected=1)

        async def held() -> bool:
            # The customer's lane and the project's run apart: the charge is held either when
            # it is made (the hold known) or when the hold is restated over it.
            page = await harness.ok(
                await billing.reader.get("/v1/charges", params={"project_id": "p-hold"})
            )
            return bool(page["items"][0]["holds"] == ["credit_hold"])

        await eventually(held, within=30, what="the charge held for the credit hold")
        outcome = await billing.readiness()
        assert outcome["p-hold"]
        assert not any(i.startswith("inv-") for i in outcome["p-hold"])

        await billing.announce(harness.account(harness.customer("c-hold"), 2))

        async def lifted() -> bool:
            page = await harness.ok(
                await billing.reader.get("/v1/charges", params={"project_id": "p-hold"})
            )
            return bool(page["items"][0]["holds"] == [])

        await eventually(lifted, within=30, what="the credit hold lifted")
        await billing.announces("ChargeReleased", 1)
        # The approved entry is not posted yet: the month waits for it.
        outcome = await billing.readiness()
        assert any("pending" in reason for reason in outcome["p-hold"])
        await billing.announce(harness.posted("te-h2", "p-hold", 60, "100.00", on=OCT))
        await billing.charges("p-hold", expected=2)
        outcome = await billing.readiness()
        [invoice_id] = outcome["p-hold"]
        record = await billing.invoice(invoice_id)
        assert Decimal(record["erp_total"]) == Decimal("240.00")
        status = await harness.ok(await billing.reader.get("/v1/projects/p-hold/billing"))
        assert status["standing_holds"] == []
        assert status["pending_time"] == 0
        assert Decimal(status["invoiced"]["amount"]) == Decimal("200.00")


@pytest.mark.asyncio
async def test_intercompany_time_is_invoiced_between_the_entities_only_for_allowed_pairs(
    database_url: str, amqp_url: str
) -> None:
    pairs = {("le-de", "le-uk")}
    currencies = {"le-de": "EUR", "le-uk": "GBP"}
    async with harness.running(
        database_url, amqp_url, intercompany_pairs=pairs, entity_currencies=currencies
    ) as billing:
        gb = harness.customer("c-ic")
        await _customer_in_erp(billing, gb)
        await billing.announce(
            harness.account(gb, 1),
            harness.activated("p-ic", "c-ic"),
            # A German consultant on the UK project: 8 h at 150.00, cost 640.00 (x 1.10).
            harness.posted(
                "te-i1", "p-ic", 480, "150.00", on=OCT, worker_entity="le-de", cost="640.00"
            ),
            # A US consultant: the pair (le-us, le-uk) is not allowed.
            harness.posted(
                "te-i2", "p-ic", 60, "150.00", on=OCT, worker_entity="le-us", cost="90.00"
            ),
        )
        charges = await billing.charges("p-ic", expected=4)
        sister = {c["seller_entity"]: c for c in charges if c["intercompany"]}
        assert Decimal(sister["le-de"]["amount"]["amount"]) == Decimal("704.00")
        assert (sister["le-de"]["buyer_entity"], sister["le-de"]["holds"]) == ("le-uk", [])
        assert sister["le-us"]["holds"] == ["intercompany_not_allowed"]

        # le-de's functional currency is EUR: its invoice in GBP carries the rate at its date,
        # the latest published on or before it (given EUR -> GBP: inverted).
        def rate(rate_id: str, value: str, on: str) -> dict[str, str]:
            return {"id": rate_id, "base": "EUR", "quote": "GBP", "rate": value,
                    "rate_type": "spot", "effective_date": on, "source": "ecb"}  # fmt: skip

        rates = [rate("fx-1", "0.8000", "2026-01-02"), rate("fx-2", "0.8500", "2026-11-02")]
        float_rate = await billing.api.put(
            "/v1/fx-rates", json={"rates": [rate("fx-x", "x", "2026-11-02") | {"rate": 0.8}]}
        )
        assert float_rate.status_code == 422
        loaded = await harness.ok(await billing.api.put("/v1/fx-rates", json={"rates": rates}))
        assert loaded == {"loaded": 2, "kept": 2}
        outcome = await billing.readiness()
        assert len(outcome["p-ic"]) == 2  # the customer's invoice and le-de's to le-uk
        ready = {e.payload.seller_legal_entity_id: e.payload
                 for e in await billing.announced("InvoiceReady")}  # fmt: skip
        assert ready["le-uk"].fx is None  # in its seller's own currency
        fx = ready["le-de"].fx
        assert fx is not None
        assert (fx.rate_id, fx.rate) == ("fx-2", Decimal("1.1764705882"))
        records = {r["invoice_id"]: r for r in (await harness.ok(
            await billing.reader.get("/v1/invoices", params={"project_id": "p-ic"})
        ))["items"]}  # fmt: skip
        for invoice_id in outcome["p-ic"]:
            await billing.invoice(invoice_id)
        posted = {r["seller_entity"]: r for r in (await harness.ok(
            await billing.reader.get("/v1/invoices", params={"project_id": "p-ic"})
        ))["items"]}  # fmt: skip
        assert set(records) == set(outcome["p-ic"])
        # The customer is invoiced by the project's entity only, for both consultants' time.
        assert Decimal(posted["le-uk"]["subtotal"]) == Decimal("1350.00")
        assert posted["le-uk"]["customer_id"] == "c-ic"
        # The sister entity invoices the project's entity the transfer price, untaxed.
        assert Decimal(posted["le-de"]["erp_total"]) == Decimal("704.00")
        assert posted["le-de"]["customer_id"] == "entity:le-uk"
        listed = await billing.erp.customer_invoices(
            company=billing.companies["le-de"], start=date(2026, 1, 1), end=date(2027, 12, 31)
        )
        assert [(i.total.amount, i.state) for i in listed] == [(Decimal("704.00"), "posted")]
        # The pair not allowed stays held: never invoiced until a person decides.
        [held] = [c for c in await billing.charges("p-ic", expected=4) if c["holds"]]
        assert (held["seller_entity"], held["status"]) == ("le-us", "open")


@pytest.mark.asyncio
async def test_two_sisters_invoicing_one_entity_each_invoice_it_as_a_customer_of_their_own(
    database_url: str, amqp_url: str
) -> None:
    # The sandbox ERP keeps a customer in one subsidiary (as NetSuite does): le-uk, bought
    # from by both le-de and le-us, is a customer of each, never one record moved between them.
    pairs = {("le-de", "le-uk"), ("le-us", "le-uk")}
    countries = {"le-uk": "GB", "le-de": "DE", "le-us": "US"}
    async with harness.running(
        database_url, amqp_url, intercompany_pairs=pairs, entity_countries=countries
    ) as billing:
        us = LegalEntity(id="le-us", name="Acme Inc", country="US", functional_currency="USD",
                         data_residency_region="eu")  # fmt: skip
        companies = billing.companies | {
            "le-us": (await billing.erp.ensure_legal_entity(us, key=us.id)).external_id
        }
        gb = harness.customer("c-two")
        await _customer_in_erp(billing, gb)
        await billing.announce(
            harness.account(gb, 1),
            harness.activated("p-two", "c-two"),
            harness.posted(
                "te-d", "p-two", 480, "150.00", on=OCT, worker_entity="le-de", cost="640.00"
            ),
            harness.posted(
                "te-u", "p-two", 60, "150.00", on=OCT, worker_entity="le-us", cost="90.00"
            ),
        )
        charges = await billing.charges("p-two", expected=4)
        assert [c["holds"] for c in charges] == [[]] * 4
        outcome = await billing.readiness()
        assert len(outcome["p-two"]) == 3  # the customer's, le-de's and le-us's to le-uk
        for invoice_id in outcome["p-two"]:
            await billing.invoice(invoice_id)
        posted = {r["seller_entity"]: r for r in (await harness.ok(
            await billing.reader.get("/v1/invoices", params={"project_id": "p-two"})
        ))["items"]}  # fmt: skip
        assert posted["le-de"]["customer_id"] == posted["le-us"]["customer_id"] == "entity:le-uk"
        for seller, total in (("le-de", "704.00"), ("le-us", "99.00")):
            listed = await billing.erp.customer_invoices(
                company=companies[seller], start=date(2026, 1, 1), end=date(2027, 12, 31)
            )
            assert [(i.total.amount, i.state) for i in listed] == [(Decimal(total), "posted")]


@pytest.mark.asyncio
@pytest.mark.parametrize("contract_first", [True, False])
async def test_a_fixed_fee_schedule_is_charged_whichever_of_contract_and_project_comes_first(
    database_url: str, amqp_url: str, contract_first: bool
) -> None:
    async with harness.running(database_url, amqp_url) as billing:
        # As project-sync publishes them: the SOW names no project, the project its contract.
        contract = harness.sow(
            "sow-ff", "p-ff", "c-ff", BillingModel.FIXED_FEE, total="10000.00",
            end=date(2026, 12, 31), names_project=False,
        )  # fmt: skip
        project = harness.activated("p-ff", "c-ff", BillingModel.FIXED_FEE, contract_id="sow-ff")
        first, then = (contract, project) if contract_first else (project, contract)
        await billing.announce(first)
        await billing.announce(then)
        instalments = await billing.charges("p-ff", expected=3)
        assert sorted((c["period"], c["amount"]["amount"]) for c in instalments) == [
            ("2026-10", "3333.33"), ("2026-11", "3333.33"), ("2026-12", "3333.34"),
        ]  # fmt: skip


@pytest.mark.asyncio
async def test_time_billed_below_the_rate_card_is_reported_as_leakage(
    database_url: str, amqp_url: str
) -> None:
    async with harness.running(database_url, amqp_url) as billing:
        gb = harness.customer("c-rc")
        await billing.announce(
            harness.account(gb, 1),
            harness.rate_card("rc-gbp", "r-senior", "160.00"),
            harness.activated("p-rc", "c-rc"),
            # 7.5 h frozen at 150.00 where the card says 160.00: 75.00 below it.
            harness.posted("te-r1", "p-rc", 450, "150.00", on=OCT, role="r-senior"),
            # At the card's rate, and a role the card does not price: nothing below.
            harness.posted("te-r2", "p-rc", 60, "160.00", on=OCT, role="r-senior"),
            harness.posted("te-r3", "p-rc", 60, "90.00", on=OCT, role="r-junior"),
        )
        await billing.charges("p-rc", expected=3)

        async def reported() -> dict[str, dict[str, object]]:
            rows = await harness.ok_list(
                await billing.reader.get("/v1/leakage", params={"project_id": "p-rc"})
            )
            return {str(r["kind"]): r for r in rows}

        async def below() -> bool:
            return "below_rate_card" in await reported()

        await eventually(below, within=30, what="time below the rate card reported")
        leak = (await reported())["below_rate_card"]
        assert leak["amount"] == {"amount": "75.00", "currency": "GBP"}
        assert leak["items"] == 1


@pytest.mark.asyncio
async def test_time_of_a_project_waits_for_its_contract_and_is_then_charged_by_its_cap(
    database_url: str, amqp_url: str
) -> None:
    async with harness.running(database_url, amqp_url) as billing:
        # The project and its time come before the contract (another lane): the time waits.
        await billing.announce(
            harness.account(harness.customer("c-late"), 1),
            harness.activated("p-late", "c-late", BillingModel.CAPPED_TM, contract_id="sow-late"),
            harness.posted("te-w1", "p-late", 240, "150.00", on=OCT),  # 600.00
        )

        async def waiting() -> bool:
            found = await billing.pool.fetchval(
                "SELECT count(*) FROM messaging.parked WHERE waiting_for = $1 AND status = $2",
                "contract-known:sow-late", "parked",
            )  # fmt: skip
            return int(found) == 1

        await eventually(waiting, within=30, what="the time waiting for its contract")
        assert await billing.pool.fetchval("SELECT count(*) FROM billing_readiness.charges") == 0
        await billing.announce(
            harness.sow(
                "sow-late", "p-late", "c-late", BillingModel.CAPPED_TM, total="500.00",
                cap="500.00", names_project=False,
            )
        )  # fmt: skip
        charges = await billing.charges("p-late", expected=2)
        assert sorted((c["amount"]["amount"], tuple(c["holds"])) for c in charges) == [
            ("100.00", ("cap_reached",)), ("500.00", ()),
        ]  # fmt: skip
