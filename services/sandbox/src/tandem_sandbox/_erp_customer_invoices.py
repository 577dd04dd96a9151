"""The ERP's customer invoices and credit notes (NetSuite-like): lines the caller chose, taxed here.

Unlike a project's invoice (``_erp_invoices``), whose lines the ERP gathers from unbilled
postings, a customer invoice is drafted from the lines in its request:

- ``POST /v1/customer-invoices`` drafts it once per ``external_id`` (201; the same key again
  answers the invoice already made, drafted or posted since, with 200). Each line's tax is
  ``amount`` x ``tax_rate_pct`` / 100, rounded half-even (as Tryton) to the currency's minor
  unit; the invoice carries ``subtotal``, ``tax_total`` and ``total``. ``amount`` is
  authoritative: a line whose ``quantity`` x ``unit_price`` does not come to it is kept with
  all three.
  An unknown subsidiary, customer (or a customer of another subsidiary) or ``credit_of``
  answers 404; lines the ERP refuses answer 422 ``INVALID_INVOICE``: none at all, an amount
  finer than the currency's minor unit, a rate on a line not taxed at the standard rate, an
  unknown project, a credit note with a line that is not negative or crediting an invoice
  that is not posted (or is itself a credit note, or of another subsidiary, customer or
  currency), an invoice whose lines come to less than nothing.
- ``POST /v1/customer-invoices/{id}/post`` ``{invoice_date}`` mints the number, gapless per
  subsidiary and series (``INV-<subsidiary>-000001``, credit notes ``CN-...``), dates the
  invoice and sets its ``due_date``; a date in a closed or locked period answers 409
  ``PERIOD_CLOSED`` and mints nothing. Posting a posted invoice answers it unchanged.
- ``GET /v1/customer-invoices`` lists in change order, one page at a time, filtered by
  ``subsidiary_id``, ``customer_id``, ``status``, ``credit_of`` and the ``invoice_date``
  range [``start``, ``end``]; ``external_id`` looks one up. ``GET .../{id}`` reads one.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from tandem_contracts import CurrencyCode, minor_unit
from tandem_sandbox._collections import Collection, create_record, load
from tandem_sandbox._erp_postings import check_period_open, round_money
from tandem_sandbox._http import Limit, SandboxError, decode_token, encode_token, parse
from tandem_sandbox._state import StateDep
from tandem_sandbox._store import Record, Tx

__all__ = ["CUSTOMER_INVOICES", "erp_customer_invoice_router"]

Id = Annotated[str, Field(min_length=1, max_length=100)]
_PAGE = """
SELECT * FROM sandbox.records
WHERE system = 'erp' AND collection = 'customer-invoices' AND seq > $1 AND data @> $2::jsonb
  AND (data->>'invoice_date' IS NULL OR (data->>'invoice_date')::date BETWEEN $3 AND $4)
