"""TrytonErp customer invoices and credit notes with lines, taxed by a real trytond."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal

import pytest

from tandem_connectors import NotFound, PeriodClosed, RequestRejected
from tandem_connectors.ports import (
    CustomerInvoice,
    ErpObject,
    InvoiceLineRequest,
    TaxTreatment,
)
from tandem_connectors.tryton import TrytonErp
from tandem_contracts import Money
from tandem_contracts.entities import Customer, LegalEntity, TaxProfile
from tandem_testing import TrytonServer

from .tryton_world import TODAY, client_of

GB = LegalEntity(
    id="le-gb",
    name="Acme UK",
    country="GB",
    functional_currency="GBP",
    data_residency_region="eu",
)


def _customer(name: str, country: str, vat_id: str | None = None) -> Customer:
    return Customer(
        id=f"cu-{name}",
        name=name,
        legal_entity_id="le-gb",
        country=country,
        currency="GBP",
        tax_profile=TaxProfile(country=country, vat_id=vat_id),
    )


def _line(
    reference: str,
    quantity: str,
    unit_price: str,
    amount: str,
    tax: TaxTreatment = TaxTreatment.STANDARD,
    unit: str = "hour",
    rate: str = "20",
) -> InvoiceLineRequest:
    return InvoiceLineRequest(
        description=f"Consulting {reference}",
        quantity=Decimal(quantity),
        unit=unit,
        unit_price=Money.of(unit_price, "GBP"),
        amount=Money.of(amount, "GBP"),
        tax=tax,
        tax_rate_pct=Decimal(rate if tax is TaxTreatment.STANDARD else 0),
        reference=reference,
    )


# 3 h x 333.01 = 999.03 is exact; 2.5 h x 120.01 = 300.025 is not (the caller billed 300.03,
# Tryton would round it to 300.02): that line is one unit at 300.03. Tax per line: 199.806 ->
# 199.81 and 60.006 -> 60.01, so 259.82, where rounding the document's 259.812 once gives 259.81.
STANDARD_LINES = (_line("tm-1", "3", "333.01", "999.03"), _line("tm-2", "2.5", "120.01", "300.03"))
# A 19 % line of 1.50 is taxed 0.285: Tryton rounds the tie to the even cent, 0.28 (half-up
# would give 0.29), as the sandbox ERP and billing-readiness's expectation do.
TIE_LINES = (_line("tm-5", "1", "1.50", "1.50", rate="19"),)


@dataclass
class Books:
    """A UK company in Tryton with a domestic and an EU customer."""

    erp: TrytonErp
    company: str
    domestic: str
    eu: str

    def invoice(
        self,
        key: str,
        lines: tuple[InvoiceLineRequest, ...],
        *,
        customer: str | None = None,
        invoice_date: dt.date = TODAY,
        po_number: str | None = None,
        customer_vat_id: str | None = None,
        credit_of: str | None = None,
    ) -> CustomerInvoice:
        return CustomerInvoice(
            company=self.company,
            customer=customer or self.domestic,
            currency="GBP",
            invoice_date=invoice_date,
            payment_terms_days=30,
            lines=lines,
            key=key,
            po_number=po_number,
            customer_vat_id=customer_vat_id,
            credit_of=credit_of,
        )


async def _books(erp: TrytonErp) -> Books:
    company = (await erp.ensure_legal_entity(GB, key="le-gb")).external_id
    domestic = await erp.upsert_customer(_customer("Initech", "GB"), company=company, key="cu-1")
    eu = await erp.upsert_customer(
        _customer("Hooli", "DE", "DE136695976"), company=company, key="cu-2"
    )
    return Books(erp, company, domestic.external_id, eu.external_id)


async def test_invoices_are_taxed_per_line_posted_once_and_listed(tryton: TrytonServer) -> None:
    async with client_of(tryton) as client:
        books = await _books(TrytonErp(client, instance="uk"))
        erp = books.erp
        standard = books.invoice("inv-1", STANDARD_LINES, po_number="PO-77")
        drafted = await erp.draft_customer_invoice(standard)
        again = await erp.draft_customer_invoice(standard)
        reverse = await erp.draft_customer_invoice(
            books.invoice(
                "inv-2",
                (
                    _line("tm-3", "10", "150", "1500.00", TaxTreatment.REVERSE_CHARGE),
                    # Exact in pounds, but a day's quantity has two digits in Tryton.
                    _line("tm-4", "2.125", "480", "1020.00", TaxTreatment.REVERSE_CHARGE, "day"),
                ),
                customer=books.eu,
                customer_vat_id="DE136695976",
            )
        )
        posted = await erp.post_customer_invoice(drafted.ref.external_id, invoice_date=TODAY)
        reposted = await erp.post_customer_invoice(drafted.ref.external_id, invoice_date=TODAY)
        posted_reverse = await erp.post_customer_invoice(
            reverse.ref.external_id, invoice_date=TODAY
        )
        listed = await erp.customer_invoices(company=books.company, start=TODAY, end=TODAY)
        found = await erp.find(ErpObject.INVOICE, "inv-1")
        missing = await erp.find(ErpObject.INVOICE, "inv-404")
        keyed = await client.search("account.invoice", [["reference", "=", "inv-1"]])
        [header, reverse_header] = await client.read(
            "account.invoice",
            [int(drafted.ref.external_id), int(reverse.ref.external_id)],
            ["description", "comment"],
        )
        tie = await erp.draft_customer_invoice(books.invoice("inv-tie", TIE_LINES))
        lines = await client.search_read(
            "account.invoice.line",
            [["invoice", "in", [int(drafted.ref.external_id), int(reverse.ref.external_id)]]],
            ["note", "quantity", "unit_price", "unit.symbol", "description"],
            order=[("id", "ASC")],
        )
        [rounding] = await client.read(
            "account.configuration", [1], ["tax_rounding"], context={"company": int(books.company)}
        )
    assert drafted.state == "draft"
    assert drafted.number is None
    assert drafted.key == "inv-1"
    assert drafted.subtotal == Money.of("1299.06", "GBP")
    assert drafted.tax_total == Money.of("259.82", "GBP")
    assert drafted.total == Money.of("1558.88", "GBP")
    assert drafted.lines == {"tm-1": Money.of("999.03", "GBP"), "tm-2": Money.of("300.03", "GBP")}
    assert (tie.tax_total, tie.total) == (Money.of("0.28", "GBP"), Money.of("1.78", "GBP"))
    assert rounding["tax_rounding"] == "line"
    assert again == drafted
    assert keyed == [int(drafted.ref.external_id)]
    # The exact line keeps its hours; the other is one unit, its hours in the description.
    assert [(line["quantity"], line["unit_price"], line["unit."]["symbol"]) for line in lines] == [
        (3.0, Decimal("333.01"), "h"),
        (1.0, Decimal("300.03"), "u"),
        (10.0, Decimal("150.00"), "h"),
        (1.0, Decimal("1020.00"), "u"),
    ]
    assert "2.5 hour" in lines[1]["description"]
    assert "2.125 day" in lines[3]["description"]
    assert reverse.tax_total == Money.of("0", "GBP")
    assert reverse.total == Money.of("2520.00", "GBP")
    assert (header["description"], header["comment"]) == ("PO PO-77", None)
    assert reverse_header["description"] is None
    assert "DE136695976" in reverse_header["comment"]
    assert "Reverse charge" in reverse_header["comment"]
    assert posted.state == "posted"
    assert posted.number
    assert posted.invoice_date == TODAY
    assert posted.total == drafted.total
    assert reposted == posted
    assert posted_reverse.number
    assert posted_reverse.number != posted.number
    assert {(i.key, i.number, i.total.amount) for i in listed} == {
        ("inv-1", posted.number, Decimal("1558.88")),
        ("inv-2", posted_reverse.number, Decimal("2520.00")),
    }
    assert [i.lines for i in listed if i.key == "inv-2"] == [
        {"tm-3": Money.of("1500", "GBP"), "tm-4": Money.of("1020", "GBP")}
    ]
    assert found == drafted.ref
    assert missing is None


async def test_a_posted_invoice_is_credited_and_a_closed_period_refuses_posting(
    tryton: TrytonServer,
) -> None:
    async with client_of(tryton) as client:
        books = await _books(TrytonErp(client, instance="uk"))
        erp = books.erp
        invoice = await erp.draft_customer_invoice(books.invoice("inv-1", STANDARD_LINES))
        credit = books.invoice(
            "cn-1",
            (_line("tm-1", "3", "333.01", "-999.03"),),
            credit_of=invoice.ref.external_id,
        )
        with pytest.raises(RequestRejected) as draft_credited:
            await erp.draft_customer_invoice(credit)
        with pytest.raises(NotFound):
            await erp.draft_customer_invoice(books.invoice("inv-x", STANDARD_LINES, customer="999"))
        posted = await erp.post_customer_invoice(invoice.ref.external_id, invoice_date=TODAY)
        note = await erp.draft_customer_invoice(credit)
        posted_note = await erp.post_customer_invoice(note.ref.external_id, invoice_date=TODAY)
        [line] = await client.search_read(
            "account.invoice.line",
            [["invoice", "=", int(note.ref.external_id)]],
            ["quantity", "origin", "description"],
        )
        [header] = await client.read(
            "account.invoice", [int(note.ref.external_id)], ["description"]
        )
        [credited] = await client.search(
            "account.invoice.line",
            [["invoice", "=", int(invoice.ref.external_id)], ["note", "=", "tm-1"]],
        )
        last_month = TODAY.replace(day=1) - dt.timedelta(days=1)
        await erp.close_period(books.company, last_month)
        late = await erp.draft_customer_invoice(
            books.invoice("inv-3", STANDARD_LINES, invoice_date=last_month)
        )
        with pytest.raises(PeriodClosed):
            await erp.post_customer_invoice(late.ref.external_id, invoice_date=last_month)
        [still] = await erp.customer_invoices(
            company=books.company, start=last_month, end=last_month
        )
        # A draft not dated yet (as a project's invoice is drafted) is listed whatever the dates.
        await client.write("account.invoice", [int(late.ref.external_id)], {"invoice_date": None})
        today = await erp.customer_invoices(company=books.company, start=TODAY, end=TODAY)
    assert draft_credited.value.reason == "invalid_invoice"
    assert posted.number
    assert note.total == Money.of("-1198.84", "GBP")  # 999.03 and its 199.81 of VAT
    assert note.tax_total == Money.of("-199.81", "GBP")
    assert note.lines == {"tm-1": Money.of("-999.03", "GBP")}
    assert line["quantity"] == -3.0
    assert line["origin"] == f"account.invoice.line,{credited}"
    assert header["description"] == f"Credit of {posted.number}"
    assert posted_note.state == "posted"
    assert posted_note.number
    assert posted_note.number != posted.number
    assert posted_note.total == note.total
    assert (still.key, still.state, still.number) == ("inv-3", "draft", None)
    assert {(i.key, i.invoice_date) for i in today} == {
        ("inv-3", None),
        ("inv-1", TODAY),
        ("cn-1", TODAY),
    }


async def test_a_sister_company_is_invoiced_as_its_own_party(tryton: TrytonServer) -> None:
    async with client_of(tryton) as client:
        books = await _books(TrytonErp(client, instance="uk"))
        erp = books.erp
        sister = LegalEntity(
            id="le-de", name="Acme Deutschland", country="DE", functional_currency="EUR",
            data_residency_region="eu",
        )  # fmt: skip
        de = (await erp.ensure_legal_entity(sister, key="le-de")).external_id
        party = await erp.company_party(de)
        assert party is not None
        [company] = await client.read("company.company", [int(de)], ["party"])
        # The company's own party, which has no address yet: the invoice gives it one.
        assert int(party.external_id) == company["party"]
        assert party.object_type == ErpObject.CUSTOMER
        lines = (_line("ic-1", "8", "78.29", "626.32", TaxTreatment.EXEMPT),)
        drafted = await erp.draft_customer_invoice(
            books.invoice("inv-ic", lines, customer=party.external_id)
        )
        posted = await erp.post_customer_invoice(drafted.ref.external_id, invoice_date=TODAY)
        [invoice] = await client.read("account.invoice", [int(drafted.ref.external_id)], ["party"])
        with pytest.raises(NotFound):
            await erp.company_party("999999")
    assert invoice["party"] == company["party"]
    assert (posted.state, posted.total) == ("posted", Money.of("626.32", "GBP"))


def _euro_invoice(books: Books, key: str) -> CustomerInvoice:
    """Two lines of 0.75 EUR: each converts to 0.64 GBP, their total of 1.50 to 1.29, so the
    move books the penny between them as an exchange difference."""
    line = _line("eur", "1", "0.75", "0.75", TaxTreatment.EXEMPT)
    euros = Money.of("0.75", "EUR")
    lines = tuple(
        replace(line, reference=ref, unit_price=euros, amount=euros)
        for ref in (f"{key}-a", f"{key}-b")
    )
    return CustomerInvoice(
        company=books.company, customer=books.eu, currency="EUR", invoice_date=TODAY,
        payment_terms_days=30, lines=lines, key=key,
    )  # fmt: skip


async def test_an_invoice_in_another_currency_than_the_companys_posts(
    tryton: TrytonServer,
) -> None:
    # A UK company invoicing a German customer in euros; then a company made before the
    # adapter configured exchange accounts, whose next set-up configures them.
    async with client_of(tryton) as client:
        books = await _books(TrytonErp(client, instance="uk"))
        erp = books.erp
        drafted = await erp.draft_customer_invoice(_euro_invoice(books, "inv-eur"))
        posted = await erp.post_customer_invoice(drafted.ref.external_id, invoice_date=TODAY)
        [invoice] = await client.read("account.invoice", [int(drafted.ref.external_id)], ["move"])
        exchange = await client.search_read(
            "account.move.line", [["move", "=", invoice["move"]], ["account.code", "=", "6.2.1"]],
            ["debit", "credit"],
        )  # fmt: skip
        context = {"company": int(books.company)}
        unset = {
            "currency_exchange_credit_account": None, "currency_exchange_debit_account": None
        }  # fmt: skip
        await client.write("account.configuration", [1], unset, context=context)
        older = await erp.draft_customer_invoice(_euro_invoice(books, "inv-eur-2"))
        with pytest.raises(RequestRejected):
            await erp.post_customer_invoice(older.ref.external_id, invoice_date=TODAY)
        await erp.ensure_legal_entity(GB, key="le-gb")
        reposted = await erp.post_customer_invoice(older.ref.external_id, invoice_date=TODAY)
    assert (posted.state, posted.total) == ("posted", Money.of("1.50", "EUR"))
    assert posted.number
    exchanged = [(line["debit"], line["credit"]) for line in exchange]
    assert exchanged == [(Decimal(0), Decimal("0.01"))]
    assert (reposted.state, reposted.total) == ("posted", Money.of("1.50", "EUR"))
