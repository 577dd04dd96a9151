"""The PSA's change orders (Kantata budget change orders): a project's new budget, and its
contract's new value and cap, from a date.

A change order is made ``draft`` and edited while it is; ``POST
/v1/change-orders/{id}/submit`` / ``approve`` / ``reject`` move it (``draft → submitted →
approved | rejected``; a rejected one may be submitted again, an approved one is final and no
longer edited). Its amounts are in its project's currency (a change order naming another is
refused: 400 ``CURRENCY_MISMATCH``). Every change is a new version, with webhooks and the
change feed like any PSA record (``change_order.*``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tandem_contracts import CurrencyCode
from tandem_sandbox._collections import Collection, collection_router, require
from tandem_sandbox._http import SandboxError
from tandem_sandbox._psa_workflow import workflow_router
from tandem_sandbox._store import Tx

__all__ = ["CHANGE_ORDERS", "change_order_routers"]

Amount = Annotated[Decimal, Field(max_digits=18, decimal_places=2, ge=0)]
Id = Annotated[str, Field(min_length=1, max_length=100)]
# Approval is final: an approved change order is not rejected afterwards (unlike time).
_TRANSITIONS = {
    "submitted": ("draft", "rejected"),
    "approved": ("submitted",),
    "rejected": ("submitted",),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChangeOrderCreate(_Model):
    """A budget / contract change order of a project (its currency by default)."""

    project_id: Id
    description: str | None = Field(default=None, max_length=500)
    budget_minutes: int | None = Field(default=None, ge=0)
    budget_amount: Amount | None = None
    total_value: Amount | None = None
    cap: Amount | None = None
    currency: CurrencyCode | None = None
    effective_from: date
    external_id: Id | None = None


class ChangeOrderPatch(_Model):
    """The changeable fields of a draft change order."""

    description: str | None = Field(default=None, max_length=500)
    budget_minutes: int | None = Field(default=None, ge=0)
    budget_amount: Amount | None = None
    total_value: Amount | None = None
    cap: Amount | None = None
    effective_from: date | None = None


async def _new_change_order(tx: Tx, data: dict[str, Any]) -> None:
    project = await require(tx, "projects", data["project_id"], "project_id")
    assert project is not None  # noqa: S101 - require answers the record of a given id
    currency = project.data["currency"]
    if data.get("currency") not in (None, currency):
        detail = f"the project's currency is {currency}, not {data['currency']}"
        raise SandboxError(400, "CURRENCY_MISMATCH", detail)
    data.update(currency=currency, status="draft", approvals=[])


async def _check_editable(tx: Tx, data: dict[str, Any]) -> None:
    if data.get("status", "draft") != "draft":
        raise SandboxError(409, "CHANGE_ORDER_LOCKED", f"a {data['status']} change order")


CHANGE_ORDERS = Collection(
    "change-orders",
    "change_order",
    "cho",
    ChangeOrderCreate,
    ChangeOrderPatch,
    ("project_id", "status"),
    "update",
    _new_change_order,
    _check_editable,
)


def change_order_routers() -> list[APIRouter]:
    """Return the change orders' routes: the collection, and submit / approve / reject."""
    return [
        workflow_router("change-orders", "change_order", entries=False, transitions=_TRANSITIONS),
        collection_router("psa", CHANGE_ORDERS),
    ]
