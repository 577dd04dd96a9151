"""Customer invoices and credit notes through RestErp against the running sandbox ERP: taxed
per line by the ERP, idempotent by key, numbered gaplessly at post."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import httpx
import pytest

from tandem_connectors import NotFound, PeriodClosed, RequestRejected, SystemUnavailable
from tandem_connectors.http import HttpTarget, RetryPolicy
from tandem_connectors.ports import (
    CustomerInvoice,
    ErpObject,
    InvoiceLineRequest,
    TaxTreatment,
)
from tandem_connectors.rest import RestErp
from tandem_contracts import Money
from tandem_contracts.entities import Customer, LegalEntity, TaxProfile
from tandem_sandbox import Sandbox

THIS_YEAR = date.today().year
DAY = date(THIS_YEAR, 3, 10)
APRIL = date(THIS_YEAR, 4, 2)
FR = LegalEntity(
    id="le-fr", name="Acme Conseil SAS", country="FR", functional_currency="EUR",
    data_residency_region="eu",
)  # fmt: skip


@pytest.fixture
async def erp(sandbox: Sandbox) -> AsyncIterator[RestErp]:
    retry = RetryPolicy(attempts=3, first_wait=0.05, max_wait=2.0)
    adapter = RestErp(
        HttpTarget(sandbox.urls["erp"], downstream="erp:sandbox", retry=retry), instance="eu"
    )
    yield adapter
    await adapter.aclose()


async def _world(erp: RestErp) -> tuple[str, str]:
    """The French company and its German customer; answers their ids."""
    company = (await erp.ensure_legal_entity(FR, key="le-fr")).external_id
    globex = Customer(
        id="c-1", name="Globex GmbH", legal_entity_id="le-fr", country="DE", currency="EUR",
        tax_profile=TaxProfile(country="DE", vat_id="DE123456789"),
    )  # fmt: skip
    customer = (await erp.upsert_customer(globex, company=company, key="c-1")).external_id
    return company, customer


def _line(
    amount: str,
    reference: str,
    tax: TaxTreatment = TaxTreatment.STANDARD,
    rate: str = "20",
    quantity: str = "1",
    unit_price: str | None = None,
) -> InvoiceLineRequest:
    return InvoiceLineRequest(
        description=f"Consulting {reference}", quantity=Decimal(quantity), unit="h",
        unit_price=Money.of(unit_price or amount, "EUR"), amount=Money.of(amount, "EUR"),
        tax=tax, tax_rate_pct=Decimal(rate), reference=reference,
    )  # fmt: skip


def _invoice(
    company: str,
    customer: str,
    key: str,
    *lines: InvoiceLineRequest,
    credit_of: str | None = None,
    on: date = DAY,
) -> CustomerInvoice:
    return CustomerInvoice(
        company=company, customer=customer, currency="EUR", invoice_date=on,
        payment_terms_days=30, lines=lines, key=key, po_number="PO-77",
        customer_vat_id="DE123456789", credit_of=credit_of,
    )  # fmt: skip


async def test_the_erp_taxes_each_line_and_keeps_the_amount_the_caller_gave(
    sandbox: Sandbox, erp: RestErp
) -> None:
    company, customer = await _world(erp)
    drafted = await erp.draft_customer_invoice(
        _invoice(
            company, customer, "inv-1",
            _line("100.05", "cg-1"),  # 20.01
            _line("10.10", "cg-2", rate="5.5"),  # 0.5555 -> 0.56
            _line("500.00", "cg-3", TaxTreatment.REVERSE_CHARGE, rate="0"),
            _line("250.00", "cg-4", TaxTreatment.EXEMPT, rate="0", quantity="3",
                  unit_price="83.33"),  # 3 x 83.33 is 249.99: the amount stands
            _line("1.50", "cg-5", rate="19"),  # 0.285 -> 0.28: a tie to the even cent, as Tryton
        )
    )  # fmt: skip
    async with httpx.AsyncClient(base_url=sandbox.urls["erp"]) as client:
        held = (await client.get(f"/v1/customer-invoices/{drafted.ref.external_id}")).json()
    assert (drafted.state, drafted.number, drafted.key) == ("draft", None, "inv-1")
    assert (drafted.ref.object_type, drafted.ref.instance) == (ErpObject.INVOICE, "eu")
    assert drafted.subtotal == Money.of("861.65", "EUR")
    assert drafted.tax_total == Money.of("20.85", "EUR")
    assert drafted.total == Money.of("882.50", "EUR")
    assert drafted.lines == {
        "cg-1": Money.of("100.05", "EUR"), "cg-2": Money.of("10.10", "EUR"),
        "cg-3": Money.of("500.00", "EUR"), "cg-4": Money.of("250.00", "EUR"),
        "cg-5": Money.of("1.50", "EUR"),
    }  # fmt: skip
    assert [line["tax_amount"] for line in held["lines"]] == [
        "20.01",
        "0.56",
        "0.00",
        "0.00",
        "0.28",
    ]
    last = held["lines"][3]
    assert (last["quantity"], last["unit_price"], last["amount"]) == ("3", "83.33", "250.00")
    assert (held["po_number"], held["customer_vat_id"]) == ("PO-77", "DE123456789")
    assert await erp.find(ErpObject.INVOICE, "inv-1") == drafted.ref


async def test_a_repeat_answers_the_invoice_the_key_made_drafted_or_posted(
    sandbox: Sandbox, erp: RestErp
) -> None:
    company, customer = await _world(erp)
    request = _invoice(company, customer, "inv-1", _line("100.00", "cg-1"))
    first = await erp.draft_customer_invoice(request)
    again = await erp.draft_customer_invoice(request)
    posted = await erp.post_customer_invoice(first.ref.external_id, invoice_date=DAY)
    after_post = await erp.draft_customer_invoice(request)
    async with httpx.AsyncClient(base_url=sandbox.urls["erp"]) as client:
        body = {
            "external_id": "inv-1", "subsidiary_id": company, "customer_id": customer,
            "currency": "EUR", "invoice_date": DAY.isoformat(), "lines": [],
        }  # fmt: skip
        repeat = await client.post("/v1/customer-invoices", json=body)
        listed = (await client.get("/v1/customer-invoices")).json()["items"]
    assert again.ref.external_id == first.ref.external_id
    assert (again.state, again.total) == ("draft", Money.of("120.00", "EUR"))
    assert after_post == posted
    assert (repeat.status_code, repeat.json()["number"]) == (200, posted.number)
    assert len(listed) == 1


async def test_post_mints_gapless_numbers_and_a_closed_period_mints_none(erp: RestErp) -> None:
    company, customer = await _world(erp)
    drafts = [
        await erp.draft_customer_invoice(_invoice(company, customer, f"inv-{n}", _line("10", "a")))
        for n in (1, 2, 3)
    ]
    [april] = await erp.list_periods(
        company=company, legal_entity_id="le-fr", start=APRIL, end=APRIL
    )
    await erp.close_period(april.refs[0].external_id)
    with pytest.raises(PeriodClosed) as closed:
        await erp.post_customer_invoice(drafts[2].ref.external_id, invoice_date=APRIL)
    posted = [
        await erp.post_customer_invoice(draft.ref.external_id, invoice_date=DAY)
        for draft in (drafts[2], drafts[0])
    ]
    again = await erp.post_customer_invoice(drafts[2].ref.external_id, invoice_date=APRIL)
    with pytest.raises(NotFound):
        await erp.post_customer_invoice("cinv_nope", invoice_date=DAY)
    assert closed.value.reason == "period_closed"
    assert [p.number for p in posted] == [f"INV-{company}-000001", f"INV-{company}-000002"]
    assert all((p.state, p.invoice_date) == ("posted", DAY) for p in posted)
    assert again == posted[0]  # posting a posted invoice answers it unchanged


async def test_a_credit_note_credits_a_posted_invoice_never_a_draft(erp: RestErp) -> None:
    company, customer = await _world(erp)
    invoice = await erp.draft_customer_invoice(
        _invoice(company, customer, "inv-1", _line("90.00", "cg-1"), _line("10.00", "cg-2"))
    )
    credit = _invoice(
        company, customer, "cn-1", _line("-90.00", "cg-1"), credit_of=invoice.ref.external_id
    )
    with pytest.raises(RequestRejected) as of_a_draft:
        await erp.draft_customer_invoice(credit)
    await erp.post_customer_invoice(invoice.ref.external_id, invoice_date=DAY)
    positive = _invoice(
        company, customer, "cn-2", _line("90.00", "cg-1"), credit_of=invoice.ref.external_id
    )
    with pytest.raises(RequestRejected) as not_negative:
        await erp.draft_customer_invoice(positive)
    drafted = await erp.draft_customer_invoice(credit)
    note = await erp.post_customer_invoice(drafted.ref.external_id, invoice_date=DAY)
    assert (of_a_draft.value.reason, not_negative.value.reason) == ("invalid_invoice",) * 2
    assert "posted" in str(of_a_draft.value)
    assert note.number == f"CN-{company}-000001"
    assert (note.subtotal, note.tax_total) == (Money.of("-90", "EUR"), Money.of("-18", "EUR"))
    assert note.lines == {"cg-1": Money.of("-90.00", "EUR")}


async def test_unknown_parties_are_not_found_and_refused_lines_invalid(erp: RestErp) -> None:
    company, customer = await _world(erp)
    with pytest.raises(NotFound):
        await erp.draft_customer_invoice(_invoice("sub_nope", customer, "k-1", _line("1", "a")))
    with pytest.raises(NotFound):
        await erp.draft_customer_invoice(_invoice(company, "cus_nope", "k-2", _line("1", "a")))
    with pytest.raises(NotFound):
        await erp.draft_customer_invoice(
            _invoice(company, customer, "k-3", _line("-1", "a"), credit_of="cinv_nope")
        )
    refused = []
    for request in (
        _invoice(company, customer, "k-4"),  # no lines
        _invoice(company, customer, "k-5", _line("1", "a", TaxTreatment.EXEMPT, rate="20")),
        _invoice(company, customer, "k-6", _line("1", "")),  # no reference: the ERP's validation
    ):
        with pytest.raises(RequestRejected) as caught:
            await erp.draft_customer_invoice(request)
        refused.append(caught.value.reason)
    assert refused == ["invalid_invoice"] * 3
    assert await erp.customer_invoices(company=company, start=DAY, end=DAY) == []


async def test_listing_by_date_includes_drafts_and_find_resolves_keys(erp: RestErp) -> None:
    company, customer = await _world(erp)
    march = await erp.draft_customer_invoice(_invoice(company, customer, "k-1", _line("1", "a")))
    posted = await erp.draft_customer_invoice(_invoice(company, customer, "k-2", _line("2", "a")))
    await erp.post_customer_invoice(posted.ref.external_id, invoice_date=APRIL)
    late = await erp.draft_customer_invoice(
        _invoice(company, customer, "k-3", _line("3", "a"), on=date(THIS_YEAR, 5, 4))
    )
    in_march = await erp.customer_invoices(
        company=company, start=date(THIS_YEAR, 3, 1), end=date(THIS_YEAR, 3, 31)
    )
    spring = await erp.customer_invoices(
        company=company, start=date(THIS_YEAR, 3, 1), end=date(THIS_YEAR, 5, 31)
    )
    elsewhere = await erp.customer_invoices(company="sub_nope", start=DAY, end=DAY)
    assert [(i.key, i.state) for i in in_march] == [("k-1", "draft")]
    assert [i.key for i in spring] == ["k-1", "k-2", "k-3"]
    assert elsewhere == []
    assert await erp.find(ErpObject.INVOICE, "k-3") == late.ref
    assert (await erp.find(ErpObject.INVOICE, "k-1")) == march.ref
    assert await erp.find(ErpObject.INVOICE, "k-9") is None
    assert await erp.find(ErpObject.CUSTOMER, "k-1") is None  # keys are per kind


async def test_an_outage_is_system_unavailable_then_the_draft_goes_through(
    sandbox: Sandbox, erp: RestErp
) -> None:
    company, customer = await _world(erp)
    request = _invoice(company, customer, "k-1", _line("1", "a"))
    faults = f"{sandbox.urls['control']}/_sandbox/faults/erp/outages"
    async with httpx.AsyncClient() as client:
        answer = await client.post(faults, json={"start_in_s": 0, "duration_s": 30})
        assert answer.status_code == 202, answer.text
        with pytest.raises(SystemUnavailable) as caught:
            await erp.draft_customer_invoice(request)
        with pytest.raises(SystemUnavailable):
            await erp.customer_invoices(company=company, start=DAY, end=DAY)
        await client.delete(faults)
    drafted = await erp.draft_customer_invoice(request)
    assert caught.value.downstream == "erp:sandbox"
    assert drafted.state == "draft"


async def test_the_wire_takes_amounts_as_decimal_strings_never_numbers(
    sandbox: Sandbox, erp: RestErp
) -> None:
    company, customer = await _world(erp)
    line = {
        "description": "Consulting", "quantity": "1", "unit": "h", "unit_price": "10.00",
        "amount": 10.0, "tax": "standard", "tax_rate_pct": "20", "reference": "a",
    }  # fmt: skip
    body = {
        "external_id": "k-1", "subsidiary_id": company, "customer_id": customer,
        "currency": "EUR", "invoice_date": DAY.isoformat(), "lines": [line],
    }  # fmt: skip
    async with httpx.AsyncClient(base_url=sandbox.urls["erp"]) as client:
        as_number = await client.post("/v1/customer-invoices", json=body)
        finer = {**line, "amount": "10.005"}
        too_fine = await client.post("/v1/customer-invoices", json={**body, "lines": [finer]})
    assert (as_number.status_code, as_number.json()["code"]) == (422, "VALIDATION_ERROR")
    assert (too_fine.status_code, too_fine.json()["code"]) == (422, "INVALID_INVOICE")
