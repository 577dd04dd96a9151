"""Customer invoices and credit notes with their lines, taxed by Tryton.

**Drafting.** A customer invoice is an ``account.invoice`` of type ``out`` in the company: the
key in ``reference`` (``_keys``), the PO number in ``description``, the receivable account
and revenue journal of the company, a *Net N* payment term. Each line is a ``line`` on the
company's revenue account (the one the service category bills, ``_setup``), with the line's
``reference`` in its ``note`` (read back as ``ErpInvoice.lines``) and one tax of its
treatment. Tryton computes the taxes; Tandem never writes a tax amount.

**Exact amounts.** A line carries ``quantity`` x ``unit_price`` when Tryton's own line amount
(the product rounded half-even to the currency's rounding) is the requested amount and the
quantity fits its unit's digits; otherwise it is one unit at the amount, the quantity kept in
the description. A credit note's lines have negative quantities (Tryton's credit notes are
``out`` invoices with a negative total); those crediting a line of the same reference on the
credited invoice point back at it (``origin``), as Tryton's credit wizard does, and the
credited invoice's number is in the description. Only a posted (or paid) invoice is credited.

**Taxes.** One ``account.tax`` of type ``percentage`` per company, treatment and rate, found
or made on first use ("VAT 20% standard", "Reverse charge (0%)", "Exempt (0%)"; Tryton's
rates are fractions), booked on the chart's accrued-taxes account. The company's tax rounding
is set to *per line* (``account.configuration.tax_rounding``): each line's tax is rounded on
its own, so a caller computing tax per line finds Tryton's figures. Tryton rounds half-even:
a tax of exactly half a cent (5 % of 0.10) rounds to the even cent, where half-up would not;
at 20 % the tax of whole cents is a multiple of 0.002, never a half cent, so the two agree.

**Posting** dates the draft and calls Tryton's ``post``, which mints the number; a closed
period is ``PeriodClosed`` (``_client``) and leaves the draft for a retry. Tryton refuses to
post to a customer whose EU VAT id VIES found invalid, and warns (a refusal over RPC) while
its check is pending: both are ``RequestRejected`` (``erp_rejected``), the draft kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tandem_connectors.errors import NotFound, RequestRejected
from tandem_connectors.ports import (
    CustomerInvoice,
    ErpInvoice,
    ErpObject,
    InvoiceLineRequest,
    TaxTreatment,
)
from tandem_connectors.tryton._client import TrytonClient
from tandem_connectors.tryton._keys import find_keys
from tandem_connectors.tryton._mapping import company_context, external_ref, money_of
from tandem_connectors.tryton._setup import ensure_payment_term

__all__ = ["CustomerInvoices"]

_TAX_ACCOUNT = ("account", "account_template_2_2_3_en")  # Accrued Taxes (Other Than Payroll)
_UNITS = {
    **dict.fromkeys(("u", "unit", "units", "each"), "uom_unit"),
    **dict.fromkeys(("h", "hour", "hours"), "uom_hour"),
    **dict.fromkeys(("d", "day", "days"), "uom_day"),
}
_LEGAL_NOTICES = {
    TaxTreatment.REVERSE_CHARGE: "Reverse charge: the customer accounts for the VAT "
    "(Article 196, Council Directive 2006/112/EC).",
    TaxTreatment.EXEMPT: "Outside the scope of VAT (export of services).",
}
_OUT: list[Any] = [["type", "=", "out"]]
_CREDITABLE = ("posted", "paid")
_FIELDS = [
    "reference", "number", "state", "currency.code", "invoice_date",
    "untaxed_amount", "tax_amount", "total_amount",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Books:
    """What a company's customer invoices book on."""

    receivable: int
    revenue: int
    taxes: int
    journal: int


@dataclass(frozen=True, slots=True)
class _Unit:
    id: int
    digits: int


