"""Tryton's change feed: records polled by ``write_date`` (or ``create_date`` if never written).

Tryton leaves ``write_date`` empty until a record is first written, and cannot order by a
coalesce, so a page is read in two keyset searches, one per timestamp column, and merged.
Tryton's timestamps are naive UTC; the feed's are aware. The record key is the zero-padded id,
so the keyset ``(changed_at, record_key)`` orders exactly like ``(changed_at, id)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tandem_connectors.polling import Change, Position
from tandem_connectors.tryton._client import TrytonClient
from tandem_connectors.tryton._mapping import record_key

__all__ = ["TrytonChangeSource"]


@dataclass
class TrytonChangeSource:
    """The records of ``model`` changed after a position, with ``fields`` as each change's data."""

    client: TrytonClient
    model: str
    fields: Sequence[str] = field(default_factory=lambda: ["id"])

    async def changes(
        self, after: Position | None, until: dt.datetime, limit: int
    ) -> Sequence[Change]:
        """Return up to ``limit`` changes after ``after`` and not after ``until``, in order."""
        created = await self._page("create_date", [["write_date", "=", None]], after, until, limit)
        written = await self._page("write_date", [], after, until, limit)
        return sorted(created + written, key=lambda change: change.position)[:limit]

    async def _page(
        self,
        column: str,
        domain: list[Any],
        after: Position | None,
        until: dt.datetime,
        limit: int,
    ) -> list[Change]:
        window: list[Any] = [*domain, [column, "!=", None], [column, "<=", _naive(until)]]
        if after is not None:
            at, last = _naive(after.changed_at), int(after.record_key)
            window.append(["OR", [column, ">", at], [[column, "=", at], ["id", ">", last]]])
        rows = await self.client.search_read(
            self.model,
            window,
            [*self.fields, column],
            limit=limit,
            order=[(column, "ASC"), ("id", "ASC")],
        )
        return [Change(_aware(row[column]), record_key(row["id"]), row) for row in rows]


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC)