ORDER BY seq LIMIT $5
"""
_SERIES = {"invoice": "INV", "credit_note": "CN"}


def _decimal_string(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(
            f"an exact decimal is a string such as '12.50', not {type(value).__name__}"
        )
    return value


Exact = Annotated[Decimal, BeforeValidator(_decimal_string), Field(max_digits=24, decimal_places=6)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineCreate(_Model):
    """One line of a customer invoice: what is billed, its untaxed amount and its tax."""

    description: str = Field(min_length=1, max_length=1000)
    quantity: Exact
    unit: str = Field(min_length=1, max_length=20)
    unit_price: Exact
    amount: Exact
    tax: Literal["standard", "reverse_charge", "exempt"]
    tax_rate_pct: Annotated[Exact, Field(ge=0, le=100)]
    reference: str = Field(min_length=1, max_length=200)
    project_id: Id | None = None


class CustomerInvoiceCreate(_Model):
    """A customer invoice (a credit note with ``credit_of``) to draft under ``external_id``."""

    external_id: Id
    subsidiary_id: Id
    customer_id: Id
    currency: CurrencyCode
    invoice_date: dt.date
    payment_terms_days: int = Field(default=30, ge=0, le=365)
    po_number: str | None = Field(default=None, max_length=100)
    customer_vat_id: str | None = Field(default=None, max_length=40)
    credit_of: Id | None = None
    lines: list[LineCreate] = Field(max_length=1000)


class PostRequest(_Model):
    """Post a drafted customer invoice on a date."""

    invoice_date: dt.date


def _refuse(detail: str) -> SandboxError:
    return SandboxError(422, "INVALID_INVOICE", detail)


async def _found(tx: Tx, collection: str, id_: str, what: str) -> Record:
    record = await tx.get(collection, id_)
    if record is None:
        raise SandboxError(404, "NOT_FOUND", f"{what}: no {collection} record {id_}")
    return record


async def _check_credit(tx: Tx, data: dict[str, Any], subtotal: Decimal) -> str:
    """The kind of the invoice (``invoice`` or ``credit_note``), once its credit is checked."""
    if data["credit_of"] is None:
        if subtotal < 0:
            raise _refuse(f"the lines come to {subtotal}: a credit note names credit_of")
        return "invoice"
    credited = await _found(tx, "customer-invoices", data["credit_of"], "credit_of")
    if credited.data["status"] != "posted":
        raise _refuse(f"invoice {credited.id} is {credited.data['status']}: credit a posted one")
    if credited.data["kind"] != "invoice":
        raise _refuse(f"{credited.id} is a credit note: credit the invoice itself")
    for field in ("subsidiary_id", "customer_id", "currency"):
        if credited.data[field] != data[field]:
            raise _refuse(f"invoice {credited.id} has another {field}: {credited.data[field]}")
    if any(Decimal(line["amount"]) >= 0 for line in data["lines"]):
        raise _refuse("every line of a credit note has a negative amount")
    return "credit_note"


async def _draft(tx: Tx, data: dict[str, Any]) -> None:
    """Check the request and tax its lines (``before_write``: drafts only, never a repeat)."""
    if not data["lines"]:
        raise _refuse("an invoice has at least one line")
    await _found(tx, "subsidiaries", data["subsidiary_id"], "subsidiary_id")
    customer = await _found(tx, "customers", data["customer_id"], "customer_id")
    if customer.data["subsidiary_id"] != data["subsidiary_id"]:
        raise SandboxError(
            404,
            "NOT_FOUND",
            f"customer_id: no customer {customer.id} in subsidiary {data['subsidiary_id']}",
        )
    currency = data["currency"]
    lines = [await _taxed(tx, index, line, currency) for index, line in enumerate(data["lines"])]
    subtotal = sum((Decimal(line["amount"]) for line in lines), Decimal(0))
    tax_total = sum((Decimal(line["tax_amount"]) for line in lines), Decimal(0))
    data["kind"] = await _check_credit(tx, {**data, "lines": lines}, subtotal)
    data.update(
        lines=lines,
        status="draft",
        number=None,
        due_date=None,
        subtotal=str(round_money(subtotal, currency)),
        tax_total=str(round_money(tax_total, currency)),
        total=str(round_money(subtotal + tax_total, currency)),
    )


async def _taxed(tx: Tx, index: int, line: dict[str, Any], currency: str) -> dict[str, Any]:
    """The line as kept: its amount to the minor unit and the tax the ERP computed on it."""
    amount, rate = Decimal(line["amount"]), Decimal(line["tax_rate_pct"])
    if round_money(amount, currency) != amount:
        raise _refuse(f"line {index}: {amount} is finer than the minor unit of {currency}")
    if line["tax"] != "standard" and rate != 0:
        raise _refuse(f"line {index}: a {line['tax']} line has no tax rate, not {rate}")
    if line["project_id"] is not None and await tx.get("projects", line["project_id"]) is None:
        raise _refuse(f"line {index}: no project {line['project_id']}")
    # Half-even, per line, as Tryton computes taxes: a tax of exactly half a cent goes to
    # the even cent (Money's half-up is for amounts, not for an ERP's tax).
    tax = (amount * rate / 100).quantize(
        Decimal(1).scaleb(-minor_unit(currency)), rounding=ROUND_HALF_EVEN
    )
    return {
        **line,
        "amount": str(round_money(amount, currency)),
        "tax_amount": str(tax),
        "total": str(round_money(amount + tax, currency)),
    }


CUSTOMER_INVOICES = Collection(
    "customer-invoices",
    "customer_invoice",
    "cinv",
    CustomerInvoiceCreate,
    None,
    ("subsidiary_id", "customer_id", "status", "credit_of"),
    "once",
    _draft,
)


async def _post(tx: Tx, invoice_id: str, on: dt.date) -> Record:
    invoice = await load(tx, CUSTOMER_INVOICES.path, invoice_id, lock=True)
    if invoice.data["status"] == "posted":
        return invoice
    subsidiary = invoice.data["subsidiary_id"]
    await check_period_open(tx, subsidiary, on.isoformat())
    series = _SERIES[invoice.data["kind"]]
    number = await tx.next_number(f"customer-invoice:{series}:{subsidiary}")
    due = on + dt.timedelta(days=int(invoice.data["payment_terms_days"]))
    data = {
        **invoice.data,
        "status": "posted",
        "number": f"{series}-{subsidiary}-{number:06d}",
        "invoice_date": on.isoformat(),
        "due_date": due.isoformat(),
    }
    invoice = await tx.update(invoice, data)
    await tx.emit("customer_invoice.posted", "customer_invoice", invoice.id, invoice.public())
    return invoice


async def _page(
    tx: Tx, where: dict[str, str], start: dt.date, end: dt.date, limit: int, token: str | None
) -> dict[str, Any]:
    after = int(decode_token(token).get("s", 0))
    rows = await tx.connection.fetch(_PAGE, after, json.dumps(where), start, end, limit + 1)
    records = [Record.from_row(row) for row in rows]
    more = len(records) > limit
    records = records[:limit]
    return {
        "items": [record.public() for record in records],
        "next_page_token": encode_token({"s": records[-1].seq}) if more else None,
    }


def erp_customer_invoice_router() -> APIRouter:
    """Return the routes of the ERP's customer invoices and credit notes."""
    path = CUSTOMER_INVOICES.path
    router = APIRouter(prefix=f"/v1/{path}", tags=[path])

    @router.post("", status_code=201, summary="Draft a customer invoice or credit note")
    async def draft(
        state: StateDep, response: Response, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Draft the invoice (201), or answer the one drafted under its external_id (200)."""
        data = parse(CustomerInvoiceCreate, body).model_dump(mode="json")
        try:
            async with state.store.tx("erp") as tx:
                record, created = await create_record(tx, CUSTOMER_INVOICES, dict(data))
        except asyncpg.UniqueViolationError:
            # Drafted under the same key by a concurrent request: answered as the repeat.
            async with state.store.tx("erp") as tx:
                record, created = await create_record(tx, CUSTOMER_INVOICES, dict(data))
        response.status_code = 201 if created else 200
        return record.public()

    @router.post("/{invoice_id}/post", summary="Post a customer invoice: mint its number")
    async def post(
        state: StateDep, invoice_id: str, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Post the draft on a date (a posted invoice is answered unchanged)."""
        request = parse(PostRequest, body)
        async with state.store.tx("erp") as tx:
            return (await _post(tx, invoice_id, request.invoice_date)).public()

    @router.get("", summary="List customer invoices and credit notes")
    async def list_invoices(
        state: StateDep,
        limit: Limit = 50,
        page_token: str | None = None,
        subsidiary_id: str | None = None,
        customer_id: str | None = None,
        status: str | None = None,
        credit_of: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        external_id: str | None = None,
    ) -> dict[str, Any]:
        """List in change order, dated in [start, end], filtered by the given fields; or
        look one up by ``external_id`` (a page of at most one)."""
        given = {
            "subsidiary_id": subsidiary_id,
            "customer_id": customer_id,
            "status": status,
            "credit_of": credit_of,
        }
        where = {field: value for field, value in given.items() if value is not None}
        async with state.store.tx("erp") as tx:
            if external_id is not None:
                found = await tx.by_external_id(path, external_id)
                matches = found is not None and all(
                    found.data.get(field) == value for field, value in where.items()
                )
                items = [found.public()] if found is not None and matches else []
                return {"items": items, "next_page_token": None}
            low, high = start or dt.date.min, end or dt.date.max
            return await _page(tx, where, low, high, limit, page_token)

    @router.get("/{invoice_id}", summary="Read a customer invoice or credit note")
    async def read(state: StateDep, invoice_id: str) -> dict[str, Any]:
        """Read one invoice."""
        async with state.store.tx("erp") as tx:
            return (await load(tx, path, invoice_id)).public()

    return router
