"""An example service built only from Tandem's libraries: the measure of the service template.

When the CRM says a deal is lost (a signed webhook, landed and ingested in order per account),
``lost-deals`` announces ``OpportunityLost``; its consumer looks the deal's project shell up in
the ERP (a port), records the loss and announces ``ProjectClosedForTime`` for that shell (the
outbox); ``GET /v1/losses/{id}`` answers what it recorded; a scheduled job tallies the losses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, SecretStr

import tandem_connectors
import tandem_messaging
from tandem_connectors.inbound import Inbound, RecordRejected
from tandem_connectors.landing import Landed
from tandem_connectors.ports import AbstractErp, ErpObject
from tandem_contracts import Envelope, Producer
from tandem_contracts.events import OpportunityLost, ProjectClosedForTime
from tandem_messaging import DbConnection, HandlerContext, Outbox, Router
from tandem_service_kit import (
    Consume,
    InboundSource,
    Job,
    PoolDep,
    Principal,
    Resources,
    ServiceDefinition,
    ServiceSettings,
    Wiring,
    consumer_settings,
    require_scopes,
)

QUEUE = "lost-deals.losses"
CRM_INBOUND = Inbound(system="crm", feeds=(), webhook_subjects=frozenset({"opportunity"}))


class Settings(ServiceSettings):
    service_name: str = "lost-deals"
    crm_webhook_secret: SecretStr = SecretStr("")
    tally_interval_s: float = 3600.0


class DealsIngestion:
    """Lost deals among the CRM's opportunity versions, in order per account."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id

    def order_key(self, landed: Landed) -> str:
        return str(landed.record.get("account_id", ""))

    def acts_on(self, landed: Landed) -> bool:
        return landed.record.get("stage") == "Closed Lost"

    async def translate(self, landed: Landed) -> Sequence[Envelope[Any]]:
        record = landed.record
        if not self.acts_on(landed):
            return []
        if not isinstance(record.get("updated_at"), str):
            raise RecordRejected("the opportunity has no updated_at")
        lost = OpportunityLost(
            opportunity_id=landed.record_id, stage="Closed Lost", reason=record.get("reason"),
            lost_at=datetime.fromisoformat(record["updated_at"]),
        )  # fmt: skip
        return [Envelope.new(
            lost, producer=Producer(service="lost-deals"), tenant_id=self.tenant_id,
            legal_entity_id=str(record.get("selling_entity") or "le-us"),
            data_residency_region="us", correlation_id=landed.record_id,
            subject_version=landed.version,
        )]  # fmt: skip


handlers = Router(service="lost-deals")


@handlers.handles(OpportunityLost)
async def close_lost_shell(
    envelope: Envelope[OpportunityLost], ctx: HandlerContext[Any], erp: AbstractErp
) -> None:
    """Record the loss; close the deal's ERP project shell for time, if it has one."""
    lost = envelope.payload
    shell = await erp.find(ErpObject.PROJECT, lost.opportunity_id)
    await ctx.connection.execute(
        "INSERT INTO lost_deals.losses (opportunity_id, erp_project, reason) VALUES ($1, $2, $3)",
        lost.opportunity_id, shell.external_id if shell else None, lost.reason,
    )  # fmt: skip
    if shell is not None:
        closing = ProjectClosedForTime(
            project_id=lost.opportunity_id, closed_from=lost.lost_at.date(),
            reason="opportunity lost", closed_at=lost.lost_at,
        )  # fmt: skip
        await ctx.publish(closing, subject_version=envelope.subject_version)


class LossRead(BaseModel):
    opportunity_id: str
    erp_project: str | None
    reason: str | None


routes = APIRouter(prefix="/v1/losses", tags=["losses"])


@routes.get("/{opportunity_id}")
async def read_loss(
    opportunity_id: str,
    pool: PoolDep,
    caller: Annotated[Principal, Depends(require_scopes("losses:read"))],
) -> LossRead:
    """Read a recorded loss."""
    row = await pool.fetchrow(
        "SELECT opportunity_id, erp_project, reason FROM lost_deals.losses "
        "WHERE opportunity_id = $1",
        opportunity_id,
    )
    if row is None:
        raise HTTPException(404, f"no loss of {opportunity_id} is recorded")
    return LossRead.model_validate(dict(row))


def definition(erp: AbstractErp) -> ServiceDefinition[Settings]:
    """The service, its ERP port given (a real adapter in a deployment, a fake in the test)."""

    async def wire(resources: Resources[Settings]) -> Wiring:
        settings, pool = resources.settings, resources.pool

        async def tally() -> int:
            return int(await pool.fetchval(
                "INSERT INTO lost_deals.tally (losses) "
                "SELECT count(*) FROM lost_deals.losses RETURNING losses"
            ))  # fmt: skip

        def ingestion(_: DbConnection) -> DealsIngestion:
            return DealsIngestion(settings.tenant_id)

        source = InboundSource(
            CRM_INBOUND, "crm", ingestion, webhook_secret=settings.crm_webhook_secret
        )
        return Wiring(
            outbox=Outbox(),
            consume=Consume(QUEUE, handlers.bind(erp=erp), consumer_settings(settings)),
            sources=[source],
            jobs=[Job("tally-losses", settings.tally_interval_s, tally)],
        )

    return ServiceDefinition(
        name="lost-deals", settings=Settings, wire=wire, routers=(routes,),
        migrations=(tandem_messaging.MIGRATIONS, tandem_connectors.MIGRATIONS,
                    Path(__file__).parent / "migrations"),
        inbound=(CRM_INBOUND,),
    )  # fmt: skip