class CustomerInvoices:
    """The customer invoices of one Tryton database, with what they need looked up once per
    adapter: each company's accounts, taxes, payment terms and units."""

    def __init__(self, client: TrytonClient, instance: str) -> None:
        self._client = client
        self._instance = instance
        self._books: dict[int, _Books] = {}
        self._taxes: dict[tuple[int, TaxTreatment, Decimal], int] = {}
        self._terms: dict[int, int] = {}
        self._units: dict[str, _Unit] = {}

    async def find(self, key: str) -> int | None:
        """The customer invoice (or credit note) written under ``key``."""
        found = await find_keys(self._client, "account.invoice", [key], domain=_OUT)
        return found.get(key)

    async def draft(self, invoice: CustomerInvoice) -> ErpInvoice:
        """Draft ``invoice`` once under its key; a repeat answers it in whatever state."""
        made = await self.find(invoice.key)
        if made is None:
            made = await self._create(invoice)
        [answer] = await self._read([["id", "=", made]])
        return answer

    async def _create(self, invoice: CustomerInvoice) -> int:
        client, company = self._client, int(invoice.company)
        books = await self._books_of(company)
        if not await client.search("party.party", [["id", "=", int(invoice.customer)]]):
            raise NotFound(f"Tryton has no customer party {invoice.customer}")
        address = await _invoice_address(client, int(invoice.customer))
        currencies = await client.search_read(
            "currency.currency", [["code", "=", invoice.currency]], ["rounding"],
            order=[("id", "ASC")], limit=1,
        )  # fmt: skip
        if not currencies:
            raise RequestRejected("erp_setup_incomplete", f"Tryton has no {invoice.currency}")
        currency = currencies[0]
        credited, number = await self._credited(company, invoice.credit_of)
        lines = [
            await self._line(company, books, currency, line, credited.get(line.reference))
            for line in invoice.lines
        ]
        values = {
            "type": "out",
            "company": company,
            "party": int(invoice.customer),
            "invoice_address": address,
            "currency": currency["id"],
            "account": books.receivable,
            "journal": books.journal,
            "payment_term": await self._term(invoice.payment_terms_days),
            "invoice_date": invoice.invoice_date,
            "reference": invoice.key,
            "description": _description(invoice.po_number, number),
            "comment": _comment(invoice),
            "lines": [["create", lines]],
        }
        try:
            [made] = await client.create(
                "account.invoice", [values], context=company_context(company)
            )
        except RequestRejected as exc:
            if exc.reason != "erp_rejected":
                raise
            raise RequestRejected("invalid_invoice", f"Tryton refused the invoice: {exc}") from exc
        return made

    async def _credited(self, company: int, invoice: str | None) -> tuple[dict[str, int], str]:
        """The credited invoice's lines by reference, and its number; refused unless posted."""
        if invoice is None:
            return {}, ""
        rows = await self._client.search_read(
            "account.invoice", [["id", "=", int(invoice)], ["company", "=", company], *_OUT],
            ["state", "number", "lines"],
        )  # fmt: skip
        if not rows:
            raise NotFound(f"Tryton company {company} has no customer invoice {invoice}")
        if rows[0]["state"] not in _CREDITABLE:
            raise RequestRejected(
                "invalid_invoice", f"invoice {invoice} is {rows[0]['state']}, not posted"
            )
        lines = await self._client.read("account.invoice.line", rows[0]["lines"], ["note"])
        by_reference = {line["note"]: line["id"] for line in lines if line["note"]}
        return by_reference, str(rows[0]["number"])

    async def _line(
        self,
        company: int,
        books: _Books,
        currency: dict[str, Any],
        line: InvoiceLineRequest,
        credits: int | None,
    ) -> dict[str, Any]:
        quantity, price = line.quantity, line.unit_price.amount
        if (quantity * price < 0) != (line.amount.amount < 0):
            quantity = -quantity  # a credit note given with positive quantities
        unit = await self._unit(_UNITS.get(line.unit.strip().lower()))
        description = line.description
        exact = (
            unit is not None
            and quantity == quantity.quantize(Decimal(1).scaleb(-unit.digits))
            and _rounded(quantity * price, currency["rounding"]) == line.amount.amount
        )
        if not exact:
            description = f"{description} ({line.quantity} {line.unit} at {line.unit_price})"
            quantity = Decimal(-1 if line.amount.amount < 0 else 1)
            price = abs(line.amount.amount)
            unit = await self._unit("uom_unit")
        tax = await self._tax(company, books, line.tax, line.tax_rate_pct)
        values = {
            "type": "line",
            "company": company,
            "currency": currency["id"],
            "account": books.revenue,
            "description": description,
            "note": line.reference,
            "quantity": float(quantity),
            "unit": unit.id if unit else None,
            "unit_price": price,
            "taxes": [["add", [tax]]],
        }
        if credits is not None:
            values["origin"] = f"account.invoice.line,{credits}"
        return values

    async def post(self, invoice: int, invoice_date: dt.date) -> ErpInvoice:
        """Date and post the draft; a posted one is answered as it is, a cancelled one refused."""
        rows = await self._read([["id", "=", invoice]])
        if not rows:
            raise NotFound(f"Tryton has no customer invoice {invoice}")
        if rows[0].state in _CREDITABLE:
            return rows[0]
        if rows[0].state == "cancelled":
            raise RequestRejected("invalid_invoice", f"invoice {invoice} is cancelled")
        [row] = await self._client.read("account.invoice", [invoice], ["company"])
        context = company_context(row["company"])
        await self._client.write(
            "account.invoice", [invoice], {"invoice_date": invoice_date}, context=context
        )
        await self._client.call("account.invoice", "post", [invoice], context=context)
        [answer] = await self._read([["id", "=", invoice]])
        return answer

    async def listed(self, company: int, start: dt.date, end: dt.date) -> list[ErpInvoice]:
        """The company's customer invoices dated in [start, end], and its undated drafts."""
        dated = [["invoice_date", ">=", start], ["invoice_date", "<=", end]]
        undated = [["invoice_date", "=", None], ["state", "=", "draft"]]
        return await self._read([["company", "=", company], ["OR", dated, undated]])

    async def _read(self, domain: list[Any]) -> list[ErpInvoice]:
        client = self._client
        order = [("invoice_date", "ASC"), ("id", "ASC")]
        rows = await client.search_read("account.invoice", [*domain, *_OUT], _FIELDS, order=order)
        lines = await client.search_read(
            "account.invoice.line",
            [["invoice", "in", [row["id"] for row in rows]], ["type", "=", "line"]],
            ["invoice", "note", "amount"],
        ) if rows else []  # fmt: skip
        amounts: dict[int, dict[str, Decimal]] = {row["id"]: {} for row in rows}
        for line in lines:
            if line["note"]:
                by_reference = amounts[line["invoice"]]
                by_reference[line["note"]] = by_reference.get(line["note"], 0) + line["amount"]
        return [self._invoice(row, amounts[row["id"]]) for row in rows]

    def _invoice(self, row: dict[str, Any], lines: dict[str, Decimal]) -> ErpInvoice:
        code = row["currency."]["code"]
        return ErpInvoice(
            ref=external_ref(self._instance, ErpObject.INVOICE, row["id"]),
            key=row["reference"] or None,
            number=row["number"] or None,
            state=row["state"],
            currency=code,
            invoice_date=row["invoice_date"],
            subtotal=money_of(row["untaxed_amount"], code),
            tax_total=money_of(row["tax_amount"], code),
            total=money_of(row["total_amount"], code),
            lines={reference: money_of(amount, code) for reference, amount in lines.items()},
        )

    async def _books_of(self, company: int) -> _Books:
        """The company's accounts and journal; sets its tax rounding per line, once."""
        if company in self._books:
            return self._books[company]
        client, context = self._client, company_context(company)
        if not await client.search("company.company", [["id", "=", company]]):
            raise NotFound(f"Tryton has no company {company}")
        [config] = await client.read(
            "account.configuration", [1], ["default_account_receivable", "tax_rounding"],
            context=context,
        )  # fmt: skip
        if config["default_account_receivable"] is None:
            raise RequestRejected("erp_setup_incomplete", f"company {company} has no receivable")
        if config["tax_rounding"] != "line":
            await client.write(
                "account.configuration", [1], {"tax_rounding": "line"}, context=context
            )
        template = await client.call("ir.model.data", "get_id", *_TAX_ACCOUNT)
        open_ = [["company", "=", company], ["closed", "!=", True]]
        self._books[company] = _Books(
            receivable=config["default_account_receivable"],
            revenue=await _one(client, "account.account", [*open_, ["type.revenue", "=", True]]),
            taxes=await _one(client, "account.account", [*open_, ["template", "=", template]]),
            journal=await _one(client, "account.journal", [["type", "=", "revenue"]]),
        )
        return self._books[company]

    async def _tax(
        self, company: int, books: _Books, treatment: TaxTreatment, rate_pct: Decimal
    ) -> int:
        """The company's percentage tax of ``treatment`` at ``rate_pct``, made on first use."""
        if rate_pct < 0 or (treatment is not TaxTreatment.STANDARD and rate_pct != 0):
            raise RequestRejected("invalid_invoice", f"no {treatment} tax at {rate_pct}%")
        cached = (company, treatment, rate_pct.normalize())
        if cached in self._taxes:
            return self._taxes[cached]
        percent = format(rate_pct.normalize(), "f")
        name = {
            TaxTreatment.STANDARD: f"VAT {percent}% standard",
            TaxTreatment.REVERSE_CHARGE: "Reverse charge (0%)",
            TaxTreatment.EXEMPT: "Exempt (0%)",
        }[treatment]
        rate = rate_pct / 100
        domain = [["company", "=", company], ["name", "=", name], ["type", "=", "percentage"]]
        found = await self._client.search(
            "account.tax", [*domain, ["rate", "=", rate]], order=[("id", "ASC")], limit=1
        )
        if not found:
            values = {
                "name": name, "description": name, "company": company,
                "type": "percentage", "rate": rate,
                "invoice_account": books.taxes, "credit_note_account": books.taxes,
                "legal_notice": _LEGAL_NOTICES.get(treatment),
            }  # fmt: skip
            found = await self._client.create(
                "account.tax", [values], context=company_context(company)
            )
        self._taxes[cached] = found[0]
        return found[0]

    async def _term(self, days: int) -> int:
        if days not in self._terms:
            self._terms[days] = await ensure_payment_term(self._client, days)
        return self._terms[days]

    async def _unit(self, xml_id: str | None) -> _Unit | None:
        """The Tryton unit of measure of ``product.<xml_id>``; None for an unknown unit."""
        if xml_id is None:
            return None
        if xml_id not in self._units:
            uom = await self._client.call("ir.model.data", "get_id", "product", xml_id)
            [row] = await self._client.read("product.uom", [uom], ["digits"])
            self._units[xml_id] = _Unit(uom, row["digits"])
        return self._units[xml_id]


