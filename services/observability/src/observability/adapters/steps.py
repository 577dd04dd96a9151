"""Timeline steps in PostgreSQL: written a lane's batch at a time, read by correlation or key."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from observability.domain.steps import Step
from tandem_messaging import DbConnection

__all__ = ["insert_steps", "keyed_rows", "keys_of", "timeline_rows"]

_INSERT_STEPS = """
INSERT INTO observability.steps (
    event_id, event_type, service, system, occurred_at, outcome, reason, subject_type,
    subject_id, correlation_id, causation_id, region, legal_entity_id, trace_id, keys,
    system_ids, facts, folded)
SELECT * FROM unnest(
    $1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[],
    $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
    $15::jsonb[], $16::jsonb[], $17::jsonb[], $18::boolean[])
ON CONFLICT (event_id) DO NOTHING
RETURNING seq, event_id::text
"""

_INSERT_KEYS = """
INSERT INTO observability.step_keys (key_id, kind, seq, correlation_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])
ON CONFLICT DO NOTHING
"""


async def insert_steps(connection: DbConnection, steps: list[Step]) -> int:
    """Write ``steps`` and every key they name, in two statements; answer how many were new.

    A step already recorded (its event id) is skipped: a timeline never shows an event twice,
    even after the inbox has forgotten it.
    """
    columns: list[list[Any]] = [[] for _ in range(18)]
    for step in steps:
        row = (
            step.event_id,
            step.event_type,
            step.service,
            step.system,
            step.occurred_at,
            step.outcome.value,
            step.reason,
            step.subject_type,
            step.subject_id,
            step.correlation_id,
            step.causation_id,
            step.region,
            step.legal_entity_id,
            step.trace_id,
            json.dumps(dict(_grouped(step.keys))),
            json.dumps([asdict(ref) for ref in step.system_ids]),
            json.dumps(step.facts),
            not step.facts,  # nothing for the KPIs: born folded
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    inserted = await connection.fetch(_INSERT_STEPS, *columns)
    by_event = {step.event_id: step for step in steps}
    key_columns: list[list[Any]] = [[], [], [], []]
    for seq, event_id in inserted:
        step = by_event[event_id]
        named = [*step.keys, *(("system_id", ref.id) for ref in step.system_ids)]
        named.append(("event", step.event_id))
        for kind, key_id in dict.fromkeys(named):
            key_columns[0].append(key_id)
            key_columns[1].append(kind)
            key_columns[2].append(seq)
            key_columns[3].append(step.correlation_id)
    if key_columns[0]:
        await connection.execute(_INSERT_KEYS, *key_columns)
    return len(inserted)


def _grouped(keys: tuple[tuple[str, str], ...]) -> dict[str, str | list[str]]:
    """{kind: id} — or {kind: [ids]} for a kind the step names more than once."""
    grouped: dict[str, list[str]] = {}
    for kind, key_id in keys:
        grouped.setdefault(kind, []).append(key_id)
    return {kind: ids[0] if len(ids) == 1 else ids for kind, ids in grouped.items()}


_STEP_COLUMNS = """
    s.event_id::text, s.event_type, s.service, s.system, s.occurred_at, s.recorded_at, s.outcome,
    s.reason, s.subject_type, s.subject_id, s.correlation_id, s.causation_id, s.region,
    s.trace_id, s.keys, s.system_ids
"""


async def timeline_rows(
    connection: DbConnection, correlation_id: str, limit: int
) -> list[dict[str, Any]]:
    """The steps of one correlation id, oldest first (at most ``limit``)."""
    rows = await connection.fetch(
        f"SELECT {_STEP_COLUMNS} FROM observability.steps s"  # noqa: S608 - constant columns
        " WHERE s.correlation_id = $1 ORDER BY s.occurred_at, s.seq LIMIT $2",
        correlation_id,
        limit,
    )
    return [_decoded(row) for row in rows]


async def keyed_rows(
    connection: DbConnection, kind: str, key_id: str, limit: int
) -> list[dict[str, Any]]:
    """Every step naming business key ``kind``/``key_id``, oldest first."""
    rows = await connection.fetch(
        f"SELECT {_STEP_COLUMNS} FROM observability.step_keys k"  # noqa: S608
        " JOIN observability.steps s ON s.seq = k.seq"
        " WHERE k.key_id = $1 AND k.kind = $2 ORDER BY s.occurred_at, s.seq LIMIT $3",
        key_id,
        kind,
        limit,
    )
    return [_decoded(row) for row in rows]


async def keys_of(connection: DbConnection, query: str, limit: int) -> list[dict[str, Any]]:
    """What ``query`` names: business keys, system ids, event ids and correlation ids."""
    rows = await connection.fetch(
        """
        WITH named AS (
            SELECT k.kind, k.key_id, k.correlation_id, s.occurred_at
              FROM observability.step_keys k JOIN observability.steps s ON s.seq = k.seq
             WHERE k.key_id = $1
            UNION ALL
            SELECT 'correlation', s.correlation_id, s.correlation_id, s.occurred_at
              FROM observability.steps s WHERE s.correlation_id = $1
        )
        SELECT kind, key_id, array_agg(DISTINCT correlation_id) AS correlation_ids,
               count(*) AS steps, min(occurred_at) AS first_at, max(occurred_at) AS last_at
          FROM named GROUP BY kind, key_id ORDER BY kind LIMIT $2
        """,
        query,
        limit,
    )
    return [
        {
            "kind": row["kind"],
            "id": row["key_id"],
            "correlation_ids": sorted(row["correlation_ids"])[:50],
            "steps": row["steps"],
            "first_at": row["first_at"],
            "last_at": row["last_at"],
        }
        for row in rows
    ]


def _decoded(row: Any) -> dict[str, Any]:
    item = dict(row)
    item["keys"] = json.loads(item["keys"])
    item["system_ids"] = json.loads(item["system_ids"])
    return item
