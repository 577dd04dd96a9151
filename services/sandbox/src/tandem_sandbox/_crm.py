"""The CRM (Salesforce-like): accounts and opportunities moving through sales stages.

A stage change emits ``opportunity.stage_changed``; the ERP project code may be written back
(``erp_project_code``) only onto a Closed Won opportunity. An account's ``tax_id`` (its VAT or
tax registration number) is kept as typed, unchecked, like a CRM text field: a wrong one is
fixed by a PATCH. ``vat_validated_at`` is when that number was confirmed in VIES (as the
Salesforce and HubSpot VIES apps record it on the account); it vouches for that number only,
so a PATCH that changes the number (compared compact: ``de 811.907.980`` is ``DE811907980``)
without a new date clears it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Body
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tandem_contracts import CountryCode, CurrencyCode
from tandem_sandbox._collections import Collection, collection_router, load, require
from tandem_sandbox._erp import compact_tax_id
from tandem_sandbox._http import SandboxError, parse
from tandem_sandbox._state import StateDep
from tandem_sandbox._store import Tx

__all__ = ["STAGES", "crm_routers"]

Stage = Literal[
    "Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"
]
STAGES: tuple[str, ...] = get_args(Stage)
_PROBABILITY = dict(zip(STAGES, (10, 20, 50, 75, 100, 0), strict=True))
Amount = Annotated[Decimal, Field(max_digits=18, decimal_places=2, ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountCreate(_Model):
    """An account (a customer relationship)."""

    name: str = Field(min_length=1, max_length=200)
    country: CountryCode
    currency: CurrencyCode
    billing_address: str | None = Field(default=None, max_length=1000)
    industry: str | None = Field(default=None, max_length=80)
    tax_id: str | None = Field(default=None, max_length=40)
    vat_validated_at: AwareDatetime | None = None
    """When ``tax_id`` was confirmed in VIES."""
    external_id: str | None = Field(default=None, min_length=1, max_length=100)


class AccountPatch(_Model):
    """The changeable fields of an account."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    billing_address: str | None = Field(default=None, max_length=1000)
    tax_id: str | None = Field(default=None, max_length=40)
    vat_validated_at: AwareDatetime | None = None
    erp_customer_id: str | None = Field(default=None, max_length=100)


class OpportunityLine(_Model):
    """A line of the deal: a role's hours at a rate."""

    role: str = Field(min_length=1, max_length=80)
    minutes: int = Field(ge=0)
    rate: Amount
    amount: Amount


class OpportunityCreate(_Model):
    """An opportunity on an account."""

    account_id: str
    name: str = Field(min_length=1, max_length=200)
    stage: Stage = "Prospecting"
    amount: Amount
    currency: CurrencyCode
    close_date: date
    probability: int | None = Field(default=None, ge=0, le=100)
    expected_start: date | None = None
    selling_entity: str | None = Field(default=None, max_length=100)
    delivery_units: list[str] = Field(default_factory=list, max_length=10)
    """The practice and region that will deliver the deal (a custom picklist, in org unit ids)."""
    owner: str | None = Field(default=None, max_length=100)
    lines: list[OpportunityLine] = Field(default_factory=list, max_length=200)
    external_id: str | None = Field(default=None, min_length=1, max_length=100)


class OpportunityPatch(_Model):
    """A change of stage, amount, dates, or the ERP project code written back."""

    stage: Stage | None = None
    amount: Amount | None = None
    close_date: date | None = None
    probability: int | None = Field(default=None, ge=0, le=100)
    erp_project_code: str | None = Field(default=None, min_length=1, max_length=60)


async def _check_opportunity(tx: Tx, data: dict[str, Any]) -> None:
    await require(tx, "accounts", data["account_id"], "account_id")
    if data.get("probability") is None:
        data["probability"] = _PROBABILITY[data["stage"]]


# Patched by _account_router, which knows the number before the change. An upsert replaces
# the account's fields, so one without vat_validated_at leaves it unset, as it does the others.
ACCOUNTS = Collection("accounts", "account", "acc", AccountCreate, None, ("name",), upsert="update")
OPPORTUNITIES = Collection(
    "opportunities",
    "opportunity",
    "opp",
    OpportunityCreate,
    filters=("account_id", "stage"),
    upsert="once",  # stage changes go through PATCH, which emits opportunity.stage_changed
    before_create=_check_opportunity,
)


def _tax_number(tax_id: str | None) -> str | None:
    return compact_tax_id(tax_id) if tax_id else None


def _patched_account(before: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The account after ``changes``: a new number without a new VIES date is unvalidated."""
    data = {**before, **changes}
    renumbered = _tax_number(data.get("tax_id")) != _tax_number(before.get("tax_id"))
    if renumbered and "vat_validated_at" not in changes:
        data["vat_validated_at"] = None
    return data


def _account_router() -> APIRouter:
    router = APIRouter(prefix="/v1/accounts", tags=["accounts"])

    @router.patch("/{account_id}", summary="Change an account")
    async def patch_account(
        state: StateDep, account_id: str, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Change the given fields; a changed tax id without a new VIES date loses the old."""
        changes = parse(AccountPatch, body).model_dump(mode="json", exclude_unset=True)
        async with state.store.tx("crm") as tx:
            record = await load(tx, "accounts", account_id, lock=True)
            record = await tx.update(record, _patched_account(record.data, changes))
            shown = record.public()
            await tx.emit("account.updated", "account", record.id, shown)
        return shown

    return router


def _opportunity_router() -> APIRouter:
    router = APIRouter(prefix="/v1/opportunities", tags=["opportunities"])

    @router.patch("/{opportunity_id}", summary="Change an opportunity")
    async def patch_opportunity(
        state: StateDep, opportunity_id: str, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Change stage, amount or dates, or write the ERP project code onto a won deal."""
        changes = parse(OpportunityPatch, body).model_dump(mode="json", exclude_unset=True)
        async with state.store.tx("crm") as tx:
            record = await load(tx, "opportunities", opportunity_id, lock=True)
            before = record.data["stage"]
            data = {**record.data, **changes}
            if "stage" in changes and "probability" not in changes:
                data["probability"] = _PROBABILITY[data["stage"]]
            if "erp_project_code" in changes and data["stage"] != "Closed Won":
                raise SandboxError(
                    409, "OPPORTUNITY_NOT_WON", f"stage is {data['stage']}, not Closed Won"
                )
            record = await tx.update(record, data)
            shown = record.public()
            if data["stage"] != before:
                change = {"from": before, "to": data["stage"], "opportunity": shown}
                await tx.emit("opportunity.stage_changed", "opportunity", record.id, change)
            await tx.emit("opportunity.updated", "opportunity", record.id, shown)
        return shown

    return router


def crm_routers() -> list[APIRouter]:
    """Return the CRM's resource routes (feed and webhooks are added by the app)."""
    return [
        _account_router(),
        collection_router("crm", ACCOUNTS),
        _opportunity_router(),
        collection_router("crm", OPPORTUNITIES),
    ]
