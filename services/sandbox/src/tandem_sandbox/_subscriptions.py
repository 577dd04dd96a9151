"""Webhook subscriptions of a system: register a URL and a shared secret, list, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, ConfigDict, Field

from tandem_sandbox._http import SandboxError, parse
from tandem_sandbox._state import StateDep
from tandem_sandbox._store import mint_id

__all__ = ["SubscriptionCreate", "subscriptions_router"]

_INSERT = """
INSERT INTO sandbox.subscriptions (id, system, url, secret, event_types)
VALUES ($1, $2, $3, $4, $5) RETURNING id, url, event_types, created_at
"""
_LIST = """
SELECT id, url, event_types, created_at FROM sandbox.subscriptions WHERE system = $1 ORDER BY id
"""
_DELETE = "DELETE FROM sandbox.subscriptions WHERE system = $1 AND id = $2"


class SubscriptionCreate(BaseModel):
    """A subscriber: where to POST, the signing secret, which event types (empty: all)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", max_length=2000)
    secret: str = Field(min_length=16, max_length=200)
    event_types: list[str] = Field(default_factory=list, max_length=100)


def _shown(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "event_types": list(row["event_types"]),
        "created_at": row["created_at"].isoformat(),
    }


def subscriptions_router(system: str) -> APIRouter:
    """Return the webhook subscription routes of ``system``."""
    router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

    @router.post("", status_code=201, summary="Subscribe to events")
    async def subscribe(state: StateDep, body: Annotated[Any, Body()]) -> dict[str, Any]:
        """Register a subscriber URL; deliveries are signed with its secret."""
        sub = parse(SubscriptionCreate, body)
        row = await state.store.pool.fetchrow(
            _INSERT, mint_id("whk"), system, sub.url, sub.secret, sub.event_types
        )
        return _shown(row)

    @router.get("", summary="List subscriptions")
    async def subscriptions(state: StateDep) -> dict[str, Any]:
        """List the system's subscribers (secrets are never shown)."""
        rows = await state.store.pool.fetch(_LIST, system)
        return {"items": [_shown(row) for row in rows], "next_page_token": None}

    @router.delete("/{subscription_id}", status_code=204, summary="Unsubscribe")
    async def unsubscribe(state: StateDep, subscription_id: str) -> Response:
        """Delete a subscription."""
        status = await state.store.pool.execute(_DELETE, system, subscription_id)
        if status.endswith(" 0"):
            raise SandboxError(404, "NOT_FOUND", f"no subscription {subscription_id}")
        return Response(status_code=204)

    return router
