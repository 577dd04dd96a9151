"""The change feed ``GET /v1/events?after=<cursor>``: at-least-once and unordered, like Kantata's.

The cursor is opaque: it holds the highest event sequence handed out and the events carried
over to the next page. A reordered event is held back from its page and carried into the next
one; a duplicated event is served on its page and carried into the next one again. Nothing is
lost as long as the reader follows ``next`` until ``more`` is false, whatever the faults.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tandem_sandbox._http import Limit, SandboxError, decode_token, encode_token
from tandem_sandbox._state import StateDep
from tandem_sandbox._store import Event

__all__ = ["feed_router"]

_MAX_CARRIED = 1000


def feed_router(system: str) -> APIRouter:
    """Return the change-feed route of ``system``."""
    router = APIRouter(prefix="/v1", tags=["events"])

    @router.get("/events", summary="Read the change feed")
    async def events(
        state: StateDep, limit: Limit = 100, after: str | None = None
    ) -> dict[str, Any]:
        """Read changes after the cursor: duplicates and disorder possible, loss never."""
        cursor = decode_token(after)
        high = int(cursor.get("h", 0))
        carried = [int(seq) for seq in cursor.get("c", [])]
        if len(carried) > _MAX_CARRIED:
            raise SandboxError(400, "INVALID_CURSOR", "the cursor carries too many events")
        async with state.store.tx(system) as tx:
            fresh = await tx.events_after(high, limit)
            late = await tx.events_at(carried) if carried else []
        dice, percent = state.faults.feed, state.faults.config
        page: list[Event] = list(late)
        held: list[int] = []
        for event in fresh:
            if dice.pct("feed_reorder", percent.feed_reorder_pct):
                state.faults.count("feed_reordered")
                held.append(event.seq)
            else:
                page.append(event)
        for event in list(page):
            if dice.pct("feed_duplicate", percent.feed_duplicate_pct):
                state.faults.count("feed_duplicated")
                held.append(event.seq)
        if percent.feed_reorder_pct:
            dice.random.shuffle(page)
        new_high = fresh[-1].seq if fresh else high
        more = len(fresh) == limit or bool(held)
        next_cursor = encode_token({"h": new_high, "c": held})
        return {"events": [e.public() for e in page], "next": next_cursor, "more": more}

    return router
