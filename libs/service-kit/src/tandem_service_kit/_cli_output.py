"""How the ``tandem`` CLI prints parked messages, replays and discards: text, or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from tandem_service_kit._cli_ops import DiscardOutcome, ParkedDetailRow, ParkedRow, ReplayOutcome

__all__ = [
    "DETAIL_FIELDS",
    "PARKED_FIELDS",
    "detail_json",
    "detail_text",
    "discard_json",
    "discard_text",
    "parked_json",
    "parked_table",
    "replay_json",
    "replay_text",
]

PARKED_FIELDS = (
    "id",
    "consumer",
    "event_id",
    "event_type",
    "routing_key",
    "reason",
    "detail",
    "exception_class",
    "attempts",
    "first_failure_at",
    "last_failure_at",
    "waiting_for",
    "status",
    "parked_at",
)
DETAIL_FIELDS = (*PARKED_FIELDS, "queue", "resolved_at", "body_size", "decode_error")
_TABLE_COLUMNS = ("id", "consumer", "event_type", "reason", "attempts", "last_failure_at", "status")
_DETAIL_WIDTH = 60


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def parked_json(rows: Sequence[ParkedRow]) -> str:
    """Return the rows as a JSON array of objects with every field."""
    return json.dumps(
        [{name: _jsonable(getattr(row, name)) for name in PARKED_FIELDS} for row in rows], indent=2
    )


def parked_table(rows: Sequence[ParkedRow]) -> str:
    """Return the rows as an aligned table, each followed by its (shortened) failure detail."""
    cells = [[_cell(getattr(row, name)) for name in _TABLE_COLUMNS] for row in rows]
    widths = [max(len(c) for c in column) for column in zip(_TABLE_COLUMNS, *cells, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(_TABLE_COLUMNS, widths, strict=True))]
    for row, line in zip(rows, cells, strict=True):
        lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        detail = " ".join(row.detail.split())
        if detail:
            short = detail if len(detail) <= _DETAIL_WIDTH else detail[: _DETAIL_WIDTH - 1] + "…"
            lines.append(f"    {short}")
    return "\n".join(lines)


def _action_json(action: str, action_id: object, count: int, ids: Sequence[object]) -> str:
    return json.dumps(
        {
            f"{action}_id": str(action_id),
            f"{action}ed": count,
            "message_ids": [str(i) for i in ids],
        },
        indent=2,
    )


def _action_text(action: str, action_id: object, count: int, ids: Sequence[object]) -> str:
    lines = [f"{action} {action_id}: {count} message(s) {action}ed"]
    lines.extend(f"  {message_id}" for message_id in ids)
    return "\n".join(lines)


def replay_json(result: ReplayOutcome) -> str:
    """Return the replay result as a JSON object."""
    return _action_json("replay", result.replay_id, result.replayed, result.message_ids)


def replay_text(result: ReplayOutcome) -> str:
    """Return a human summary of the replay and the ids of the messages it republished."""
    return _action_text("replay", result.replay_id, result.replayed, result.message_ids)


def detail_json(detail: ParkedDetailRow) -> str:
    """Return one parked message in full, headers and (redacted) envelope included, as JSON."""
    fields = {name: _jsonable(getattr(detail, name)) for name in DETAIL_FIELDS}
    return json.dumps({**fields, "headers": detail.headers, "envelope": detail.envelope}, indent=2)


def detail_text(detail: ParkedDetailRow) -> str:
    """Return one parked message as ``field: value`` lines, then its headers and envelope."""
    width = max(len(name) for name in DETAIL_FIELDS)
    lines = [f"{name.ljust(width)}  {_cell(getattr(detail, name))}" for name in DETAIL_FIELDS]
    lines.append("headers:")
    lines.append(json.dumps(detail.headers, indent=2, sort_keys=True))
    if detail.envelope is not None:
        lines.append("envelope:")
        lines.append(json.dumps(detail.envelope, indent=2))
    return "\n".join(lines)


def discard_json(result: DiscardOutcome) -> str:
    """Return the discard result as a JSON object."""
    return _action_json("discard", result.discard_id, result.discarded, result.message_ids)


def discard_text(result: DiscardOutcome) -> str:
    """Return a human summary of the discard and the ids of the messages it set aside."""
    return _action_text("discard", result.discard_id, result.discarded, result.message_ids)
