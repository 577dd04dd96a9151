"""The ERP's invoices: a draft from a project's unbilled postings, then posting with a number.

The invoice number is minted at post, gapless per subsidiary (``INV-<n>``); posting on a date
in a closed period answers 409 ``PERIOD_CLOSED``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, ConfigDict, Field

from tandem_sandbox._collections import Collection, collection_router, load
from tandem_sandbox._erp_customer_invoices import erp_customer_invoice_router
from tandem_sandbox._erp_postings import check_period_open, round_money
from tandem_sandbox._http import SandboxError, parse
from tandem_sandbox._state import StateDep
from tandem_sandbox._store import Record, Tx, mint_id

__all__ = ["erp_invoice_routers"]

_UNBILLED = """
SELECT id FROM sandbox.records
WHERE system = 'erp' AND collection = $1 AND data->>'project_id' = $2
  AND (data->>'billable')::boolean AND data->>'invoice_id' IS NULL
ORDER BY data->>'date', id
FOR UPDATE
"""


class DraftRequest(BaseModel):
    """Draft the invoice of a project's billable postings not yet invoiced."""

    model_config = ConfigDict(extra="forbid")

    project_id: str = Field(min_length=1, max_length=100)
    external_id: str | None = Field(default=None, min_length=1, max_length=100)


class PostRequest(BaseModel):
    """Post a draft invoice on a date."""

    model_config = ConfigDict(extra="forbid")

    invoice_date: date


def _line(record: Record) -> dict[str, Any]:
    data = record.data
    if record.collection == "time-bills":
        hours = Decimal(data["minutes"]) / 60
        return {
            "source": "time_bill",
            "source_id": record.id,
            "description": data.get("memo") or "Time",
            "quantity": str(hours.quantize(Decimal("0.01"))),
            "rate": data["rate"],
            "amount": data["amount"],
        }
    amount = round_money(
        Decimal(data["amount"]) * Decimal(data["markup_multiplier"]), data["currency"]
    )
    return {
        "source": "expense_line",
        "source_id": record.id,
        "description": data["category"],
        "quantity": "1",
        "rate": str(amount),
        "amount": str(amount),
    }


async def _unbilled(tx: Tx, project_id: str) -> list[Record]:
    found: list[Record] = []
    for collection in ("time-bills", "expense-lines"):
        for row in await tx.connection.fetch(_UNBILLED, collection, project_id):
            found.append(await load(tx, collection, row["id"]))
    return found


INVOICES = Collection(
    "invoices", "invoice", "inv", DraftRequest, None, ("project_id", "status"), creatable=False
)


def _invoice_router() -> APIRouter:
    router = APIRouter(prefix="/v1/invoices", tags=["invoices"])

    @router.post("/drafts", status_code=201, summary="Draft a project's invoice")
    async def draft(
        state: StateDep, response: Response, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Draft the invoice of a project's unbilled billable time and expenses."""
        request = parse(DraftRequest, body)
        async with state.store.tx("erp") as tx:
            if request.external_id and (
                same := await tx.by_external_id("invoices", request.external_id)
            ):
                response.status_code = 200
                return same.public()
            project = await load(tx, "projects", request.project_id)
            sources = await _unbilled(tx, project.id)
            if not sources:
                raise SandboxError(
                    409, "NOTHING_TO_INVOICE", f"project {project.id} has nothing unbilled"
                )
            lines = [_line(source) for source in sources]
            total = sum((Decimal(line["amount"]) for line in lines), Decimal(0))
            data = {
                "project_id": project.id,
                "customer_id": project.data["customer_id"],
                "subsidiary_id": project.data["subsidiary_id"],
                "currency": project.data["currency"],
                "status": "draft",
                "number": None,
                "invoice_date": None,
                "lines": lines,
                "total": str(round_money(total, project.data["currency"])),
            }
            invoice = await tx.insert("invoices", mint_id("inv"), data, request.external_id)
            for source in sources:
                await tx.update(source, {**source.data, "invoice_id": invoice.id})
            await tx.emit("invoice.drafted", "invoice", invoice.id, invoice.public())
        return invoice.public()

    @router.post("/{invoice_id}/post", summary="Post a draft invoice")
    async def post(
        state: StateDep, invoice_id: str, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Post a draft invoice: mint its number; refused in a closed period."""
        request = parse(PostRequest, body)
        async with state.store.tx("erp") as tx:
            invoice = await load(tx, "invoices", invoice_id, lock=True)
            if invoice.data["status"] != "draft":
                raise SandboxError(
                    409, "INVALID_TRANSITION", f"invoice {invoice_id} is {invoice.data['status']}"
                )
            subsidiary = invoice.data["subsidiary_id"]
            await check_period_open(tx, subsidiary, request.invoice_date.isoformat())
            number = await tx.next_number(f"invoice:{subsidiary}")
            data = {
                **invoice.data,
                "status": "posted",
                "number": f"INV-{number:06d}",
                "invoice_date": request.invoice_date.isoformat(),
            }
            invoice = await tx.update(invoice, data)
            await tx.emit("invoice.posted", "invoice", invoice.id, invoice.public())
        return invoice.public()

    return router


def erp_invoice_routers() -> list[APIRouter]:
    """Return the ERP's invoice routes: a project's invoices, and customer invoices with the
    lines their request names (``_erp_customer_invoices``)."""
    return [_invoice_router(), collection_router("erp", INVOICES), erp_customer_invoice_router()]
