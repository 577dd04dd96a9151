"""A REST collection's changes as a ``polling.ChangeSource`` (keyset: updated_at, id)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tandem_connectors.http import HttpTarget
from tandem_connectors.polling import Change, Position

__all__ = ["RecordChanges", "pages"]

_PAGE = 200
# The list filter is strict (updated_at > x); step back a little and keyset-filter here, so
# records sharing the watermark's timestamp are not skipped.
_OVERLAP = timedelta(microseconds=1)


async def pages(
    target: HttpTarget, path: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every record of a collection (all pages), in the system's change order."""
    items: list[dict[str, Any]] = []
    query = {**(params or {}), "limit": _PAGE}
    while True:
        body = (await target.request("GET", path, params=query)).json()
        items += body["items"]
        if not body.get("next_page_token"):
            return items
        query["page_token"] = body["next_page_token"]


class RecordChanges:
    """Changed records of one collection, read with ``updated_after``."""

    def __init__(self, target: HttpTarget, path: str) -> None:
        self._target = target
        self._path = path

    async def changes(
        self, after: Position | None, until: datetime, limit: int
    ) -> Sequence[Change]:
        """Up to ``limit`` changes after ``after`` and not after ``until``, in keyset order."""
        params: dict[str, Any] = {"limit": min(limit, _PAGE)}
        if after is not None:
            params["updated_after"] = (after.changed_at - _OVERLAP).isoformat()
        found: list[Change] = []
        while True:
            body = (await self._target.request("GET", self._path, params=params)).json()
            for item in body["items"]:
                change = Change(datetime.fromisoformat(item["updated_at"]), item["id"], item)
                if (after is None or change.position > after) and change.changed_at <= until:
                    found.append(change)
            if len(found) >= limit or not body.get("next_page_token"):
                break
            params["page_token"] = body["next_page_token"]
        return sorted(found, key=lambda c: c.position)[:limit]
