"""The fake ERP's customer invoices keep the port's contract: taxed per line by the ERP,
idempotent by key, numbered gaplessly at post, credit notes of posted invoices only."""

import datetime as dt
from decimal import Decimal

import pytest

from tandem_connectors import NotFound, PeriodClosed, RequestRejected, SystemUnavailable
from tandem_connectors.fakes import FakeErp
from tandem_connectors.ports import (
    CustomerInvoice,
    ErpObject,
    InvoiceLineRequest,
    TaxTreatment,
)
from tandem_contracts import Money
from tandem_contracts.entities import Customer, LegalEntity, PeriodStatus, TaxProfile
from tandem_contracts.samples import sample_envelopes

SAMPLES = {envelope.event_type: envelope.payload for envelope in sample_envelopes()}
PROJECT = SAMPLES["ProjectShellCreated"].project
DAY = dt.date(2026, 10, 30)
LE_FR = LegalEntity(
    id="le-fr", name="Acme Conseil SAS", country="FR", functional_currency="EUR",
    data_residency_region="eu",
)  # fmt: skip
GLOBEX = Customer(
    id="c-1", name="Globex GmbH", legal_entity_id="le-fr", country="DE", currency="EUR",
    tax_profile=TaxProfile(country="DE", vat_id="DE123456789"),
)  # fmt: skip


def line(
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


async def erp_with_a_customer() -> tuple[FakeErp, str, str]:
    erp = FakeErp(today=dt.date(2026, 10, 1))
    company = (await erp.ensure_legal_entity(LE_FR, key=LE_FR.id)).external_id
    customer = (await erp.upsert_customer(GLOBEX, company=company, key="c-1")).external_id
    return erp, company, customer


def invoice(
    company: str, customer: str, key: str, *lines: InvoiceLineRequest, credit_of: str | None = None
) -> CustomerInvoice:
    return CustomerInvoice(
        company=company, customer=customer, currency="EUR", invoice_date=DAY,
        payment_terms_days=30, lines=lines, key=key, credit_of=credit_of,
    )  # fmt: skip


async def test_the_erp_taxes_each_line_half_even_and_totals_the_invoice() -> None:
    erp, company, customer = await erp_with_a_customer()
    drafted = await erp.draft_customer_invoice(
        invoice(
            company, customer, "inv-1",
            line("100.05", "cg-1"),  # 20.01
            line("0.13", "cg-2", rate="19"),  # 0.0247 -> 0.02
            line("10.10", "cg-3", rate="5.5"),  # 0.5555 -> 0.56
            line("500.00", "cg-4", TaxTreatment.REVERSE_CHARGE, rate="0"),
            line("250.00", "cg-5", TaxTreatment.EXEMPT, rate="0", quantity="3",
                 unit_price="83.33"),  # 3 x 83.33 is 249.99: the amount stands
            line("1.50", "cg-6", rate="19"),  # 0.285 -> 0.28: a tie goes to the even cent
        )
    )  # fmt: skip
    assert (drafted.state, drafted.number, drafted.key) == ("draft", None, "inv-1")
    assert drafted.ref.object_type == ErpObject.INVOICE
    assert drafted.subtotal == Money.of("861.78", "EUR")
    assert drafted.tax_total == Money.of("20.87", "EUR")
    assert drafted.total == Money.of("882.65", "EUR")
    assert drafted.lines["cg-5"] == Money.of("250.00", "EUR")
    assert await erp.find(ErpObject.INVOICE, "inv-1") == drafted.ref


async def test_a_repeat_answers_the_invoice_the_key_made_whatever_its_state() -> None:
    erp, company, customer = await erp_with_a_customer()
    request = invoice(company, customer, "inv-1", line("100.00", "cg-1"))
    first = await erp.draft_customer_invoice(request)
    again = await erp.draft_customer_invoice(request)
    posted = await erp.post_customer_invoice(first.ref.external_id, invoice_date=DAY)
    after_post = await erp.draft_customer_invoice(request)
    assert again == first
    assert after_post == posted
    assert (posted.state, posted.number) == ("posted", f"INV-{company}-000001")
    assert len(erp.invoice_book.invoices) == 1


async def test_numbers_are_minted_at_post_gapless_per_company_and_series() -> None:
    erp, company, customer = await erp_with_a_customer()
    drafts = [
        await erp.draft_customer_invoice(invoice(company, customer, f"inv-{n}", line("10", "a")))
        for n in (1, 2, 3)
    ]
    erp.close_period(company, dt.date(2026, 9, 30), PeriodStatus.CLOSED)
    with pytest.raises(PeriodClosed):
        await erp.post_customer_invoice(
            drafts[2].ref.external_id, invoice_date=dt.date(2026, 9, 30)
        )
    numbers = [
        (await erp.post_customer_invoice(draft.ref.external_id, invoice_date=DAY)).number
        for draft in (drafts[2], drafts[0])
    ]
    again = await erp.post_customer_invoice(
        drafts[2].ref.external_id, invoice_date=dt.date(2026, 11, 2)
    )
    credit = await erp.draft_customer_invoice(
        invoice(company, customer, "cn-1", line("-4", "a"), credit_of=drafts[0].ref.external_id)
    )
    credited = await erp.post_customer_invoice(credit.ref.external_id, invoice_date=DAY)
    assert numbers == [f"INV-{company}-000001", f"INV-{company}-000002"]  # the refusal took none
    assert (again.number, again.invoice_date) == (numbers[0], DAY)  # unchanged
    assert credited.number == f"CN-{company}-000001"
    assert (credited.subtotal, credited.total) == (Money.of("-4", "EUR"), Money.of("-4.80", "EUR"))


async def test_a_credit_note_credits_a_posted_invoice_with_negative_lines_only() -> None:
    erp, company, customer = await erp_with_a_customer()
    draft = await erp.draft_customer_invoice(invoice(company, customer, "inv-1", line("90", "a")))
    with pytest.raises(RequestRejected) as of_a_draft:
        await erp.draft_customer_invoice(
            invoice(company, customer, "cn-1", line("-90", "a"), credit_of=draft.ref.external_id)
        )
    await erp.post_customer_invoice(draft.ref.external_id, invoice_date=DAY)
    with pytest.raises(RequestRejected) as positive:
        await erp.draft_customer_invoice(
            invoice(company, customer, "cn-2", line("90", "a"), credit_of=draft.ref.external_id)
        )
    with pytest.raises(NotFound):
        await erp.draft_customer_invoice(
            invoice(company, customer, "cn-3", line("-90", "a"), credit_of="cinv-404")
        )
    credit = await erp.draft_customer_invoice(
        invoice(company, customer, "cn-4", line("-90", "a"), credit_of=draft.ref.external_id)
    )
    assert (of_a_draft.value.reason, positive.value.reason) == ("invalid_invoice",) * 2
    assert credit.total == Money.of("-108.00", "EUR")
    assert await erp.find(ErpObject.INVOICE, "cn-1") is None  # the refusal kept nothing


async def test_unknown_parties_and_refused_lines() -> None:
    erp, company, customer = await erp_with_a_customer()
    other = await erp.ensure_legal_entity(LE_FR.model_copy(update={"id": "le-2"}), key="le-2")
    refusals: list[RequestRejected] = []
    for request in (
        invoice(company, customer, "k-1"),  # no lines
        invoice(company, customer, "k-2", line("10", "a", TaxTreatment.EXEMPT, rate="20")),
        invoice(company, customer, "k-3", line("-10", "a")),  # an invoice of less than nothing
    ):
        with pytest.raises(RequestRejected) as refused:
            await erp.draft_customer_invoice(request)
        refusals.append(refused.value)
    with pytest.raises(NotFound):
        await erp.draft_customer_invoice(invoice("nowhere", customer, "k-4", line("1", "a")))
    with pytest.raises(NotFound):  # a customer of another company
        await erp.draft_customer_invoice(
            invoice(other.external_id, customer, "k-5", line("1", "a"))
        )
    with pytest.raises(NotFound):
        await erp.post_customer_invoice("cinv-404", invoice_date=DAY)
    assert [r.reason for r in refusals] == ["invalid_invoice"] * 3
    assert erp.invoice_book.invoices == {}


async def test_listing_by_date_includes_drafts_and_is_per_company() -> None:
    erp, company, customer = await erp_with_a_customer()
    october = await erp.draft_customer_invoice(invoice(company, customer, "k-1", line("1", "a")))
    november = await erp.draft_customer_invoice(invoice(company, customer, "k-2", line("2", "a")))
    await erp.post_customer_invoice(november.ref.external_id, invoice_date=dt.date(2026, 11, 3))
    listed = await erp.customer_invoices(company=company, start=DAY, end=dt.date(2026, 10, 31))
    later = await erp.customer_invoices(
        company=company, start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 30)
    )
    elsewhere = await erp.customer_invoices(company="nowhere", start=DAY, end=DAY)
    assert [i.ref for i in listed] == [october.ref]
    assert [(i.key, i.state) for i in later] == [("k-2", "posted")]
    assert elsewhere == []


