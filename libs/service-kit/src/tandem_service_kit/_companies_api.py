"""``/v1/legal-entities/{id}/erp-company``: which ERP company a legal entity is, by hand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from tandem_connectors.directory import ErpDirectory
from tandem_connectors.ports import ErpObject
from tandem_connectors.xref import CrossReferences, XrefConflict
from tandem_contracts import SystemKind
from tandem_service_kit._auth import Principal, require_scopes
from tandem_service_kit._companies import release_company_waits
from tandem_service_kit._deps import BrokerDep, PoolDep
from tandem_service_kit._service import Wiring

__all__ = ["CompanyLink", "CompanyLinkCreate", "companies_router"]

Text = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00]*$")]
# Module level: the routes' annotations are strings (postponed), resolved in this namespace.
Reader = Annotated[Principal, Depends(require_scopes("links:read"))]
Writer = Annotated[Principal, Depends(require_scopes("links:write"))]


class CompanyLinkCreate(BaseModel):
    """Link a legal entity to its company in one ERP instance."""

    instance: Text
    company: Text
    """The company's id in that ERP (Tryton: the ``company.company`` id)."""
    why: str = Field(min_length=1, max_length=500, pattern=r"\S")


class CompanyLink(BaseModel):
    """A legal entity's company in one ERP instance, and what waited for it."""

    legal_entity_id: str
    instance: str
    company: str
    released: int = 0


def companies_router() -> APIRouter:
    """The routes of services that write to an ERP."""
    router = APIRouter(prefix="/v1/legal-entities", tags=["erp links"])

    @router.get("/{legal_entity_id}/erp-company")
    async def read_company_link(
        legal_entity_id: str, instance: str, request: Request, pool: PoolDep, caller: Reader
    ) -> CompanyLink:
        """Read which company of an ERP instance a legal entity is linked to."""
        _directory(request, instance)
        async with pool.acquire() as db:
            company = await CrossReferences(db).external_id(
                "legal_entity", legal_entity_id, system=SystemKind.ERP.value, instance=instance,
                object_type=ErpObject.COMPANY.value,
            )  # fmt: skip
        if company is None:
            raise HTTPException(404, f"{legal_entity_id} has no company linked in {instance}")
        return CompanyLink(legal_entity_id=legal_entity_id, instance=instance, company=company)

    @router.put("/{legal_entity_id}/erp-company")
    async def link_company(
        legal_entity_id: str,
        body: CompanyLinkCreate,
        request: Request,
        pool: PoolDep,
        broker: BrokerDep,
        caller: Writer,
    ) -> CompanyLink:
        """Link a legal entity to its ERP company (audited: who and why); release the work
        that waited for it."""
        wiring, erps = _directory(request, body.instance)
        async with pool.acquire() as db, db.transaction():
            try:
                await erps.link_company(
                    CrossReferences(db), body.instance, legal_entity_id, body.company,
                    actor=caller.subject, why=body.why,
                )  # fmt: skip
            except XrefConflict as conflict:
                raise HTTPException(409, str(conflict)) from conflict
        released = 0
        if wiring.consume is not None:
            released = await release_company_waits(
                pool, broker, wiring.consume.queue, body.instance, legal_entity_id
            )
        return CompanyLink(
            legal_entity_id=legal_entity_id, instance=body.instance, company=body.company,
            released=released,
        )  # fmt: skip

    return router


def _directory(request: Request, instance: str) -> tuple[Wiring, ErpDirectory]:
    wiring: Wiring = request.app.state.wiring
    erps = wiring.erp_directory
    if erps is None or instance not in erps.adapters:
        raise HTTPException(404, f"no ERP instance {instance!r} is configured")
    return wiring, erps
