"""Records from systems of record: signed webhooks landed (``POST /v1/inbound/{system}/{instance}``)
and the records set aside, listed and replayed by operators (``.../set-aside``).

Listing set-aside records needs ``inbound:read``; replaying them ``inbound:write``. Each replay
is audited (``connectors.inbound_replay_audit``) with the caller's subject and the ``why`` given.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from tandem_connectors.landing import Landing
from tandem_connectors.set_aside import list_set_aside, replay_set_aside
from tandem_connectors.webhooks import WebhookRejected, accept_webhook, read_webhook_event
from tandem_service_kit._auth import Principal, require_scopes
from tandem_service_kit._deps import PoolDep
from tandem_service_kit._inbound_schemas import (
    JSON_SAFE_INT,
    Landed,
    SetAsidePage,
    SetAsideRead,
    SetAsideReplayCreate,
    SetAsideReplayRead,
)
from tandem_service_kit._problems import problem_response
from tandem_service_kit._service import InboundSource, Wiring

__all__ = ["Landed", "inbound_router"]

logger = logging.getLogger(__name__)

# Module level: the routes' annotations are strings (postponed), resolved in this namespace.
Reader = Annotated[Principal, Depends(require_scopes("inbound:read"))]
Replayer = Annotated[Principal, Depends(require_scopes("inbound:write"))]

# 401: the request is not proven to come from the system (any signature or delivery-id header
# problem); 409: a replayed delivery, which the sender can stop retrying; 400: a signed body
# that is not an event whose record can be landed. All are final: the sender must not retry
# the same request, and nothing of it was kept (not even its delivery id).
_STATUS = {"replayed": 409, "malformed": 400}
_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"description": "signed, but not an event whose record can be landed"},
    401: {"description": "unsigned, badly signed, stale, or a malformed delivery id"},
    404: {"description": "no such system instance is configured"},
    409: {"description": "the delivery id was accepted before"},
}


def _source(request: Request, system: str, instance: str) -> InboundSource:
    wiring: Wiring = request.app.state.wiring
    source = wiring.source(system, instance)
    if source is None:
        raise HTTPException(404, f"no {system} instance {instance!r} is configured")
    return source


async def receive_webhook(
    system: str, instance: str, request: Request, pool: PoolDep
) -> Landed | JSONResponse:
    """Accept a signed webhook of a system instance (HMAC over timestamp, delivery id and body;
    an unsigned, stale or replayed delivery is 401/409) and land its record (a body that is
    not a landable event is 400)."""
    source = _source(request, system, instance)
    body = await request.body()
    secret = source.webhook_secret.get_secret_value().encode()
    try:
        async with pool.acquire() as db, db.transaction():
            delivery = await accept_webhook(
                db, system=system, instance=instance, secret=secret, body=body,
                headers=dict(request.headers),
            )  # fmt: skip
            event = read_webhook_event(body)  # only once the signature proved the sender
            kind = (
                event.subject_type
                if event.subject_type in source.inbound.webhook_subjects
                else None
            )
            landed = kind is not None and await Landing(db).land(
                system, instance, kind, event.record, "webhook"
            )
    except WebhookRejected as refused:  # the transaction rolled back: nothing was kept
        status = _STATUS.get(refused.reason, 401)
        detail = f"{refused.reason}: {refused}"
        return problem_response(request, status, detail, reason=refused.reason)
    return Landed(delivery_id=delivery, landed=landed, record_type=kind)


async def list_set_aside_records(
    system: str,
    instance: str,
    request: Request,
    pool: PoolDep,
    _: Reader,
    after: Annotated[int, Query(ge=0, le=JSON_SAFE_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SetAsidePage:
    """List a source's set-aside records with why, oldest first, one page at a time."""
    _source(request, system, instance)
    async with pool.acquire() as db:
        # One row beyond the page tells whether another page follows.
        rows = await list_set_aside(db, system, instance, after=after, limit=limit + 1)
    items = [SetAsideRead.model_validate(row) for row in rows[:limit]]
    return SetAsidePage(items=items, next_after=items[-1].sequence if len(rows) > limit else None)


async def replay_set_aside_records(
    system: str,
    instance: str,
    body: SetAsideReplayCreate,
    request: Request,
    pool: PoolDep,
    principal: Replayer,
) -> SetAsideReplayRead:
    """Make the selected set-aside records pending again for ingestion, audited."""
    _source(request, system, instance)
    selected = None if body.all else body.ids
    async with pool.acquire() as db:
        done = await replay_set_aside(
            db, system, instance, selected, actor=principal.subject, why=body.why
        )
    logger.info(
        "%s replayed %d set-aside %s/%s record(s): %s",
        principal.subject, len(done.sequences), system, instance, body.why,
    )  # fmt: skip
    return SetAsideReplayRead(
        audit_id=done.audit_id, count=len(done.sequences), ids=list(done.sequences)
    )


def inbound_router() -> APIRouter:
    """The routes every service with inbound systems serves."""
    router = APIRouter(prefix="/v1/inbound/{system}/{instance}", tags=["inbound"])
    router.add_api_route(
        "", receive_webhook, methods=["POST"], status_code=202, response_model=Landed,
        responses=_REFUSED,
    )  # fmt: skip
    unknown: dict[int | str, dict[str, Any]] = {404: _REFUSED[404]}
    router.add_api_route("/set-aside", list_set_aside_records, methods=["GET"], responses=unknown)
    router.add_api_route(
        "/set-aside/replay", replay_set_aside_records, methods=["POST"], responses=unknown
    )
    return router
