"""The REST ERP's invoices, for ``RestErp``: a project's invoice drafted from its unbilled
postings, and customer invoices and credit notes drafted from the lines Tandem chose.

A customer invoice is written once per idempotency key (its ``external_id``): the ERP answers
the invoice it already holds for a key (200) instead of drafting a second one, whatever its
state since. The ERP taxes each line and mints the number at post. Its refusals map as every
REST call's do (404 ``NotFound``, ``PERIOD_CLOSED`` ``PeriodClosed``), except that a request
the ERP cannot validate is ``RequestRejected`` with reason ``invalid_invoice``, as a line it
refuses by rule is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

from tandem_connectors.errors import RequestRejected
from tandem_connectors.http import HttpTarget
from tandem_connectors.ports import (
    CustomerInvoice,
    ErpInvoice,
    ErpObject,
    InvoiceDraft,
    InvoiceLineRequest,
    PostedInvoice,
)
from tandem_connectors.rest._changes import pages
from tandem_connectors.rest._records import decimal_money, optional_date, reading
from tandem_contracts import ExternalRef, Money, SystemKind

__all__ = ["RestErpInvoices"]

_CUSTOMER_INVOICES = "/v1/customer-invoices"
_PROJECT_INVOICES = "/v1/invoices"


def _invoice_ref(instance: str, record_id: str, version: Any) -> ExternalRef:
    return ExternalRef(
        system=SystemKind.ERP,
        instance=instance,
        object_type=ErpObject.INVOICE.value,
        external_id=record_id,
        external_version=str(version) if version is not None else None,
    )


class RestErpInvoices:
    """The invoice calls of one REST ERP instance (``RestErp`` delegates to them)."""

    def __init__(self, target: HttpTarget, instance: str) -> None:
        self._target = target
        self._instance = instance

    async def draft_project(self, *, project: str, key: str) -> InvoiceDraft:
        """Draft the invoice of the project's unbilled billable postings."""
        reply = await self._target.request(
            "POST",
            f"{_PROJECT_INVOICES}/drafts",
            json={"project_id": project, "external_id": key},
            idempotency_key=key,
        )
        body = reply.json()
        total = Money(amount=Decimal(body["total"]), currency=body["currency"])
        ref = _invoice_ref(self._instance, body["id"], body["version"])
        return InvoiceDraft(ref=ref, total=total, line_count=len(body["lines"]))

    async def post_project(self, invoice: str, *, invoice_date: date) -> PostedInvoice:
        """Post a project's draft invoice on ``invoice_date``; ``PeriodClosed`` if closed."""
        reply = await self._target.request(
            "POST",
            f"{_PROJECT_INVOICES}/{invoice}/post",
            json={"invoice_date": invoice_date.isoformat()},
            idempotency_key=f"post:{invoice}",
        )
        body = reply.json()
        return PostedInvoice(
            ref=_invoice_ref(self._instance, body["id"], body["version"]),
            number=body["number"],
            invoice_date=date.fromisoformat(body["invoice_date"]),
            total=Money(amount=Decimal(body["total"]), currency=body["currency"]),
        )

    async def draft(self, invoice: CustomerInvoice) -> ErpInvoice:
        """Draft the customer invoice (or credit note) under ``invoice.key``; a repeat answers
        the invoice the key already made."""
        body = {
            "external_id": invoice.key,
            "subsidiary_id": invoice.company,
            "customer_id": invoice.customer,
            "currency": invoice.currency,
            "invoice_date": invoice.invoice_date.isoformat(),
            "payment_terms_days": invoice.payment_terms_days,
            "po_number": invoice.po_number,
            "customer_vat_id": invoice.customer_vat_id,
            "credit_of": invoice.credit_of,
            "lines": [_line(invoice.currency, line) for line in invoice.lines],
        }
        with _invalid_is_refused():
            reply = await self._target.request(
                "POST", _CUSTOMER_INVOICES, json=body, idempotency_key=invoice.key
            )
        return _erp_invoice(self._instance, reply.json())

    async def post(self, invoice: str, *, invoice_date: date) -> ErpInvoice:
        """Post the drafted invoice on ``invoice_date`` (the ERP mints its number); a posted
        one is answered unchanged."""
        reply = await self._target.request(
            "POST",
            f"{_CUSTOMER_INVOICES}/{invoice}/post",
            json={"invoice_date": invoice_date.isoformat()},
            idempotency_key=f"post:{invoice}",
        )
        return _erp_invoice(self._instance, reply.json())

    async def dated(self, *, company: str, start: date, end: date) -> list[ErpInvoice]:
        """The subsidiary's customer invoices and credit notes dated in [start, end]."""
        params = {"subsidiary_id": company, "start": start.isoformat(), "end": end.isoformat()}
        rows = await pages(self._target, _CUSTOMER_INVOICES, params)
        return [_erp_invoice(self._instance, row) for row in rows]

    async def find(self, key: str) -> ExternalRef | None:
        """The customer invoice drafted under ``key``, else the project invoice drafted under
        it (both keep the key as their ``external_id``)."""
        for path in (_CUSTOMER_INVOICES, _PROJECT_INVOICES):
            reply = await self._target.request("GET", path, params={"external_id": key, "limit": 1})
            if items := reply.json()["items"]:
                return _invoice_ref(self._instance, items[0]["id"], items[0].get("version"))
        return None


def _erp_invoice(instance: str, record: dict[str, Any]) -> ErpInvoice:
    """A customer invoice as the ERP answered it; ``UnexpectedResponse`` when unreadable."""
    with reading("erp", "customer invoice", record):
        currency = str(record["currency"])
        lines: dict[str, Money] = {}
        for line in record["lines"]:
            amount = decimal_money(line["amount"], currency)
            reference = str(line["reference"])
            lines[reference] = lines[reference] + amount if reference in lines else amount
        return ErpInvoice(
            ref=_invoice_ref(instance, record["id"], record.get("version")),
            key=record.get("external_id"),
            number=record.get("number"),
            state=str(record["status"]),
            currency=currency,
            invoice_date=optional_date(record.get("invoice_date")),
            subtotal=decimal_money(record["subtotal"], currency),
            tax_total=decimal_money(record["tax_total"], currency),
            total=decimal_money(record["total"], currency),
            lines=lines,
        )


def _line(currency: str, line: InvoiceLineRequest) -> dict[str, Any]:
    for money in (line.unit_price, line.amount):
        if money.currency != currency:
            raise RequestRejected(
                "invalid_invoice", f"line {line.reference!r} is in {money.currency}, not {currency}"
            )
    return {
        "description": line.description,
        "quantity": format(line.quantity, "f"),
        "unit": line.unit,
        "unit_price": format(line.unit_price.amount, "f"),
        "amount": format(line.amount.amount, "f"),
        "tax": line.tax.value,
        "tax_rate_pct": format(line.tax_rate_pct, "f"),
        "reference": line.reference,
        "project_id": line.project,
    }


@contextmanager
def _invalid_is_refused() -> Iterator[None]:
    """A request the ERP's validation refuses is an invoice it refuses: ``invalid_invoice``."""
    try:
        yield
    except RequestRejected as exc:
        if exc.reason != "validation_error":
            raise
        raise RequestRejected("invalid_invoice", str(exc)) from exc