async def _invoice_address(client: TrytonClient, party: int) -> int:
    """The party's first address, made (its street empty) when it has none: a sister company's
    own party, invoiced intercompany, was never given one, and Tryton invoices an address."""
    found = await client.search("party.address", [["party", "=", party]], limit=1)
    if found:
        return int(found[0])
    [made] = await client.create("party.address", [{"party": party}])
    return int(made)


async def _one(client: TrytonClient, model: str, domain: list[Any]) -> int:
    """The first record matching ``domain`` in Tryton's order (as ``_setup`` picks accounts);
    a missing one is a setup gap for a person."""
    found = await client.search(model, domain, limit=1)
    if not found:
        raise RequestRejected("erp_setup_incomplete", f"Tryton has no {model} for this invoice")
    return int(found[0])


def _rounded(amount: Decimal, rounding: Decimal) -> Decimal:
    """``amount`` rounded as Tryton rounds a line amount: half-even to the currency's rounding."""
    if not rounding:
        return amount
    return (amount / rounding).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * rounding


def _description(po_number: str | None, credited: str) -> str | None:
    parts = [f"PO {po_number}" if po_number else "", f"Credit of {credited}" if credited else ""]
    return " / ".join(part for part in parts if part) or None


def _comment(invoice: CustomerInvoice) -> str | None:
    if not any(line.tax is TaxTreatment.REVERSE_CHARGE for line in invoice.lines):
        return None
    vat = f" Customer VAT id: {invoice.customer_vat_id}." if invoice.customer_vat_id else ""
    return f"{_LEGAL_NOTICES[TaxTreatment.REVERSE_CHARGE]}{vat}"