async def test_failures_are_injected_as_on_every_call() -> None:
    erp, company, customer = await erp_with_a_customer()
    request = invoice(company, customer, "k-1", line("1", "a"))
    erp.refuse["k-1"] = RequestRejected("credit_hold", "the customer is on credit hold")
    with pytest.raises(RequestRejected) as refused:
        await erp.draft_customer_invoice(request)
    del erp.refuse["k-1"]
    erp.down = True
    with pytest.raises(SystemUnavailable):
        await erp.draft_customer_invoice(request)
    with pytest.raises(SystemUnavailable):
        await erp.customer_invoices(company=company, start=DAY, end=DAY)
    erp.down = False
    drafted = await erp.draft_customer_invoice(request)
    assert refused.value.reason == "credit_hold"
    assert erp.calls["draft_customer_invoice"] == 3
    assert drafted.state == "draft"


async def test_a_line_billing_a_project_makes_it_invoiced() -> None:
    erp, company, customer = await erp_with_a_customer()
    project = await erp.create_project(
        PROJECT, company=company, customer=customer, service=None, key=PROJECT.id
    )
    billed = InvoiceLineRequest(
        description="Discovery", quantity=Decimal(2), unit="day", unit_price=Money.of("900", "EUR"),
        amount=Money.of("1800", "EUR"), tax=TaxTreatment.STANDARD, tax_rate_pct=Decimal(20),
        reference="cg-1", project=project.external_id,
    )  # fmt: skip
    before = await erp.project_activity(project.external_id)
    await erp.draft_customer_invoice(invoice(company, customer, "k-1", billed))
    after = await erp.project_activity(project.external_id)
    assert (before.invoiced, after.invoiced) == (False, True)
    with pytest.raises(RequestRejected) as cancelling:
        await erp.cancel_project(project.external_id, reason="lost", key="cancel")
    assert cancelling.value.reason == "project_has_activity"
