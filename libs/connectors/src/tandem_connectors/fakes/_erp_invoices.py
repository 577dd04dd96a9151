"""The customer invoices of ``FakeErp``: drafted once per key, taxed per line, numbered at post.

The fake keeps the port's contract the way a real ERP does: each line's tax is its amount x its
rate / 100, rounded half-even per line to the currency's minor unit (as Tryton); the number is
minted at post, gapless per company and series (``INV-<company>-000001``, credit notes
``CN-...``); a date in a company's period that is not open refuses the post (``PeriodClosed``)
and mints nothing. A credit note credits a posted invoice of the same company, customer and
currency, with negative lines only. The invoice's key is kept where ``FakeErp.find`` looks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

from tandem_connectors.errors import NotFound, PeriodClosed, RequestRejected
from tandem_connectors.ports import (
    CustomerInvoice,
    ErpInvoice,
    ErpObject,
    InvoiceLineRequest,
    TaxTreatment,
)
from tandem_contracts import ExternalRef, Money, SystemKind, minor_unit
from tandem_contracts.entities import PeriodStatus

if TYPE_CHECKING:
    from tandem_connectors.fakes._erp import FakeErp

__all__ = ["FakeInvoiceBook", "HeldInvoice"]

_SERIES = {"invoice": "INV", "credit_note": "CN"}


@dataclass(frozen=True)
class HeldInvoice:
    """A customer invoice (``kind`` ``invoice`` or ``credit_note``) as the fake holds it."""

    external_id: str
    request: CustomerInvoice
    kind: str
    taxes: tuple[Money, ...]
    state: str = "draft"
    number: str | None = None
    invoice_date: dt.date | None = None

    def shown(self, instance: str) -> ErpInvoice:
        """The invoice as the port answers it."""
        currency = self.request.currency
        zero = Money(amount=Decimal(0), currency=currency)
        lines: dict[str, Money] = {}
        for line in self.request.lines:
            lines[line.reference] = lines.get(line.reference, zero) + line.amount
        subtotal = sum((line.amount for line in self.request.lines), zero)
        tax_total = sum(self.taxes, zero)
        return ErpInvoice(
            ref=ExternalRef(
                system=SystemKind.ERP,
                instance=instance,
                object_type=ErpObject.INVOICE.value,
                external_id=self.external_id,
            ),
            key=self.request.key,
            number=self.number,
            state=self.state,
            currency=currency,
            invoice_date=self.invoice_date,
            subtotal=subtotal,
            tax_total=tax_total,
            total=subtotal + tax_total,
            lines=lines,
        )


@dataclass
class FakeInvoiceBook:
    """The customer invoices one ``FakeErp`` holds (``invoices``, by id) and the last number of
    each (company, series)."""

    invoices: dict[str, HeldInvoice] = field(default_factory=dict)
    numbers: dict[tuple[str, str], int] = field(default_factory=dict)

    def draft(self, erp: FakeErp, invoice: CustomerInvoice) -> ErpInvoice:
        """Draft ``invoice`` under its key, or answer the invoice the key already made."""
        if invoice.key in erp.refuse:
            raise erp.refuse[invoice.key]
        held = erp.keys.get((ErpObject.INVOICE, invoice.key))
        if held is not None:
            if held not in self.invoices:
                raise _invalid(f"the key {invoice.key} drafted a project's invoice")
            return self.invoices[held].shown(erp.instance)
        if not invoice.lines:
            raise _invalid("an invoice has at least one line")
        if invoice.company not in erp.companies:
            raise NotFound(f"the fake ERP holds no company {invoice.company}")
        customer = erp.customers.get(invoice.customer)
        if customer is None or customer[1] != invoice.company:
            raise NotFound(f"company {invoice.company} has no customer {invoice.customer}")
        taxes = tuple(_tax(invoice.currency, line) for line in invoice.lines)
        kind = self._kind(invoice)
        external_id = f"cinv-{len(self.invoices) + 1}"
        erp.keys[(ErpObject.INVOICE, invoice.key)] = external_id
        self.invoices[external_id] = HeldInvoice(
            external_id, invoice, kind, taxes, invoice_date=invoice.invoice_date
        )
        return self.invoices[external_id].shown(erp.instance)

    def post(self, erp: FakeErp, invoice: str, on: dt.date) -> ErpInvoice:
        """Number and date the drafted invoice; a posted one is answered unchanged."""
        held = self.invoices.get(invoice)
        if held is None:
            raise NotFound(f"the fake ERP holds no customer invoice {invoice}")
        if held.state == "posted":
            return held.shown(erp.instance)
        company = held.request.company
        for period in erp.periods.get(company, []):
            if period.start_date <= on <= period.end_date and period.status != PeriodStatus.OPEN:
                raise PeriodClosed(f"the period {period.name} of {on} is {period.status.value}")
        series = _SERIES[held.kind]
        number = self.numbers.get((company, series), 0) + 1
        self.numbers[(company, series)] = number
        posted = replace(
            held, state="posted", number=f"{series}-{company}-{number:06d}", invoice_date=on
        )
        self.invoices[invoice] = posted
        return posted.shown(erp.instance)

    def dated(self, erp: FakeErp, company: str, start: dt.date, end: dt.date) -> list[ErpInvoice]:
        """The company's invoices and credit notes dated in [start, end], in drafting order."""
        return [
            held.shown(erp.instance)
            for held in self.invoices.values()
            if held.request.company == company
            and (held.invoice_date is None or start <= held.invoice_date <= end)
        ]

    def bills(self, project: str) -> bool:
        """Whether a line of some invoice (draft or posted) bills ``project``."""
        return any(
            line.project == project
            for held in self.invoices.values()
            for line in held.request.lines
        )

    def _kind(self, invoice: CustomerInvoice) -> str:
        """``invoice`` or ``credit_note``, once a credit note's credit is checked."""
        amounts = [line.amount.amount for line in invoice.lines]
        if invoice.credit_of is None:
            if sum(amounts, Decimal(0)) < 0:
                raise _invalid("the lines come to less than nothing: a credit note names credit_of")
            return "invoice"
        credited = self.invoices.get(invoice.credit_of)
        if credited is None:
            raise NotFound(f"the fake ERP holds no customer invoice {invoice.credit_of}")
        if credited.state != "posted":
            raise _invalid(f"invoice {credited.external_id} is {credited.state}: not posted")
        if credited.kind != "invoice":
            raise _invalid(f"{credited.external_id} is a credit note: credit the invoice")
        theirs = (credited.request.company, credited.request.customer, credited.request.currency)
        if theirs != (invoice.company, invoice.customer, invoice.currency):
            raise _invalid(f"invoice {credited.external_id} is of {theirs}")
        if any(amount >= 0 for amount in amounts):
            raise _invalid("every line of a credit note has a negative amount")
        return "credit_note"


def _tax(currency: str, line: InvoiceLineRequest) -> Money:
    """The line's tax, rounded half-even to the minor unit per line (as Tryton); refuses a
    line the ERP would."""
    if line.amount.currency != currency or line.unit_price.currency != currency:
        raise _invalid(f"line {line.reference} is not in {currency}")
    if not Decimal(0) <= line.tax_rate_pct <= Decimal(100):
        raise _invalid(f"line {line.reference}: a tax rate of {line.tax_rate_pct} %")
    if line.tax is not TaxTreatment.STANDARD and line.tax_rate_pct != 0:
        raise _invalid(f"line {line.reference}: a {line.tax.value} line has no tax rate")
    exact = line.amount.amount * line.tax_rate_pct / 100
    quantum = Decimal(1).scaleb(-minor_unit(currency))
    return Money(amount=exact.quantize(quantum, rounding=ROUND_HALF_EVEN), currency=currency)


def _invalid(detail: str) -> RequestRejected:
    return RequestRejected("invalid_invoice", detail)
