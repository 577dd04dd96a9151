"""The parking lot over HTTP: list, inspect, replay and discard a service's parked messages.

Reading needs ``parked:read``; replaying ``parked:replay``; discarding ``parked:discard``.
Every replay and discard is audited with the caller's subject and the ``why`` they give.
"""

from __future__ import annotations

import logging
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query

from tandem_contracts import UtcDatetime
from tandem_messaging import ReplaySelection, discard, get_parked, list_parked, replay
from tandem_service_kit._auth import Principal, require_scopes
from tandem_service_kit._deps import BrokerDep, PoolDep
from tandem_service_kit._parking_schemas import (
    ParkedActionCreate,
    ParkedActionRead,
    ParkedDetailRead,
    ParkedPage,
    ParkedRead,
    ParkedStatus,
)

__all__ = ["parking_router"]

logger = logging.getLogger(__name__)

Reader = Annotated[Principal, Depends(require_scopes("parked:read"))]
Replayer = Annotated[Principal, Depends(require_scopes("parked:replay"))]
Discarder = Annotated[Principal, Depends(require_scopes("parked:discard"))]
_Text = Annotated[str | None, Query(min_length=1, max_length=200)]


def _selection(body: ParkedActionCreate) -> ReplaySelection:
    return ReplaySelection(
        ids=tuple(body.ids), consumer=body.consumer, reason=body.reason, event_type=body.event_type
    )


async def list_parked_messages(
    pool: PoolDep,
    _: Reader,
    consumer: _Text = None,
    reason: _Text = None,
    event_type: _Text = None,
    waiting_for: _Text = None,
    parked_after: UtcDatetime | None = None,
    parked_before: UtcDatetime | None = None,
    status: ParkedStatus = "parked",
    after: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ParkedPage:
    """List parked messages, oldest first, one page at a time."""
    # One row beyond the page tells whether another page follows.
    rows = await list_parked(
        pool,
        consumer=consumer,
        reason=reason,
        event_type=event_type,
        waiting_for=waiting_for,
        parked_after=parked_after,
        parked_before=parked_before,
        status=status,
        after=after,
        limit=limit + 1,
    )
    items = [ParkedRead.model_validate(row) for row in rows[:limit]]
    return ParkedPage(items=items, next_after=items[-1].id if len(rows) > limit else None)


async def show_parked_message(id: UUID, pool: PoolDep, _: Reader) -> ParkedDetailRead:
    """Show one parked message with its headers and envelope, confidential fields redacted."""
    detail = await get_parked(pool, id)
    if detail is None:
        raise HTTPException(404, detail=f"no parked message {id}")
    return ParkedDetailRead.model_validate(detail)


async def replay_parked_messages(
    body: ParkedActionCreate, pool: PoolDep, broker: BrokerDep, principal: Replayer
) -> ParkedActionRead:
    """Send the selected parked messages back to their consumer, audited."""
    result = await replay(pool, broker, _selection(body), actor=principal.subject, why=body.why)
    logger.info(
        "%s replayed %d parked message(s): %s", principal.subject, result.replayed, body.why
    )
    return ParkedActionRead(
        action_id=result.replay_id, count=result.replayed, ids=list(result.message_ids)
    )


async def discard_parked_messages(
    body: ParkedActionCreate, pool: PoolDep, principal: Discarder
) -> ParkedActionRead:
    """Discard the selected parked messages for good, audited."""
    result = await discard(pool, _selection(body), actor=principal.subject, why=body.why)
    logger.info(
        "%s discarded %d parked message(s): %s", principal.subject, result.discarded, body.why
    )
    return ParkedActionRead(
        action_id=result.discard_id, count=result.discarded, ids=list(result.message_ids)
    )


def parking_router() -> APIRouter:
    """Return the ``/v1/parked`` routes; a service includes them in its app."""
    router = APIRouter(prefix="/v1/parked", tags=["parking"])
    router.add_api_route("", list_parked_messages, methods=["GET"])
    router.add_api_route("/replay", replay_parked_messages, methods=["POST"])
    router.add_api_route("/discard", discard_parked_messages, methods=["POST"])
    router.add_api_route(
        "/{id:uuid}",
        show_parked_message,
        methods=["GET"],
        responses={404: {"description": "unknown"}},
    )
    return router
