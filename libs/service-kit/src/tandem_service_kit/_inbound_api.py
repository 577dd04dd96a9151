"""Signed webhooks from systems of record, landed for ingestion: ``POST /v1/inbound/...``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from tandem_connectors.landing import Landing
from tandem_connectors.webhooks import WebhookRejected, accept_webhook, read_webhook_event
from tandem_service_kit._deps import PoolDep
from tandem_service_kit._service import Wiring

__all__ = ["Landed", "inbound_router"]

# A replayed delivery is a conflict the sender can stop retrying; anything else is its fault.
_STATUS = {"replayed": 409, "malformed": 400}


class Landed(BaseModel):
    """What became of a webhook delivery."""

    delivery_id: str
    landed: bool
    record_type: str | None


def inbound_router() -> APIRouter:
    """The route every service with inbound systems serves."""
    router = APIRouter(prefix="/v1/inbound", tags=["inbound"])

    @router.post("/{system}/{instance}", status_code=202)
    async def receive_webhook(
        system: str, instance: str, request: Request, pool: PoolDep
    ) -> Landed:
        """Accept a signed webhook of a system instance (HMAC over timestamp and body; an
        unsigned, stale or replayed delivery is refused) and land its record."""
        wiring: Wiring = request.app.state.wiring
        source = wiring.source(system, instance)
        if source is None:
            raise HTTPException(404, f"no {system} instance {instance!r} is configured")
        body = await request.body()
        async with pool.acquire() as db, db.transaction():
            try:
                delivery = await accept_webhook(
                    db, system=system, instance=instance,
                    secret=source.webhook_secret.get_secret_value().encode(), body=body,
                    headers=dict(request.headers),
                )  # fmt: skip
                event = read_webhook_event(body)
            except WebhookRejected as refused:
                status = _STATUS.get(refused.reason, 401)
                raise HTTPException(status, f"{refused.reason}: {refused}") from refused
            kind = (
                event.subject_type
                if event.subject_type in source.inbound.webhook_subjects
                else None
            )
            landed = kind is not None and await Landing(db).land(
                system, instance, event.subject_type, event.record, "webhook"
            )
        return Landed(delivery_id=delivery, landed=landed, record_type=kind)

    return router
