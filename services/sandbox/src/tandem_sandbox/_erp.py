"""The HTTP ERP's master data (NetSuite-like): subsidiaries, customers, employees, items, projects.

Every record upserts by ``external_id`` (NetSuite externalId): the same key twice leaves one
record and answers the same id (201 the first time, 200 after). The ERP mints project codes.
A customer's ``vat_id`` is kept compact (upper case, without spaces, dots, dashes or
slashes), so a list filtered by the compact ``vat_id`` finds it however it was typed. Employees
(``_erp_employees``) merge their dated costs on upsert and end by a patch. A project
is cancelled only by its action (``_erp_projects``), which checks that nothing is booked on it.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tandem_contracts import CountryCode, CurrencyCode
from tandem_sandbox._collections import Collection, collection_router, require
from tandem_sandbox._erp_employees import EMPLOYEES, employee_router
from tandem_sandbox._store import Tx

__all__ = ["compact_tax_id", "erp_master_routers"]

Id = Annotated[str, Field(min_length=1, max_length=100)]
ExternalId = Annotated[str, Field(min_length=1, max_length=100)]
Rate = Annotated[Decimal, Field(max_digits=18, decimal_places=2, ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubsidiaryCreate(_Model):
    """A legal entity of the group, with its functional currency."""

    external_id: ExternalId
    name: str = Field(min_length=1, max_length=200)
    country: CountryCode
    currency: CurrencyCode


class CustomerCreate(_Model):
    """A customer of one subsidiary, with billing terms."""

    external_id: ExternalId
    name: str = Field(min_length=1, max_length=200)
    subsidiary_id: Id
    currency: CurrencyCode
    country: CountryCode
    terms_days: int = Field(default=30, ge=0, le=365)
    vat_id: str | None = Field(default=None, max_length=40)
    billing_address: str | None = Field(default=None, max_length=1000)


class ServiceItemCreate(_Model):
    """An hourly service item; a time bill needs one to be priced."""

    external_id: ExternalId
    name: str = Field(min_length=1, max_length=200)
    rate: Rate
    currency: CurrencyCode


ProjectStatus = Literal["pending", "in_progress", "closed", "cancelled"]
# Cancelling checks the project's postings: only its action may set it, never a create or patch.
SettableStatus = Literal["pending", "in_progress", "closed"]


class ProjectCreate(_Model):
    """A project (job) of a customer; the ERP mints its code."""

    external_id: ExternalId
    name: str = Field(min_length=1, max_length=200)
    customer_id: Id
    currency: CurrencyCode
    service_item_id: Id | None = None
    status: SettableStatus = "pending"
    allow_time: bool = True
    allow_expenses: bool = True
    start_date: date | None = None
    end_date: date | None = None


class ProjectPatch(_Model):
    """The changeable fields of a project."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    status: SettableStatus | None = None
    allow_time: bool | None = None
    allow_expenses: bool | None = None
    end_date: date | None = None


class TaskCreate(_Model):
    """A project task time is booked against."""

    external_id: ExternalId
    project_id: Id
    name: str = Field(min_length=1, max_length=200)
    planned_minutes: int | None = Field(default=None, ge=0)


_NOT_IN_TAX_ID = re.compile(r"[\s./-]+")


def compact_tax_id(tax_id: str) -> str:
    """A tax registration number as the ERP keeps and compares it: upper case, without
    spaces, dots, dashes or slashes (``"de 123.456.789"`` → ``"DE123456789"``)."""
    return _NOT_IN_TAX_ID.sub("", tax_id).upper()


async def _check_subsidiary(tx: Tx, data: dict[str, Any]) -> None:
    await require(tx, "subsidiaries", data["subsidiary_id"], "subsidiary_id")


async def _check_customer(tx: Tx, data: dict[str, Any]) -> None:
    await _check_subsidiary(tx, data)
    if data.get("vat_id"):
        data["vat_id"] = compact_tax_id(data["vat_id"])


async def _check_project(tx: Tx, data: dict[str, Any]) -> None:
    customer = await require(tx, "customers", data["customer_id"], "customer_id")
    await require(tx, "service-items", data.get("service_item_id"), "service_item_id")
    if customer is not None:
        data["subsidiary_id"] = customer.data["subsidiary_id"]


async def _mint_code(tx: Tx, data: dict[str, Any]) -> None:
    data["code"] = f"PRJ-{await tx.next_number('project_code'):05d}"


async def _check_task(tx: Tx, data: dict[str, Any]) -> None:
    await require(tx, "projects", data["project_id"], "project_id")


SUBSIDIARIES = Collection("subsidiaries", "subsidiary", "sub", SubsidiaryCreate, upsert="update")
CUSTOMERS = Collection(
    "customers",
    "customer",
    "cus",
    CustomerCreate,
    None,
    ("subsidiary_id", "vat_id"),
    "update",
    before_write=_check_customer,
)
SERVICE_ITEMS = Collection(
    "service-items", "service_item", "itm", ServiceItemCreate, upsert="update"
)
PROJECTS = Collection(
    "projects",
    "project",
    "job",
    ProjectCreate,
    ProjectPatch,
    ("customer_id", "status", "code"),
    "update",
    before_create=_mint_code,
    before_write=_check_project,
)
TASKS = Collection(
    "tasks", "task", "ptk", TaskCreate, None, ("project_id",), "update", before_write=_check_task
)


def erp_master_routers() -> list[APIRouter]:
    """Return the ERP's master-data routes."""
    specs = (SUBSIDIARIES, CUSTOMERS, EMPLOYEES, SERVICE_ITEMS, PROJECTS, TASKS)
    return [employee_router(), *(collection_router("erp", spec) for spec in specs)]
