"""Signed PSA webhooks: verified, de-duplicated by delivery id, landed for ingestion."""

from __future__ import annotations

import json
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel

from tandem_connectors.webhooks import WebhookRejected, accept_webhook
from tandem_service_kit import PoolDep, ServiceSettings, get_settings
from time_expense.adapters.inbound import Inbound
from time_expense.settings import Settings

__all__ = ["router"]

router = APIRouter(prefix="/v1/inbound", tags=["inbound"])
_RECORD_TYPES = {"time_entry": "time_entry", "expense": "expense", "timesheet": "timesheet"}


class Landed(BaseModel):
    """What became of a webhook delivery."""

    delivery_id: str
    landed: bool
    record_type: str | None


def _settings(settings: Annotated[ServiceSettings, Depends(get_settings)]) -> Settings:
    return cast(Settings, settings)


@router.post("/psa/{instance}", status_code=202)
async def receive_psa_webhook(
    instance: str,
    request: Request,
    pool: PoolDep,
    settings: Annotated[Settings, Depends(_settings)],
) -> Landed:
    """Accept a signed PSA webhook (HMAC over the body; unsigned or replayed is refused)."""
    config = settings.psa_instances.get(instance)
    if config is None:
        raise HTTPException(404, f"no PSA instance {instance!r} is configured")
    body = await request.body()
    async with pool.acquire() as db, db.transaction():
        try:
            delivery = await accept_webhook(
                db,
                system="psa",
                instance=instance,
                secret=config.webhook_secret.get_secret_value().encode(),
                body=body,
                headers=dict(request.headers),
            )
        except WebhookRejected as refused:
            status = 409 if refused.reason == "replayed" else 401
            raise HTTPException(status, f"{refused.reason}: {refused}") from refused
        event = _event(body)
        kind = _RECORD_TYPES.get(str(event.get("subject", {}).get("type")))
        landed = False
        if kind is not None:
            landed = await Inbound(db).land(
                source=instance, via="webhook", record_type=kind, record=event["data"]
            )
    return Landed(delivery_id=delivery, landed=landed, record_type=kind)


def _event(body: bytes) -> dict[str, Any]:
    """The webhook's event, or a 400 saying what is wrong with it."""
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise HTTPException(400, f"the body is not JSON: {exc}") from exc
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise HTTPException(400, "the body must be an event object with a 'data' record")
    data = event["data"]
    if not isinstance(data.get("id"), str) or not isinstance(data.get("version"), int):
        raise HTTPException(400, "the event's record needs a string 'id' and an integer 'version'")
    return event
